"""Executors: where the fits of ``qsdaqec run`` and the points of ``qsdaqec noise-report`` run
(``local`` in this process, ``ray``, ``slurm``). See :mod:`.base` for the task boundary and
docs/reproduce.md for cluster use.

Results land in the fit store (or the report's ``points/``) on a filesystem every worker
shares; the fit locks (:mod:`qsdaqec.experiments.locks`) keep two workers off one fit.
"""

from __future__ import annotations

from pathlib import Path

from .base import LocalExecutor, Log, RemoteExecutor, Task, TaskOutcome, run_logged
from .config import EXECUTORS, ExecutorConfig
from .ray_executor import RayExecutor  # ray itself is imported when one is made
from .slurm_executor import SlurmExecutor  # so is submitit


def make_executor(
    cfg: ExecutorConfig, *, folder: Path, echo: Log, log: Log
) -> LocalExecutor | RemoteExecutor:
    """The executor of ``cfg`` (validated), checked before anything runs: a missing optional
    package, ``sbatch`` or Ray address is a ``ConfigError`` here. ``folder``: where Slurm's
    own job files go. Use it as a context manager (Ray's cluster lives inside it)."""
    cfg.validate()
    if cfg.kind == "ray":
        return RayExecutor(cfg, echo)
    if cfg.kind == "slurm":
        return SlurmExecutor(cfg, folder, echo)
    return LocalExecutor(echo, log)


__all__ = [
    "EXECUTORS",
    "ExecutorConfig",
    "LocalExecutor",
    "RayExecutor",
    "RemoteExecutor",
    "SlurmExecutor",
    "Task",
    "TaskOutcome",
    "make_executor",
    "run_logged",
]
