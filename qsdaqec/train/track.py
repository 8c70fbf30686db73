"""What a fit sends to its tracker (:mod:`qsdaqec.tracking`, ``fit --tracker``): the config as
parameters, every epoch's history row of both stages as ``stage<N>/<column>`` at step = epoch,
the final test scores (``test/``, and after stage 2 ``test_exact/`` and
``test_before_stage2/``) and the run's figures and metrics file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..io import read_json
from ..tracking import NullTracker, Tracker, TrackingConfig, open_tracker
from .config import FitConfig
from .context import EpochHook, FitContext

FIT_EXPERIMENT = "qsdaqec fit"
"""The MLflow experiment of a fit run by ``qsdaqec fit`` (``qsdaqec run`` names its own)."""
SCORED = ("test", "test_exact", "test_before_stage2")
"""``metrics.json``'s test scores, sent as ``<part>/<metric>``."""
FILES = ("roc.png", "confusion.png", "curves.png", "metrics.json", "history.csv")


def open_fit_tracker(
    tracking: TrackingConfig | None, cfg: FitConfig, run: Path, log: Callable[[str], None]
) -> Tracker:
    """The fit's tracker, with its parameters sent: a run named after the run folder, tagged
    with the folder and the experiment's notes (``cfg.extra``: experiment, variant, profile)."""
    if tracking is None or tracking.tracker is None:
        return NullTracker()
    tags: dict[str, Any] = {"qsdaqec.run": str(Path(run).absolute()), "seed": cfg.seed}
    tags.update({f"qsdaqec.{k}": v for k, v in cfg.extra.items() if v is not None})
    tracker = open_tracker(
        tracking, folder=run, experiment=FIT_EXPERIMENT, name=Path(run).name, tags=tags, log=log
    )
    tracker.log_params(cfg.to_dict())
    return tracker


class EpochSender:
    """Sends the fit's history rows not sent yet, as ``stage<N>/<column>`` at step = epoch:
    after each epoch (before the caller's hook, so an epoch that a hook interrupts after is
    tracked) and once more at the end (stage 2's epoch 0, the stage-1 head on the backend,
    calls no hook). A resumed fit sends its whole history again: its tracked run is complete,
    and TensorBoard gets back events a killed process had not flushed."""

    def __init__(self, tracker: Tracker, ctx: FitContext, hook: EpochHook | None):
        self.tracker, self.ctx, self.hook = tracker, ctx, hook
        self.sent = 0

    def __call__(self, stage: int, epoch: int, row: dict[str, Any]) -> None:
        self.flush()
        if self.hook is not None:
            self.hook(stage, epoch, row)

    def flush(self) -> None:
        for row in self.ctx.history[self.sent :]:
            stage = row["stage"]
            values = {f"stage{stage}/{k}": v for k, v in row.items() if k not in ("stage", "epoch")}
            self.tracker.log_metrics(values, step=row["epoch"])
        self.sent = len(self.ctx.history)


def track_epochs(tracker: Tracker, ctx: FitContext) -> EpochSender | None:
    """With a tracker, ``ctx.hook`` becomes an :class:`EpochSender` around it (returned);
    without one nothing changes (``None``)."""
    if isinstance(tracker, NullTracker):
        return None
    ctx.hook = EpochSender(tracker, ctx, ctx.hook)
    return ctx.hook


def log_results(tracker: Tracker, run: Path, epochs: EpochSender | None) -> None:
    """The epochs not sent yet, the final test scores from ``metrics.json``, and the figures
    and files beside it."""
    if epochs is None:
        return
    epochs.flush()
    metrics = read_json(Path(run) / "metrics.json")
    final: dict[str, Any] = {}
    for part in SCORED:
        if isinstance(metrics.get(part), dict):
            final.update({f"{part}/{k}": v for k, v in metrics[part].items()})
    tracker.log_metrics(final)
    for name in FILES:
        if (Path(run) / name).is_file():
            tracker.log_file(Path(run) / name)
