"""A fit's run directory: new, resumed or replaced, never overwritten by accident.

A resumed run keeps every setting of its ``config.json``. Of the run-control settings, those
given again (``num_threads``, ``device``, ``data_loading``, ``workers`` differing from
``FitConfig``'s defaults) apply, and the others are the run's own; the log says which came from where, and names any training setting
given again with another value (it is not applied: the run would no longer be one run). A run
without ``checkpoint.pt`` has nothing to continue from: it starts over, with its saved config,
and says so.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RunError
from ..io import atomic_write_bytes
from ..runs import RunDir
from .config import RUN_CONTROL_FIELDS, FitConfig
from .context import CHECKPOINT

_CLI = {"resume=True": "--resume", "force=True": "--force", "another out": "another --out"}
"""The arguments these errors name, as the command line names them."""

SETTINGS = ("num_threads", "device", "data_loading", "workers")
"""Run-control fields that are settings of the run (saved, and taken back on a resume); the
others (out, resume, force, progress) belong to the command."""


def prepare_run_dir(
    cfg: FitConfig, log: Callable[[str], None]
) -> tuple[Path, FitConfig, dict[str, Any] | None]:
    """(run dir, effective config, existing run.json when resuming; ``None``: a new run).

    Resuming takes the run's saved config (see the module docstring); a finished or
    interrupted run is replaced only with ``force``."""
    out = Path(cfg.out) if cfg.out else Path("runs") / cfg.auto_name()
    if out.exists() and any(out.iterdir()):
        is_run = RunDir(out).is_run()
        if cfg.force:
            if not is_run:
                raise RunError(
                    f"{out}: not a run directory (no config.json); force=True only replaces "
                    "runs, choose another out",
                    cli=_CLI,
                )
            shutil.rmtree(out)
        elif cfg.resume:
            if not is_run:
                raise RunError(
                    f"{out}: nothing to resume (no config.json); drop resume=True", cli=_CLI
                )
            saved = resumed_config(cfg, out, log)
            return out, saved, _resumable_info(out, log)
        else:
            state = RunDir(out).state()
            raise RunError(
                f"{out}: {'a finished' if state == 'finished' else 'an interrupted'} run is "
                "already there; pass resume=True to continue it, force=True to replace it, or "
                "choose another out",
                cli=_CLI,
            )
    elif cfg.resume:
        log(f"{out}: no run to resume; starting a new one")
    cfg = cfg.copy()
    cfg.out = str(out)
    return out, cfg, None


def resumed_config(cfg: FitConfig, out: Path, log: Callable[[str], None]) -> FitConfig:
    """The saved config of the run in ``out``, with the command's controls and the settings
    it gives again; one log line says where each setting came from."""
    saved = FitConfig.from_dict(RunDir(out).read_config())
    defaults = FitConfig().resolve_defaults()  # as ``cfg`` is by now (``fit`` validated it)
    given = [n for n in SETTINGS if getattr(cfg, n) != getattr(defaults, n)]
    for name in RUN_CONTROL_FIELDS:
        if name not in SETTINGS or name in given:
            setattr(saved, name, getattr(cfg, name))
    saved.out = str(out)
    kept = [n for n in SETTINGS if n not in given]
    log(
        f"{out}: resuming with its saved config ({RunDir(out).config}); "
        + _pairs("from the saved run", saved, kept)
        + ("; " + _pairs("given again", saved, given) if given else "")
    )
    ignored = _ignored(cfg, saved, defaults)
    if ignored:
        log(
            f"{out}: not applied to a resumed run (it keeps its saved settings): "
            f"{', '.join(ignored)}; to change them, start a new run (another --out, or --force)"
        )
    return saved


def _pairs(label: str, cfg: FitConfig, names: list[str]) -> str:
    return f"{label}: " + ", ".join(f"{n}={getattr(cfg, n)}" for n in names)


def _ignored(cfg: FitConfig, saved: FitConfig, defaults: FitConfig) -> list[str]:
    """Training settings given (not a default) with another value than the run's (``extra``
    holds notes, such as the preset's name, not settings)."""
    out = []
    for f in dataclasses.fields(FitConfig):
        value = getattr(cfg, f.name)
        if f.name in (*RUN_CONTROL_FIELDS, "extra") or value == getattr(defaults, f.name):
            continue
        if value != getattr(saved, f.name):
            out.append(f"{f.name}={value!r} (the run's: {getattr(saved, f.name)!r})")
    return out


def _resumable_info(out: Path, log: Callable[[str], None]) -> dict[str, Any] | None:
    """run.json of a run that can be continued; ``None`` (after clearing the folder) for one
    that has no checkpoint to continue from, so it starts over exactly as a new run would."""
    run = RunDir(out)
    info = run.read_info().raw if run.info.is_file() else None
    if info is not None and run.finished:
        return info
    if info is not None and (out / CHECKPOINT).is_file():
        return info
    done = sum(int(s.get("epochs") or 0) for s in (info or {}).get("stages", []))
    lost = f" ({done} finished epoch(s) are lost)" if done else ""
    log(
        f"{out}: no {CHECKPOINT} to continue from (the fit stopped before its first epoch "
        f"ended, or the file was removed){lost}; starting the run over with its saved config"
    )
    saved_config = run.config.read_bytes()
    shutil.rmtree(out)
    # the settings stay: a fit stopped again before its first epoch still resumes (over)
    atomic_write_bytes(run.config, saved_config)
    return None
