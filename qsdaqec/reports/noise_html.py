"""The noise report's HTML page and plots (the numbers come from :mod:`qsdaqec.experiments.noise`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..metrics import METRICS
from ..runner.backends import parse_backend
from .html import esc, fig_png, img_tag, page, plt, table

#: The left-hand metric of every plot: balanced accuracy, which a head predicting one class
#: cannot game (plain accuracy then equals the majority's share).
HEADLINE = "balanced_accuracy"

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def _series_color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def _ok(rows, **match) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r.get("status") != "ok" or r["kind"] != "simulation":
            continue
        if all(r.get(k) == v for k, v in match.items()):
            out.append(r)
    return out


def _series(rows) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for r in rows:
        if r["kind"] == "simulation" and (r["encoding"], r["backend"]) not in seen:
            seen.append((r["encoding"], r["backend"]))
    return seen


def _refs(ax, rows, metric: str, encodings: Sequence[str]) -> None:
    """Horizontal lines: the exact head per encoding (dotted, series colour family) and the
    classical head (black dash-dot)."""
    for i, enc in enumerate(encodings):
        ex = next((r for r in rows if r["kind"] == "exact" and r["encoding"] == enc), None)
        if ex is not None and not math.isnan(ex[metric]):
            ax.axhline(
                ex[metric],
                ls=":",
                lw=1.2,
                c="#555" if len(encodings) == 1 else _series_color(i),
                label=f"exact ({enc})",
            )
    cl = next((r for r in rows if r["kind"] == "classical"), None)
    if cl is not None and not math.isnan(cl.get(metric, math.nan)):
        ax.axhline(cl[metric], ls="-.", lw=1.2, c="black", label="classical head")


def plot_noise(rows) -> bytes | None:
    series = [(e, b) for e, b in _series(rows) if len(_sweep(rows, e, b, "noise")) >= 2]
    if not series:
        return None
    p = plt()
    fig, axes = p.subplots(1, 3, figsize=(13, 3.8))
    encs = list(dict.fromkeys(e for e, _ in series))
    for i, (e, b) in enumerate(series):
        pts = sorted(_sweep(rows, e, b, "noise"), key=lambda r: r["noise_scale"])
        xs = [r["noise_scale"] for r in pts]
        c = _series_color(i)
        lab = f"{e} | {b}"
        axes[0].plot(xs, [r[HEADLINE] for r in pts], "o-", c=c, label=lab)
        axes[1].plot(xs, [r["auc"] for r in pts], "o-", c=c, label=lab)
        axes[2].plot(xs, [r["ev_mae"] for r in pts], "o-", c=c, label=f"{lab} mean")
        axes[2].plot(xs, [r["ev_max"] for r in pts], "x--", c=c, alpha=0.6, label=f"{lab} max")
    for ax, metric, title in ((axes[0], HEADLINE, "balanced accuracy"), (axes[1], "auc", "AUC")):
        _refs(ax, rows, metric, encs)
        ax.set_title(f"{title} vs noise scale", fontsize=10)
        ax.set_ylim(-0.02, 1.02)
    axes[2].set_title("|EV - exact EV| vs noise scale", fontsize=10)
    for ax in axes:
        ax.set_xlabel("noise scale (0 = noiseless, 1 = the device)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return fig_png(fig)


def _sweep(rows, enc, backend, sweep) -> list[dict[str, Any]]:
    return [r for r in _ok(rows, encoding=enc, backend=backend) if sweep in r["sweeps"]]


def plot_shots(rows) -> bytes | None:
    series = [
        (e, b)
        for e, b in _series(rows)
        if len([r for r in _sweep(rows, e, b, "shots") if r["shots"] is not None]) >= 1
    ]
    if not series:
        return None
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(10, 3.8))
    encs = list(dict.fromkeys(e for e, _ in series))
    for i, (e, b) in enumerate(series):
        allp = _sweep(rows, e, b, "shots")
        pts = sorted((r for r in allp if r["shots"] is not None), key=lambda r: r["shots"])
        exact = next((r for r in allp if r["shots"] is None), None)
        xs = [r["shots"] for r in pts]
        c = _series_color(i)
        lab = f"{e} | {b} (noise {pts[0]['noise_scale']:g})"
        axes[0].plot(xs, [r[HEADLINE] for r in pts], "o-", c=c, label=lab)
        axes[1].plot(xs, [r["ev_mae"] for r in pts], "o-", c=c, label=lab)
        if exact is not None:
            axes[0].axhline(
                exact[HEADLINE], ls="--", c=c, lw=1, alpha=0.7, label=f"{e} | {b}: exact EVs"
            )
            axes[1].axhline(
                exact["ev_mae"], ls="--", c=c, lw=1, alpha=0.7, label=f"{e} | {b}: exact EVs"
            )
    _refs(axes[0], rows, HEADLINE, encs)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_title("balanced accuracy vs shots", fontsize=10)
    axes[1].set_title("mean |EV - exact EV| vs shots", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("shots per circuit")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return fig_png(fig)


def _bars(ax, groups: list[str], names: list[str], values: dict[tuple[str, str], float]) -> None:
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(groups))]
        ys = [values.get((g, name), math.nan) for g in groups]
        bars = ax.bar(xs, ys, width * 0.95, color=_series_color(j), label=name)
        for bar, y in zip(bars, ys, strict=True):
            if not math.isnan(y):
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    y,
                    f"{y:.3f}",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    ax.set_xticks(range(len(groups)), groups, fontsize=7)


def plot_mitigation(rows) -> bytes | None:
    groups, names, acc, err = [], [], {}, {}
    for e, b in _series(rows):
        pts = _sweep(rows, e, b, "mitigation")
        if len({r["mitigation"] for r in pts}) < 2:
            continue
        g = f"{e}\n{b}\nnoise {pts[0]['noise_scale']:g}"
        groups.append(g)
        for r in pts:
            names.append(r["mitigation"]) if r["mitigation"] not in names else None
            acc[(g, r["mitigation"])] = r[HEADLINE]
            err[(g, r["mitigation"])] = r["ev_mae"]
    if not groups:
        return None
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(max(8, 3 * len(groups) + 4), 3.8))
    _bars(axes[0], groups, names, acc)
    _bars(axes[1], groups, names, err)
    _refs(axes[0], rows, HEADLINE, [])
    axes[0].set_ylim(0, 1.08)
    axes[0].set_title("balanced accuracy by mitigation", fontsize=10)
    axes[1].set_title("mean |EV - exact EV| by mitigation", fontsize=10)
    for ax in axes:
        _legend_below(ax)
        ax.grid(alpha=0.3, axis="y")
    return fig_png(fig)


def _legend_below(ax) -> None:
    """Bar charts: the legend under the axes, never over the bars."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)


