"""Every ``qsdaqec`` example in every --help and in README/docs code blocks is a command that
exists with options that exist; the cheap ones run for real. The README tour runs verbatim, from
an empty folder, in ``test_readme_tour_runs_verbatim`` (integration: several minutes).

Cheap = :data:`RUN_FOR_REAL` (listing, dry runs, circuits). The rest train or simulate for
minutes; docs/README.md says so, and the tour test covers the main ones end to end.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qsdaqec.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands(group: click.Group, path=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def _joined(lines):
    """Lines with ``\\`` continuations joined."""
    out, buf = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    return out


def help_examples() -> list[tuple[str, str]]:
    found = []
    for path, cmd in _commands(cli):
        doc = cmd.help or ""
        if "Examples:" in doc:
            for line in _joined(doc.split("Examples:")[1].splitlines()):
                if line.strip().startswith("qsdaqec "):
                    found.append((f"qsdaqec {' '.join(path)} --help", line.strip()))
    return found


def doc_examples() -> list[tuple[str, str]]:
    found = []
    for f in DOCS:
        block = False
        for line in _joined(f.read_text(encoding="utf-8").splitlines()):
            if line.startswith("```"):
                block = not block
            elif block:
                # a command at the start of a line or after `; do` (shell loops)
                m = re.search(r"(?:^|;\s*do\s+|&&\s*)(qsdaqec\s.*)", line.strip())
                if m:
                    found.append((f.name, m.group(1)))
    return found


EXAMPLES = help_examples() + doc_examples()


def _args(example: str) -> list[str]:
    """The example's arguments: comments, ``; done`` and placeholders (``...``, ``<id>``,
    ``$v``) made concrete."""
    text = re.split(r"\s#\s|;\s*done", example)[0]
    text = text.replace("...", "").replace("<id>", "20260101T120000Z").replace('"$v"', "x")
    return shlex.split(text)[1:]


@pytest.mark.parametrize("where,example", EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_example_names_a_command_and_options_that_exist(where, example):
    # --help at the end: click parses every option (an unknown one fails, exit 2) and then
    # prints the help instead of running the command
    r = CliRunner().invoke(cli, [*_args(example), "--help"])
    assert r.exit_code == 0, f"{where}: {example}\n{r.output}"
    assert "Usage:" in r.output


def test_examples_are_found():
    assert len(help_examples()) >= 30 and len(doc_examples()) >= 50
    assert any("noise-report" in e and "--backends" in e for _, e in EXAMPLES)  # joined lines


RUN_FOR_REAL = re.compile(r"^qsdaqec (run --list|run \S+ .*--dry-run|circuits show)")


@pytest.mark.parametrize(
    "example",
    sorted({e for _, e in EXAMPLES if RUN_FOR_REAL.match(e)}),
)
def test_cheap_examples_run(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, _args(example))
    assert r.exit_code == 0, f"{example}\n{r.output}"


def _tour() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## A tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_tour_uses_only_what_it_makes():
    tour = _tour()
    assert tour[0].startswith("qsdaqec data synth --out data/angio")
    assert not any("scans/" in line or "jobs/" in line.split("#")[0] for line in tour)


@pytest.mark.integration
def test_readme_tour_runs_verbatim(tmp_path):
    """The README tour, line by line, in an empty folder, as a user's shell runs it."""
    for line in _tour():
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        r = subprocess.run(
            line,
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "PATH": path},
        )
        assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert (tmp_path / "predictions.csv").is_file()
    assert (tmp_path / "reports" / "noise" / "report.html").is_file()
