"""The paper's experiment specs, installed with the package: ``paper:<name>`` names one.

``qsdaqec run paper:head_ablation`` works from any folder; ``qsdaqec run --list`` shows them.
A spec file of your own is given by its path, as before.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

SPECS_DIR = Path(__file__).parent / "specs"
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
