"""Run directories: ``runs/<name>/``, made by ``fit``. :class:`RunDir` owns a run folder's file
names, its state (:attr:`RunDir.finished`, defined here once) and its ``run.json`` record
(:class:`RunInfo`, versioned by :data:`RUN_SCHEMA`); :func:`create_run_dir` starts one with the
config and the environment that produced it.

Torch-free and in the base layer, so that every layer that reads a run folder (``models`` for a
previous run's weights, ``train``, ``experiments``, ``reports``, ``cli``) asks it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import RunError
from .io import atomic_write_json, read_json

RUN_SCHEMA = 1
"""The version of ``run.json`` this qsdaqec writes (its ``"schema"`` key). A ``run.json``
without the key was written before versions (0) and reads the same; a newer one is refused with
one line, since its fields may mean something this version does not know."""


@dataclass(frozen=True)
class RunInfo:
    """``run.json``, read: the fields every reader needs, typed; the rest in ``raw``."""

    schema: int
    status: str
    """``running`` while ``fit`` works, ``finished`` once ``model.pt`` is written."""
    classes: list[str]
    """Class names, index = label (empty before the fit read its data)."""
    positive: int
    """Index of the diagnosis class (e.g. ``stenosis``)."""
    source: str | None
    """Where the data came from, as the fit logged it."""
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str | os.PathLike = "run.json") -> RunInfo:
        """``RunError`` for a ``run.json`` of a newer schema than :data:`RUN_SCHEMA`, or one
        that is not a JSON object."""
        if not isinstance(raw, dict):
            raise RunError(f"{where}: not a run record (a JSON object is expected)")
        schema = raw.get("schema", 0)
        if not isinstance(schema, int) or isinstance(schema, bool) or schema > RUN_SCHEMA:
            raise RunError(
                f"{where}: schema {schema!r} is newer than this qsdaqec reads (up to "
                f"{RUN_SCHEMA}); upgrade qsdaqec to read this run"
            )
        data = raw.get("data") or {}
        return cls(
            schema=schema,
            status=str(raw.get("status", "")),
            classes=list(data.get("classes", [])),
            positive=int(data.get("positive", 1)),
            source=data.get("source"),
            raw=raw,
        )


class RunDir:
    """One run folder: its files' names and paths, its state and its ``run.json``.

    A run is **finished** when its ``run.json`` says ``"status": "finished"`` and ``model.pt``
    is there: ``fit`` writes ``metrics.json``, then ``model.pt``, then the status, so a fit
    stopped at any point before its end is not finished (it is ``interrupted``: continue it with
    ``fit --resume``). A ``RunDir`` is ``os.PathLike``: ``open``, ``Path()`` and ``/`` take it.
    """

    CONFIG = "config.json"
    ENVIRONMENT = "environment.json"
    INFO = "run.json"
    SPLIT = "split.json"
    HISTORY_JSON = "history.json"
    HISTORY_CSV = "history.csv"
    CHECKPOINT = "checkpoint.pt"
    """The last epoch, for ``--resume``; removed when the run finishes."""
    STAGE1_BEST = "stage1_best.pt"
    STAGE2_BEST = "stage2_best.pt"
    STAGE2_START = "stage2_start.pt"
    """The stage-1 head on the backend, output layer refit: stage 2's starting point."""
    FEATURES = "features.pt"
    """The backbone's 256-d features of every split (a two-stage fit caches them)."""
    MODEL = "model.pt"
    METRICS = "metrics.json"
    PREDICTIONS = "predictions_test.csv"
    CURVES = "curves.png"
    EVAL = "eval"
    """``evaluate``'s outputs, one folder per backend."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str | os.PathLike) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def environment(self) -> Path:
        return self.path / self.ENVIRONMENT

    @property
    def info(self) -> Path:
        return self.path / self.INFO

    @property
    def split(self) -> Path:
        return self.path / self.SPLIT

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def features(self) -> Path:
        return self.path / self.FEATURES

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def predictions(self) -> Path:
        return self.path / self.PREDICTIONS

    def is_run(self) -> bool:
        """A run folder: ``fit`` wrote its ``config.json`` (finished or not)."""
        return self.config.is_file()

    @property
    def finished(self) -> bool:
        """See the class docstring; a missing or damaged ``run.json`` is not finished, a
        ``run.json`` of a newer schema is a ``RunError``."""
        if not (self.model.is_file() and self.info.is_file()):
            return False
        try:
            raw = read_json(self.info)
        except RunError:
            return False
        return RunInfo.from_dict(raw, self.info).status == "finished"

    def state(self) -> str:
        """``absent`` (no run here yet) | ``interrupted`` | ``finished``."""
        if not self.is_run():
            return "absent"
        return "finished" if self.finished else "interrupted"

    def read_info(self) -> RunInfo:
        """``run.json``; ``RunError`` when it is missing, damaged or of a newer schema."""
        return RunInfo.from_dict(read_json(self.info), self.info)

    def read_config(self) -> dict[str, Any]:
        """``config.json`` as saved (``FitConfig.from_dict`` makes it a config)."""
        return read_json(self.config)

    def read_metrics(self) -> dict[str, Any] | None:
        """``metrics.json``; ``None`` before the fit scored its test split."""
        return read_json(self.metrics) if self.metrics.is_file() else None


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
            "choose another out, or pass resume=True to continue it",
            cli={"another out": "another --out", "resume=True": "--resume"},
        )
    path.mkdir(parents=True, exist_ok=True)
    run = RunDir(path)
    atomic_write_json(run.config, _as_dict(config))
    atomic_write_json(run.environment, environment(seed))
    return path
