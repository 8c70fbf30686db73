"""What a noise report sends to its tracker (:mod:`qsdaqec.tracking`, ``noise-report --tracker``):
the report's settings as parameters, every point (the references, the simulated points, the
fetched jobs) as a sub-run of its own with its settings and scores, so that the tracker's
comparison view plots a score against noise scale or shots, and the report's files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...metrics import METRIC_NAMES
from ...tracking import TrackingConfig, open_tracker

NOISE_EXPERIMENT = "qsdaqec noise-report"
"""The MLflow experiment of noise reports."""
#: A point's settings and scores, in results.csv's order (report.CSV_COLUMNS is built from them).
SETTINGS = ("label", "kind", "status", "encoding", "backend", "noise_scale", "shots", "mitigation")
SCORES = (
    *METRIC_NAMES,
    "ev_mae",
    "ev_max",
    "agree_exact",
    "d_accuracy",
    "d_balanced_accuracy",
    "d_auc",
    "n",
    "width",
    "depth",
    "two_qubit_gates",
    "seconds",
)


def send_report(
    tracking: TrackingConfig | None,
    out: Path,
    payload: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    files: Sequence[Path],
    log: Callable[[str], None],
) -> None:
    """One tracked run named after the report folder: ``payload``'s settings, a sub-run per
    row of ``rows``, and ``files`` (with the plots beside them)."""
    if tracking is None or tracking.tracker is None:
        return
    out = Path(out)
    tags = {"qsdaqec.report": str(out.absolute()), **_runs(payload)}
    with open_tracker(
        tracking, folder=out, experiment=NOISE_EXPERIMENT, name=out.name, tags=tags, log=log
    ) as tracker:
        tracker.log_params({**payload["config"], "n_test": payload["n_test"]})
        for row in rows:
            tracker.log_point(row["key"], point_settings(row), {k: row.get(k) for k in SCORES})
        for path in files:
            tracker.log_file(path)
        for png in sorted((out / "plots").glob("*.png")):
            tracker.log_file(png, "plots")


def point_settings(row: dict[str, Any]) -> dict[str, Any]:
    """A point's settings as parameters: exact expectation values say ``exact`` for shots."""
    settings = {k: row.get(k) for k in SETTINGS}
    if settings["shots"] is None and row.get("kind") in ("simulation", "exact"):
        settings["shots"] = "exact"
    settings["sweeps"] = "+".join(row.get("sweeps") or [])
    return settings


def _runs(payload: dict[str, Any]) -> dict[str, str]:
    """The trained runs the report is about, one tag per encoding."""
    return {f"qsdaqec.run.{enc}": str(run) for enc, run in payload.get("runs", {}).items()}
