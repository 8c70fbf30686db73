"""A fit's run directory: new, resumed or replaced, never overwritten by accident."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RunError
from ..io import read_json
from .config import RUN_CONTROL_FIELDS, FitConfig


def prepare_run_dir(
    cfg: FitConfig, log: Callable[[str], None]
) -> tuple[Path, FitConfig, dict[str, Any] | None]:
    """(run dir, effective config, existing run.json when resuming).

    Resuming takes the run's saved config (only the run-control fields of ``cfg`` apply); a
    finished or interrupted run is replaced only with ``force``."""
    out = Path(cfg.out) if cfg.out else Path("runs") / cfg.auto_name()
    info_path = out / "run.json"
    if out.exists() and any(out.iterdir()):
        is_run = (out / "config.json").is_file()
        if cfg.force:
            if not is_run:
                raise RunError(
                    f"{out}: not a run directory (no config.json); --force only replaces runs, "
                    "choose another --out"
                )
            shutil.rmtree(out)
        elif cfg.resume:
            if not is_run:
                raise RunError(f"{out}: nothing to resume (no config.json); drop --resume")
            saved = FitConfig.from_dict(read_json(out / "config.json"))
            for name in RUN_CONTROL_FIELDS:
                setattr(saved, name, getattr(cfg, name))
            saved.out = str(out)
            info = read_json(info_path) if info_path.is_file() else None
            return out, saved, info
        else:
            state = "finished" if is_finished(out) else "interrupted"
            raise RunError(
                f"{out}: a {state} run is already there; pass --resume to continue it, --force "
                "to replace it, or choose another --out"
            )
    elif cfg.resume:
        log(f"{out}: no run to resume; starting a new one")
    cfg = FitConfig.from_dict(cfg.to_dict())
    cfg.out = str(out)
    return out, cfg, None


def is_finished(run: Path) -> bool:
    """True when ``run/run.json`` says the fit finished."""
    try:
        return read_json(run / "run.json").get("status") == "finished"
    except Exception:
        return False
