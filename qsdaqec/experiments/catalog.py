"""The shipped experiment specs: ``paper:<name>`` names one.

They live in one place, the repository's top-level ``jobs/`` folder. A wheel carries a copy
made at build time (``_build_jobs.py``: ``qsdaqec/experiments/specs/``); an editable install or
a source checkout reads ``jobs/`` itself. ``qsdaqec run paper:head_ablation`` works from any
folder; ``qsdaqec run --list`` shows them. A spec file of your own is given by its path.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

PACKAGED_DIR = Path(__file__).parent / "specs"
"""Where a wheel holds the specs (copied from ``jobs/`` when it was built)."""
SOURCE_DIR = Path(__file__).resolve().parents[2] / "jobs"
"""The specs themselves, in a source checkout (an editable install)."""
SPECS_DIR = PACKAGED_DIR if PACKAGED_DIR.is_dir() else SOURCE_DIR
PREFIX = "paper:"


def paper_spec_names() -> list[str]:
    """The packaged specs, by name (``paper:<name>`` runs one)."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.toml"))


def spec_path(ref: str | Path) -> Path:
    """The file of ``ref``: ``paper:<name>`` is a packaged spec, anything else a path."""
    text = str(ref)
    if not text.startswith(PREFIX):
        return Path(ref)
    name = text[len(PREFIX) :]
    path = SPECS_DIR / f"{name}.toml"
    if not path.is_file():
        choices = ", ".join(PREFIX + n for n in paper_spec_names())
        raise ConfigError(f"{text}: no such paper spec; choose one of {choices}")
    return path
