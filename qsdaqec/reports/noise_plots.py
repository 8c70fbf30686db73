"""The noise report's plots: metrics vs noise scale and shots, mitigation and encoding bars
(PNG bytes for :mod:`qsdaqec.reports.noise_html`). Text is set at :data:`FONT` or larger, and
side-by-side charts share one legend under them, so that nothing overlaps at a 1400-px page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..runner.backends import parse_backend
from .html import fig_png, plt

#: The left-hand metric of every plot: balanced accuracy, which a head predicting one class
#: cannot game (plain accuracy then equals the majority's share).
HEADLINE = "balanced_accuracy"

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]

#: Text sizes in points. The figures are 100 dpi and shown at about their own width in a
#: 1200-px page column, so 9 pt reads as 12 px: the smallest size a reader should be asked to read.
FONT = 9
TITLE = 11


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
                zorder=1,
            )
    cl = next((r for r in rows if r["kind"] == "classical"), None)
    if cl is not None and not math.isnan(cl.get(metric, math.nan)):
        ax.axhline(cl[metric], ls="-.", lw=1.2, c="black", label="classical head", zorder=1)


def plot_noise(rows) -> bytes | None:
    series = [(e, b) for e, b in _series(rows) if len(_sweep(rows, e, b, "noise")) >= 2]
    if not series:
        return None
    p = plt()
    fig, axes = p.subplots(1, 3, figsize=(12, 3.6))
    encs = list(dict.fromkeys(e for e, _ in series))
    for i, (e, b) in enumerate(series):
        pts = sorted(_sweep(rows, e, b, "noise"), key=lambda r: r["noise_scale"])
        xs = [r["noise_scale"] for r in pts]
        c = _series_color(i)
        lab = f"{e} | {b}"
        axes[0].plot(xs, [r[HEADLINE] for r in pts], "o-", c=c, label=lab)
        axes[1].plot(xs, [r["auc"] for r in pts], "o-", c=c, label=lab)
        axes[2].plot(xs, [r["ev_mae"] for r in pts], "o-", c=c, label=f"{lab}: mean")
        axes[2].plot(xs, [r["ev_max"] for r in pts], "x--", c=c, alpha=0.6, label=f"{lab}: max")
    for ax, metric, title in ((axes[0], HEADLINE, "balanced accuracy"), (axes[1], "auc", "AUC")):
        _refs(ax, rows, metric, encs)
        ax.set_title(f"{title} vs noise scale", fontsize=TITLE)
        ax.set_ylim(-0.02, 1.02)
    axes[2].set_title("|EV - exact EV| vs noise scale", fontsize=TITLE)
    for ax in axes:
        ax.set_xlabel("noise scale (0 = noiseless, 1 = the device)", fontsize=FONT)
        ax.tick_params(labelsize=FONT)
        ax.grid(alpha=0.3)
    _figure_legend(fig, axes)
    return fig_png(fig)


def _figure_legend(fig, axes, ncol: int = 3) -> None:
    """One legend under the whole figure, each entry once: per-axes legends of side-by-side
    charts cover the data or each other."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(
        list(seen.values()),
        list(seen),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(ncol, max(1, len(seen))),
        fontsize=FONT,
        frameon=False,
    )
    fig.tight_layout()


def _sweep(rows, enc, backend, sweep) -> list[dict[str, Any]]:
    return [r for r in _ok(rows, encoding=enc, backend=backend) if sweep in r["sweeps"]]


def _shot_counts(rows, e, b) -> list[dict[str, Any]]:
    """The shots sweep's points with a finite shot count, fewest shots first."""
    pts = (r for r in _sweep(rows, e, b, "shots") if r["shots"] is not None)
    return sorted(pts, key=lambda r: r["shots"])


