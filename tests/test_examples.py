"""Every ``qsdaqec`` example in every --help and in README/docs code blocks is a command that
exists with options that exist; the cheap ones run for real. The README tour runs verbatim, from
an empty folder, in ``test_readme_tour_runs_verbatim``, and every --help example runs verbatim
after it, in order, in ``test_help_examples_run_after_the_tour`` (integration: both take many
minutes).

Cheap = :data:`RUN_FOR_REAL` (listing, dry runs, circuits). The rest train or simulate for
minutes; docs/README.md says so, and the tour test covers the main ones end to end. The few
--help examples no test machine can run are :data:`NOT_RUN`, each with the reason.
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
    """Every command and group, the top-level group first."""
    yield path, group
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
    """(where, example) of every --help, groups and epilogs included, in the order --help of
    each command shows them."""
    found = []
    for path, cmd in _commands(cli):
        for doc in (cmd.help or "", cmd.epilog or ""):
            if "Examples" in doc:
                for line in _joined(doc.split("Examples", 1)[1].splitlines()):
                    if line.strip().startswith("qsdaqec "):
                        where = f"qsdaqec {' '.join(path)} --help".replace("  ", " ")
                        found.append((where, " ".join(line.split())))
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


def _args(example: str, record: str = "20260101T120000Z") -> list[str]:
    """The example's arguments: comments, ``; done`` and placeholders (``...``, ``<id>``: the
    job record ``record``, ``$v``) made concrete."""
    text = re.split(r"\s#\s|;\s*done", example)[0]
    text = text.replace("...", "").replace("<id>", record).replace('"$v"', "x")
    return shlex.split(text)[1:]


@pytest.mark.parametrize("where,example", EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_example_names_a_command_and_options_that_exist(where, example):
    # --help at the end: click parses every option (an unknown one fails, exit 2) and then
    # prints the help instead of running the command
    r = CliRunner().invoke(cli, [*_args(example), "--help"])
    assert r.exit_code == 0, f"{where}: {example}\n{r.output}"
    assert "Usage:" in r.output


def test_examples_are_found():
    assert len(help_examples()) >= 60 and len(doc_examples()) >= 50
    assert any("noise-report" in e and "--backends" in e for _, e in EXAMPLES)  # joined lines
    assert any(w == "qsdaqec augment --help" for w, _ in help_examples())  # an epilog
    assert any(w == "qsdaqec --help" for w, _ in help_examples())  # a group


#: --help examples that no test machine can run, and why; the others run after the tour.
NOT_RUN = {
    "qsdaqec fit --backend aer_noisy": "the main job, about 10 minutes (the README's set-up)",
    "qsdaqec fit --preset paper --device cuda --out runs/paper": "needs a CUDA GPU",
    "qsdaqec jobs submit --run runs/tour --backend ibm:ibm_fez --limit 32 --dry-run": "an IBM "
    "Quantum account (the device's calibration comes from the service)",
    "qsdaqec jobs submit --run runs/tour --backend ibm:ibm_fez --shots 4096 --mitigation "
    "readout": "an IBM Quantum account, and QPU time",
    "qsdaqec run paper:head_ablation --seeds 0,1,2": "a paper experiment: hours of fits",
    'qsdaqec run paper:ablation_diffusion --only "T=5, beta_end=0.02"': "a paper experiment",
    "qsdaqec run paper:baselines --profile full --out runs/experiments/baselines-full": "a "
    "paper experiment at the paper's full settings: a day on a CPU",
    "qsdaqec run paper:baselines --wait # the same command on a second machine": "a paper "
    "experiment, on two machines",
    "qsdaqec run paper:baselines --executor ray --ray-address head-node:6379": "a Ray cluster",
    "qsdaqec run paper:baselines --profile full --executor slurm --partition gpu "
    "--gpus-per-task 1 --device cuda --time-limit 120": "a Slurm cluster with GPUs",
}
NOT_RUN_PREFIX = {  # the public data sets: a user's download
    "qsdaqec data import ": "the public data set, downloaded and unzipped",
    "qsdaqec data info data/cadica": "the CADICA import above",
}


def _not_run(example: str) -> str | None:
    why = NOT_RUN.get(example)
    return why or next((w for p, w in NOT_RUN_PREFIX.items() if example.startswith(p)), None)


def test_not_run_names_only_examples_that_exist():
    shown = {e for _, e in help_examples()}
    assert set(NOT_RUN) <= shown, set(NOT_RUN) - shown
    assert len([e for e in shown if _not_run(e)]) <= 16  # the rest run after the tour


#: What the README's tour leaves in its folder: every --help example reads only these, what an
#: earlier example made, or (NOT_RUN) a user's own download.
TOUR_MAKES = ("data/angio", "data/aug", "runs/tour", "predictions.csv", "reports/noise")
OUTPUTS = ("--out", "--png", "--explain")


def _path_like(arg: str) -> bool:
    return "/" in arg or bool(re.search(r"\.(png|json|csv|npz|html|dcm)$", arg))


def test_help_examples_read_only_what_the_tour_or_an_earlier_example_makes():
    """The issue: examples used runs/default, which the tour never makes, and
    stenosis_0007.png, which no command writes."""
    made = list(TOUR_MAKES)
    for where, example in help_examples():
        args = _args(example)
        outs = {args[i + 1] for i, a in enumerate(args[:-1]) if a in OUTPUTS}
        if _not_run(example) is None:
            for i, a in enumerate(args):
                if a in outs or not _path_like(a) or (i and args[i - 1] in OUTPUTS):
                    continue
                assert any(a == m or a.startswith(m.rstrip("/") + "/") for m in made), (
                    f"{where}: {example}: {a} is made by neither the tour nor an earlier example"
                )
        made += sorted(outs)


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


def _shell(line: str, cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    """``line`` as a user's shell runs it, with this Python's ``qsdaqec`` first on the PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        line,
        shell=True,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PATH": path},
    )


@pytest.mark.integration
def test_readme_tour_runs_verbatim(tmp_path):
    """The README tour, line by line, in an empty folder, as a user's shell runs it."""
    for line in _tour():
        r = _shell(line, tmp_path)
        assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert (tmp_path / "predictions.csv").is_file()
    assert (tmp_path / "reports" / "noise" / "report.html").is_file()


#: The tour's fit, made quick for the examples' test: the examples need its files, not its
#: accuracy (options given twice: the last one counts).
QUICK_FIT = " --epochs 2 --image-size 64"


@pytest.mark.integration
def test_help_examples_run_after_the_tour(tmp_path, monkeypatch):
    """Every --help example but :data:`NOT_RUN`, verbatim and in order, in the folder a quick
    tour made (``<id>``: the job record the examples' submit wrote)."""
    monkeypatch.setenv("QSDAQEC_CACHE", str(tmp_path / "cache"))  # the built-in data: here
    for line in _tour():
        line = line.split("  #")[0].strip()
        line += QUICK_FIT if line.split()[1] == "fit" else ""
        r = _shell(line, tmp_path)
        assert r.returncode == 0, f"{line}\n{r.stderr[-2000:]}"
    for where, example in help_examples():
        if _not_run(example):
            continue
        records = sorted((tmp_path / "runs" / "tour" / "jobs").glob("*.json"))
        command = shlex.join(["qsdaqec", *_args(example, records[-1].stem if records else "")])
        r = _shell(command, tmp_path, timeout=900)
        assert r.returncode == 0, f"{where}: {command}\n{r.stderr[-2000:]}"
