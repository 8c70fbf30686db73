"""The noise report's HTML page and plots (the numbers come from :mod:`qsdaqec.experiments.noise`)."""

from __future__ import annotations

from typing import Any

from ..metrics import METRICS
from ..templating import render
from .html import table
from .noise_plots import (
    HEADLINE,
    plot_encodings,
    plot_mitigation,
    plot_noise,
    plot_shots,
    shots_summary,
)

__all__ = ["HEADLINE", "TABLE_COLUMNS", "render_html"]

#: The table of every point. Its file name (``key``, under points/) is each row's id and a
#: column of results.csv: as a column here it would push the table off a 1400-px page, as
#: would width and depth (the transpiled-circuits table above has them); the row's colour and
#: its sweeps say its kind.
TABLE_COLUMNS = [
    ("label", "point"),
    ("status", "status"),
    ("sweeps", "sweeps"),
    *((name, m.label) for name, m in METRICS.items()),
    ("d_balanced_accuracy", "Δ bal. acc. vs exact"),
    ("ev_mae", "EV error mean"),
    ("ev_max", "EV error max"),
    ("agree_exact", "same pred. as exact"),
    ("two_qubit_gates", "2q gates"),
    ("n", "n"),
    ("seconds", "s"),
    ("note", "note"),
]


_SECTIONS = {
    "noise": (
        "Metrics vs noise scale",
        "The device noise model scaled by a factor (0 = noiseless, 1 = the device, 2 = twice "
        "as noisy), at the centre's shots, no mitigation.",
    ),
    "shots": ("Metrics vs shots", "Shot noise at the centre's noise scale, no mitigation."),
    "mitigation": ("Mitigation comparison", "At the centre's noise scale and shots."),
    "encoding": (
        "Encoding comparison",
        "Runs trained with each encoding on the same data and test split.",
    ),
}


def _section(name: str, pngs: dict[str, bytes], rows) -> dict[str, Any]:
    """A plot section: its figure, the numbers in words where one value is no trend, or why
    it is empty."""
    title, note = _SECTIONS[name]
    png = pngs.get(name)
    lines = shots_summary(rows) if name == "shots" else []
    empty = None
    if png is None and not lines:
        empty = (
            "Only one encoding: pass a second --run trained with the other encoding on the same "
            "data to compare."
            if name == "encoding"
            else "No points of this sweep in the grid."
        )
    return {"title": title, "note": note, "png": png, "lines": lines, "empty": empty}


def _design(cfg: Any) -> str:
    if cfg.design != "sweep":
        return "the full cross product noise x shots x mitigation"
    shots = (
        "exact expectation values where the backend allows, else the largest --shots"
        if cfg.center_shots is None
        else cfg.center_shots
    )
    return (
        f"one-at-a-time sweeps around a centre point (noise scale {cfg.center_noise:g}, shots "
        f"{shots}, no mitigation)"
    )


def _row_class(r: dict[str, Any]) -> str | None:
    """Yellow references, green fetched jobs, grey points the backend does not support."""
    if r["kind"] in ("exact", "classical"):
        return "ref"
    if r["kind"] == "job":
        return "job"
    return "bad" if r.get("status") != "ok" else None


_TRANSPILED_COLUMNS = [
    ("encoding", "encoding"),
    ("backend", "backend"),
    ("width", "active qubits"),
    ("device_qubits", "device qubits"),
    ("depth", "depth"),
    ("two_qubit_gates", "2q gates"),
    ("layout", "layout (logical → physical)"),
    ("optimization_level", "opt. level"),
]


def render_html(
    payload: dict[str, Any], rows: list[dict[str, Any]], cfg: Any
) -> tuple[str, dict[str, bytes]]:
    """The page and the PNGs embedded in it (also written beside it by the caller)."""
    pngs: dict[str, bytes] = {}
    for name, fn in (
        ("noise", lambda: plot_noise(rows)),
        ("shots", lambda: plot_shots(rows)),
        ("mitigation", lambda: plot_mitigation(rows)),
        ("encoding", lambda: plot_encodings(rows, cfg.center_noise, cfg.min_job_samples)),
    ):
        png = fn()
        if png is not None:
            pngs[name] = png
    table_rows = [{**r, "sweeps": " + ".join(r.get("sweeps") or [])} for r in rows]
    page = render(
        "noise_report.html.j2",
        title="Noise-robustness report",
        runs=list(payload["runs"].items()),
        n_test=payload["n_test"],
        positive=payload["positive"],
        created=payload["created"],
        design=_design(cfg),
        conclusion=payload["conclusion"],
        classical_reference=payload["classical_reference"],
        sections=[_section(name, pngs, rows) for name in _SECTIONS],
        transpiled=table(_TRANSPILED_COLUMNS, payload["transpiled"]),
        points=table(
            TABLE_COLUMNS,
            table_rows,
            row_class=_row_class,
            row_id=lambda r: r["key"],
            wrap=("label", "note", "sweeps"),
        ),
    )
    return page, pngs
