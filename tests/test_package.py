"""The package's conventions: one version (pyproject reads it from qsdaqec.__version__), the
type marker shipped, and one intended-use statement that the README and the docs state."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

import qsdaqec

ROOT = Path(__file__).resolve().parents[1]


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_version_is_written_once():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r'^version = "', pyproject, re.M)  # no literal version
    assert 'version = { attr = "qsdaqec.__version__" }' in pyproject
    from qsdaqec.cli import cli

    out = CliRunner().invoke(cli, ["--version"]).output
    assert out.strip() == f"qsdaqec, version {qsdaqec.__version__}"


def test_py_typed_is_package_data():
    assert (ROOT / "qsdaqec" / "py.typed").is_file()
    assert 'qsdaqec = ["py.typed"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_the_intended_use_is_stated_where_users_read():
    statement = qsdaqec.INTENDED_USE
    assert "not a medical device" in statement and "clinical diagnosis" in statement
    for doc in ("README.md", "docs/training.md"):
        assert statement in _words((ROOT / doc).read_text(encoding="utf-8")), doc