def plot_encodings(rows, center_noise: float, min_job_samples: int = 1) -> bytes | None:
    encs = [r["encoding"] for r in rows if r["kind"] == "exact"]
    if not encs:
        return None
    names = ["exact"]
    acc, auc = {}, {}
    for r in rows:
        if r["kind"] == "exact":
            acc[(r["encoding"], "exact")] = r[HEADLINE]
            auc[(r["encoding"], "exact")] = r["auc"]
    for r in rows:
        if (
            r["kind"] == "simulation"
            and r.get("status") == "ok"
            and r["mitigation"] == "none"
            and (
                ("noise" in r["sweeps"] and r["noise_scale"] == center_noise)
                or (
                    parse_backend(r["backend"]).noise_knob != "scalable"
                    and "shots" in r["sweeps"]
                    and "mitigation" in r["sweeps"]
                )
            )
        ):
            name = f"{r['backend']} (noise {r['noise_scale']:g}, shots {r['shots'] or 'exact'})"
            if name not in names:
                names.append(name)
            acc[(r["encoding"], name)] = r[HEADLINE]
            auc[(r["encoding"], name)] = r["auc"]
        if r["kind"] == "job" and r["n"] >= min_job_samples:
            name = f"job {r['backend']}"
            if name not in names:
                names.append(name)
            acc[(r["encoding"], name)] = r[HEADLINE]
            auc[(r["encoding"], name)] = r["auc"]
    p = plt()
    fig, axes = p.subplots(
        1, 2, figsize=(max(8, 2.5 * len(encs) * max(1, len(names)) / 2 + 4), 3.8)
    )
    _bars(axes[0], encs, names, acc)
    _bars(axes[1], encs, names, auc)
    _refs(axes[0], rows, HEADLINE, [])
    _refs(axes[1], rows, "auc", [])
    for ax, t in zip(axes, ("balanced accuracy", "AUC"), strict=True):
        ax.set_ylim(0, 1.1)
        ax.set_title(f"{t} by encoding", fontsize=10)
        _legend_below(ax)
        ax.grid(alpha=0.3, axis="y")
    return fig_png(fig)


TABLE_COLUMNS = [
    ("key", "key"),
    ("label", "point"),
    ("kind", "kind"),
    ("status", "status"),
    ("sweeps", "sweeps"),
    *((name, m.label) for name, m in METRICS.items()),
    ("d_balanced_accuracy", "Δbal. acc vs exact"),
    ("ev_mae", "EV err mean"),
    ("ev_max", "EV err max"),
    ("agree_exact", "same pred as exact"),
    ("width", "width"),
    ("depth", "depth"),
    ("two_qubit_gates", "2q gates"),
    ("n", "n"),
    ("seconds", "s"),
    ("note", "note"),
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
        if name in pngs:
            parts.append(f'<div class="figs">{img_tag(pngs[name], title)}</div>')
        elif name == "encoding":
            parts.append(
                '<p class="note">Only one encoding: pass a second --run trained with the other '
                "encoding on the same data to compare.</p>"
            )
        else:
            parts.append('<p class="note">No points of this sweep in the grid.</p>')
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
        "backend does not support. The same numbers are in results.json and results.csv.</p>"
    )
    table_rows = []
    for r in rows:
        tr = dict(r)
        tr["sweeps"] = "+".join(r.get("sweeps") or [])
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
        )
    )
    return page("Noise-robustness report", "\n".join(parts)), pngs