def plot_shots(rows) -> bytes | None:
    """Metrics vs shots: only for series with two shot counts or more (one is a lone dot; the
    page then gives its numbers in words, :func:`shots_summary`)."""
    series = [(e, b) for e, b in _series(rows) if len(_shot_counts(rows, e, b)) >= 2]
    if not series:
        return None
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(10, 3.6))
    encs = list(dict.fromkeys(e for e, _ in series))
    for i, (e, b) in enumerate(series):
        pts = _shot_counts(rows, e, b)
        exact = next((r for r in _sweep(rows, e, b, "shots") if r["shots"] is None), None)
        xs = [r["shots"] for r in pts]
        c = _series_color(i)
        lab = f"{e} | {b} (noise {pts[0]['noise_scale']:g})"
        axes[0].plot(xs, [r[HEADLINE] for r in pts], "o-", c=c, label=lab)
        axes[1].plot(xs, [r["ev_mae"] for r in pts], "o-", c=c, label=lab)
        if exact is not None:
            for ax, key in ((axes[0], HEADLINE), (axes[1], "ev_mae")):
                ax.axhline(exact[key], ls="--", c=c, lw=1, alpha=0.7, label=f"{e} | {b}: exact EVs")
    _refs(axes[0], rows, HEADLINE, encs)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_title("balanced accuracy vs shots", fontsize=TITLE)
    axes[1].set_title("mean |EV - exact EV| vs shots", fontsize=TITLE)
    counts = sorted({r["shots"] for e, b in series for r in _shot_counts(rows, e, b)})
    for ax in axes:
        ax.set_xscale("log")
        ax.minorticks_off()  # the tested counts, written out, instead of 3x10^2 ...
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.set_xlabel("shots per circuit", fontsize=FONT)
        ax.tick_params(labelsize=FONT)
        ax.grid(alpha=0.3)
    _figure_legend(fig, axes, ncol=2)
    return fig_png(fig)


def shots_summary(rows) -> list[str]:
    """In words, the series whose shots sweep has one shot count (no trend to plot)."""
    out = []
    for e, b in _series(rows):
        pts = _shot_counts(rows, e, b)
        if len(pts) == 1:
            r = pts[0]
            out.append(
                f"{e} on {b} at noise {r['noise_scale']:g}, {r['shots']} shots: balanced "
                f"accuracy {r[HEADLINE]:.3f}, AUC {r['auc']:.3f}, mean EV error "
                f"{r['ev_mae']:.3f}. One shot count is no trend: pass several to --shots "
                "(e.g. 128,1024,8192) to plot one."
            )
    return out


def _bars(ax, groups: list[str], names: list[str], values: dict[tuple[str, str], float]) -> None:
    """Grouped bars, each labelled with its value on a white ground (reference lines run behind
    the bars and never through a label)."""
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(groups))]
        ys = [values.get((g, name), math.nan) for g in groups]
        bars = ax.bar(xs, ys, width * 0.95, color=_series_color(j), label=name, zorder=2)
        for bar, y in zip(bars, ys, strict=True):
            if not math.isnan(y):
                ax.annotate(
                    f"{y:.3f}",
                    (bar.get_x() + bar.get_width() / 2, y),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=FONT,
                    zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
                )
    ax.set_xticks(range(len(groups)), groups, fontsize=FONT)
    ax.tick_params(axis="y", labelsize=FONT)


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
    axes[0].set_ylim(0, 1.12)
    axes[1].set_ylim(0, 1.15 * max([v for v in err.values() if not math.isnan(v)] or [1]))
    axes[0].set_title("balanced accuracy by mitigation", fontsize=TITLE)
    axes[1].set_title("mean |EV - exact EV| by mitigation", fontsize=TITLE)
    for ax in axes:
        ax.grid(alpha=0.3, axis="y", zorder=0)
    _figure_legend(fig, axes)
    return fig_png(fig)


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
    sims = {r["backend"] for r in rows if r["kind"] == "simulation"}
    scalable = {b: parse_backend(b).noise_knob == "scalable" for b in sims}  # once per backend
    for r in rows:
        if (
            r["kind"] == "simulation"
            and r.get("status") == "ok"
            and r["mitigation"] == "none"
            and (
                ("noise" in r["sweeps"] and r["noise_scale"] == center_noise)
                or (
                    not scalable[r["backend"]]
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
    fig, axes = p.subplots(1, 2, figsize=(min(12, max(8, 1.2 * len(encs) * len(names) + 4)), 3.8))
    _bars(axes[0], encs, names, acc)
    _bars(axes[1], encs, names, auc)
    _refs(axes[0], rows, HEADLINE, [])
    _refs(axes[1], rows, "auc", [])
    for ax, t in zip(axes, ("balanced accuracy", "AUC"), strict=True):
        ax.set_ylim(0, 1.12)
        ax.set_title(f"{t} by encoding", fontsize=TITLE)
        ax.grid(alpha=0.3, axis="y", zorder=0)
    _figure_legend(fig, axes, ncol=2)
    return fig_png(fig)
