"""Run directories: ``runs/<name>/`` with the config and the environment that produced it."""

from __future__ import annotations

import dataclasses
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import RunError
from .io import atomic_write_json

TRACKED_PACKAGES = (
    "qsdaqec",
    "torch",
    "torchvision",
    "qiskit",
    "qiskit-machine-learning",
    "qiskit-aer",
    "qiskit-ibm-runtime",
    "numpy",
    "scikit-learn",
)


def environment(seed: int | None = None) -> dict[str, Any]:
    """What a reader needs to reproduce a run: interpreter, platform, package versions, seed."""
    versions: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "seed": seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _as_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return config
    raise TypeError(f"config must be a dataclass or dict, got {type(config).__name__}")


def create_run_dir(
    path: str | Path, config: Any, seed: int | None = None, *, exist_ok: bool = False
) -> Path:
    """Create ``path`` and write ``config.json`` and ``environment.json`` atomically.

    ``exist_ok=False`` protects a finished run from being overwritten by accident.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not exist_ok:
        raise RunError(
            f"{path}: run directory already exists and is not empty; "
            "choose another --out, or pass --resume to continue it"
        )
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path / "config.json", _as_dict(config))
    atomic_write_json(path / "environment.json", environment(seed))
    return path
