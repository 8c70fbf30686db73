"""ruff, as CI runs it: the README's test command runs this suite, so lint and formatting are
checked wherever the tests are (ruff comes with the test extra, pinned to one minor version:
its rules and style change between minor versions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("ruff", reason="ruff comes with the test extra: pip install -e '.[test]'")


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "fix"),
    [(("check",), "ruff check --fix ."), (("format", "--check"), "ruff format .")],
    ids=["check", "format"],
)
def test_the_repository_passes_ruff(args, fix):
    done = _ruff(*args)
    assert done.returncode == 0, (
        f"`ruff {' '.join(args)} .` failed (fix with `{fix}`, line length 100):\n"
        + done.stdout
        + done.stderr
    )
