"""The noise report's HTML page and plots (the numbers come from :mod:`qsdaqec.experiments.noise`)."""

from __future__ import annotations

from typing import Any

from ..metrics import METRICS
from .html import esc, img_tag, page, table
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


def _section(name: str, title: str, pngs: dict[str, bytes], rows) -> list[str]:
    """A plot section's body: its figure, the numbers in words where one value is no trend,
    or why it is empty."""
    body = [f'<div class="figs">{img_tag(pngs[name], title)}</div>'] if name in pngs else []
    if name == "shots":
        body += [f"<p>{esc(line)}</p>" for line in shots_summary(rows)]
    if body:
        return body
    if name == "encoding":
        return [
            '<p class="note">Only one encoding: pass a second --run trained with the other '
            "encoding on the same data to compare.</p>"
        ]
    return ['<p class="note">No points of this sweep in the grid.</p>']


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
    runs = ", ".join(f"{esc(e)}: <code>{esc(p)}</code>" for e, p in payload["runs"].items())
    design = (
        "one-at-a-time sweeps around a centre point (noise scale "
        f"{cfg.center_noise:g}, shots {'exact expectation values where the backend allows, else the largest --shots' if cfg.center_shots is None else cfg.center_shots}, no mitigation)"
        if cfg.design == "sweep"
        else "the full cross product noise x shots x mitigation"
    )
    parts = [
        "<h1>Noise-robustness report</h1>",
        f'<p class="meta">runs {runs} · test split {payload["n_test"]} samples '
        f"(positive class: {esc(payload['positive'])}) · created {esc(payload['created'])} · "
        f"grid: {esc(design)}</p>",
        '<div class="conclusion"><b>Conclusion</b><ul>'
        + "".join(f"<li>{esc(s)}</li>" for s in payload["conclusion"])
        + "</ul></div>",
        f'<p class="note">Classical reference: {esc(payload["classical_reference"])}. '
        "EV error = |expectation value on the backend − exact expectation value|, over the "
        "test samples and the 4 observables. “same pred as exact”: fraction of samples whose "
        "predicted class equals the exact head's.</p>",
    ]
    titles = {
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
    for name, (title, note) in titles.items():
        parts.append(f'<h2>{esc(title)}</h2><p class="note">{esc(note)}</p>')
        parts += _section(name, title, pngs, rows)
    parts.append("<h2>Transpiled circuits</h2>")
    parts.append(
        table(
            [
                ("encoding", "encoding"),
                ("backend", "backend"),
                ("width", "active qubits"),
                ("device_qubits", "device qubits"),
                ("depth", "depth"),
                ("two_qubit_gates", "2q gates"),
                ("layout", "layout (logical → physical)"),
                ("optimization_level", "opt. level"),
            ],
            payload["transpiled"],
        )
    )
    parts.append("<h2>Every point</h2>")
    parts.append(
        '<p class="note">Yellow: references; green: fetched hardware jobs; grey: points the '
        "backend does not support. The same numbers are in results.json and results.csv, with "
        "each point's key (its file under points/, also the row's id here).</p>"
    )
    table_rows = []
    for r in rows:
        tr = dict(r)
        tr["sweeps"] = " + ".join(r.get("sweeps") or [])
        table_rows.append(tr)
    parts.append(
        table(
            TABLE_COLUMNS,
            table_rows,
            row_class=lambda r: (
                "ref"
                if r["kind"] in ("exact", "classical")
                else ("job" if r["kind"] == "job" else ("bad" if r.get("status") != "ok" else None))
            ),
            row_id=lambda r: r["key"],
            wrap=("label", "note", "sweeps"),
        )
    )
    return page("Noise-robustness report", "\n".join(parts)), pngs
