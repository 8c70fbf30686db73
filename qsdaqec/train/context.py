"""``FitContext``: what one fit carries through its stages (config, run directory, log, the
``run.json`` record and the history), and the run directory's file names."""

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
from .config import FitConfig

EpochHook = Callable[[int, int, dict[str, Any]], None]
"""Called as ``hook(stage, epoch, history_row)`` after each epoch's checkpoint is written."""

CHECKPOINT = "checkpoint.pt"
STAGE1_BEST = "stage1_best.pt"
STAGE2_BEST = "stage2_best.pt"
STAGE2_START = "stage2_start.pt"  # the stage-1 head on the backend, output layer refit
MODEL = "model.pt"
FEATURES = "features.pt"


@dataclass
class FitContext:
    """Everything one fit needs; kept small so the stages read top to bottom."""

    cfg: FitConfig
    run: Path
    log: Callable[[str], None]
    hook: EpochHook | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """``run.json``: status, data, stages, evaluation."""
    history: list[dict[str, Any]] = field(default_factory=list)
    noise_match: Any = None
    """``qsdaqec.augment.noise_match.NoiseMatch`` when noise matching is on."""

    def save_info(self) -> None:
        atomic_write_json(self.run / "run.json", self.info)

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
        atomic_write_json(self.run / "history.json", self.history)
        cols: list[str] = []
        for r in self.history:
            cols += [k for k in r if k not in cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in self.history:
            w.writerow(r)
        atomic_write_text(self.run / "history.csv", buf.getvalue())

    def bar(self, total: int, desc: str) -> tqdm:
        return tqdm(
            total=total, desc=desc, leave=False, disable=not self.cfg.progress, file=sys.stderr
        )


def log_to_stderr(msg: str) -> None:
    """The default log of ``fit``: one line on stderr, between progress bars."""
    tqdm.write(msg, file=sys.stderr)
