"""``FitContext``: what one fit carries through its stages (config, run directory, log, the
``run.json`` record and the history), and the run directory's file names the stages use."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..io import atomic_write_json, atomic_write_text
from ..logs import get_logger
from ..runs import RunDir
from .config import FitConfig

EpochHook = Callable[[int, int, dict[str, Any]], None]
"""Called as ``hook(stage, epoch, history_row)`` after each epoch's checkpoint is written."""

# the stages' files, as RunDir names them
CHECKPOINT = RunDir.CHECKPOINT
STAGE1_BEST = RunDir.STAGE1_BEST
STAGE2_BEST = RunDir.STAGE2_BEST
STAGE2_START = RunDir.STAGE2_START
MODEL = RunDir.MODEL
FEATURES = RunDir.FEATURES

_log = get_logger("qsdaqec.train")


def log_line(msg: str) -> None:
    """One line of a fit's log: the ``qsdaqec.train`` logger at ``INFO`` (where it goes:
    :mod:`qsdaqec.logs`). ``fit`` hands it down as ``log``."""
    _log.info(msg)


@dataclass
class FitContext:
    """Everything one fit needs; kept small so the stages read top to bottom."""

    cfg: FitConfig
    run: Path
    log: Callable[[str], None]
    """:func:`log_line`"""
    hook: EpochHook | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """``run.json``: status, data, stages, evaluation."""
    history: list[dict[str, Any]] = field(default_factory=list)
    noise_match: Any = None
    """``qsdaqec.augment.noise_match.NoiseMatch`` when noise matching is on."""

    def save_info(self) -> None:
        atomic_write_json(RunDir(self.run).info, self.info)

    def stage_record(self, stage: int) -> dict[str, Any] | None:
        for s in self.info.get("stages", []):
            if s["stage"] == stage:
                return s
        return None

    def start_stage(self, record: dict[str, Any]) -> None:
        """Replace the stage's record in ``run.json`` (a resumed stage starts a new record)."""
        stages = [s for s in self.info["stages"] if s["stage"] != record["stage"]]
        self.info["stages"] = [*stages, record]
        self.save_info()

    def update_stage(self, stage: int, **fields: Any) -> None:
        self.stage_record(stage).update(fields)
        self.save_info()

    def add_history(self, row: dict[str, Any]) -> None:
        """Append an epoch's row and rewrite ``history.json`` / ``history.csv``."""
        self.history.append(row)
        atomic_write_json(self.run / RunDir.HISTORY_JSON, self.history)
        cols: list[str] = []
        for r in self.history:
            cols += [k for k in r if k not in cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in self.history:
            w.writerow(r)
        atomic_write_text(self.run / RunDir.HISTORY_CSV, buf.getvalue())

    def bar(self, total: int, desc: str) -> tqdm:
        return tqdm(
            total=total, desc=desc, leave=False, disable=not self.cfg.progress, file=sys.stderr
        )
