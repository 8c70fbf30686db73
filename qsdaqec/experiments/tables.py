"""Results of an experiment: per-fit rows, mean ± std over seeds, Markdown + CSV + JSON, a bar chart.

Written to the experiment's output folder:

- ``results.md``   the table (mean ± sample std over seeds, metrics in %), spec and budget
- ``results.csv``  one row per (variant, test set): ``<metric>_mean``, ``<metric>_std``, ``n``
- ``runs.csv``     one row per (variant, seed, test set) with every metric and the fit folder
- ``results.json`` all of the above, machine-readable
- ``results.png``  grouped bar chart with error bars (± std)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..metrics import METRICS
from ..runs import RunDir

LABELS = {**{name: m.label for name, m in METRICS.items()}, "fit_seconds": "Fit time"}


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation (ddof=1), n) over the finite values; std is NaN for n < 2."""
    v = np.asarray(
        [x for x in values if x is not None and math.isfinite(float(x))], dtype=np.float64
    )
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), (float(v.std(ddof=1)) if n > 1 else math.nan), n


def fit_rows(result) -> list[dict[str, Any]]:
    """One row per (variant, seed, test set) of the finished fits."""
    rows = []
    for o in result.outcomes:
        for ts, scores in o.scores.items():
            row = {"variant": o.plan.variant, "seed": o.plan.seed, "test_set": ts}
            row.update({m: scores.get(m, math.nan) for m in result.spec.metrics})
            row["n_test"] = scores.get("n_test", math.nan)
            row["status"] = o.status
            row["wall_seconds"] = o.wall_seconds
            row["run_dir"] = str(o.run_dir)
            rows.append(row)
    return rows


def aggregate(result) -> list[dict[str, Any]]:
    """One entry per (variant, test set), in spec order: ``{metric: (mean, std, n)}`` plus the seeds."""
    spec = result.spec
    rows = fit_rows(result)
    out = []
    for v in spec.variants:
        for ts in spec.test_sets:
            sel = [r for r in rows if r["variant"] == v.name and r["test_set"] == ts]
            entry: dict[str, Any] = {
                "variant": v.name,
                "test_set": ts,
                "seeds": [r["seed"] for r in sel],
                "n_test": sorted({int(r["n_test"]) for r in sel if math.isfinite(r["n_test"])}),
            }
            for m in spec.metrics:
                entry[m] = mean_std([r[m] for r in sel])
            out.append(entry)
    return out


def _cell(metric: str, mean: float, std: float, n: int) -> str:
    if n == 0:
        return "–"
    if metric == "fit_seconds":
        return f"{mean:.0f} s" if n < 2 else f"{mean:.0f} ± {std:.0f} s"
    s = f"{100 * mean:.1f}"
    return s if n < 2 else f"{s} ± {100 * std:.1f}"


def _fmt_base(base: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in sorted(base.items())) or "(FitConfig defaults)"


def markdown(result) -> str:
    spec = result.spec
    agg = aggregate(result)
    multi = len(spec.test_sets) > 1
    metrics = list(spec.metrics)
    head = (
        ["Variant"]
        + (["Test set"] if multi else [])
        + ["Seeds"]
        + [LABELS[m] + ("" if m == "fit_seconds" else " (%)") for m in metrics]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for e in agg:
        cells = [e["variant"]] + ([e["test_set"]] if multi else []) + [str(len(e["seeds"]))]
        cells += [_cell(m, *e[m]) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    missing = [o for o in result.outcomes if not o.scores]
    n_test = sorted({n for e in agg for n in e["n_test"]})
    profile = spec.profile or "default (small budget)"
    parts = [
        f"# {spec.name}" + (f": {spec.description}" if spec.description else ""),
        "",
        f"Spec `{spec.path}`, profile {profile}; seeds {', '.join(map(str, spec.seeds))}; "
        f"test sets {', '.join(spec.test_sets)}.",
        "",
        f"Shared settings: {_fmt_base(spec.base)}.",
        "",
        "Mean ± sample standard deviation (ddof = 1) over the seeds with a finished fit (column "
        "*Seeds*); metrics in % of the test split"
        + (f" (n = {', '.join(map(str, n_test))} images)" if n_test else "")
        + (
            "; *Fit time*: training + test seconds from each fit's run.json"
            if "fit_seconds" in metrics
            else ""
        )
        + ". A metric undefined for a split (e.g. AUC with one class) is left out of its mean.",
        "",
        *lines,
        "",
    ]
    if missing:
        parts += [
            "Not in the table (fit not finished): "
            + ", ".join(f"{o.plan.variant} seed {o.plan.seed}" for o in missing)
            + ".",
            "",
        ]
    failed = [o for o in result.outcomes if o.status == "failed"]
    if failed:
        parts += [
            "Failed in this run (the next `qsdaqec run` resumes them): "
            + "; ".join(
                f"{o.plan.variant} seed {o.plan.seed}: {o.error} (log `{o.logs[0]}`)"
                if o.logs
                else f"{o.plan.variant} seed {o.plan.seed}: {o.error}"
                for o in failed
            )
            + ".",
            "",
        ]
    infos = [_run_info(o.run_dir) for o in result.outcomes if o.scores]
    sources = sorted({i[0] for i in infos if i[0]})
    threads = sorted({i[1] for i in infos if i[1] is not None})
    if sources:
        parts += [
            "Data: "
            + ", ".join(f"`{s}`" for s in sources)
            + (" (**the fits used different data sets**)" if len(sources) > 1 else "")
            + (f"; torch threads per fit: {', '.join(map(str, threads))}" if threads else "")
            + ".",
            "",
        ]
    walls = [o.wall_seconds for o in result.outcomes if o.wall_seconds is not None]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(
        f"Written {stamp}; {len(result.outcomes) - len(missing)}/{len(result.outcomes)} fits finished"
        + (f"; measured wall time of the fits: {sum(walls):.0f} s" if walls else "")
        + f". Fits in `{result.fits_dir}`; per-fit rows in `runs.csv`."
    )
    return "\n".join(parts) + "\n"


def _run_info(run_dir: Path) -> tuple[str | None, int | None]:
    """(data source, torch threads) a fit ran with, from its run.json."""
    try:
        info = RunDir(run_dir).read_info().raw
    except RunError:
        return None, None
    src = (info.get("data") or {}).get("source") if isinstance(info, dict) else None
    threads = info.get("num_threads") if isinstance(info, dict) else None
    return (str(src) if src else None), (int(threads) if isinstance(threads, int) else None)


def _csv_text(rows: list[dict[str, Any]], cols: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_value(r.get(k)) for k in cols})
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return "" if v is None else v


def summary_rows(result) -> list[dict[str, Any]]:
    rows = []
    for e in aggregate(result):
        r: dict[str, Any] = {
            "variant": e["variant"],
            "test_set": e["test_set"],
            "n_seeds": len(e["seeds"]),
        }
        for m in result.spec.metrics:
            mean, std, _ = e[m]
            r[f"{m}_mean"], r[f"{m}_std"] = mean, std
        rows.append(r)
    return rows


def plot_bars(path: str | Path, result) -> Path:
    """Grouped bars: one group per (variant[, test set]), one bar per metric (in %), ± std."""
    import matplotlib  # here: a second to import, and only the plot needs it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    spec = result.spec
    agg = aggregate(result)
    metrics = [m for m in spec.metrics if m != "fit_seconds"]
    multi = len(spec.test_sets) > 1
    names = [e["variant"] + (f"\n({e['test_set']})" if multi else "") for e in agg]
    # a variant without a finished fit would otherwise look like one that scored 0 %
    empty = [all(not e[m][2] for m in metrics) for e in agg]
    n_groups, n_bars = len(agg), max(1, len(metrics))
    width = 0.8 / n_bars
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n_groups * max(1, n_bars) * 0.35 + 2), 4.2))
    x = np.arange(n_groups)
    for j, m in enumerate(metrics):
        means = np.array([100 * e[m][0] if e[m][2] else np.nan for e in agg])
        stds = np.array([100 * e[m][1] if e[m][2] > 1 else 0.0 for e in agg])
        ax.bar(
            x + (j - (n_bars - 1) / 2) * width,
            np.nan_to_num(means),
            width,
            yerr=stds,
            capsize=2,
            label=LABELS[m],
            error_kw={"lw": 0.8},
        )
    for i in np.flatnonzero(empty):
        ax.text(x[i], 3, "no finished fit", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(
        x,
        names,
        rotation=30 if n_groups > 4 else 0,
        ha="right" if n_groups > 4 else "center",
        fontsize=8,
    )
    ax.set_ylabel("% (mean ± std over seeds)")
    ax.set_ylim(0, 105)
    ax.axhline(50, color="grey", lw=0.6, ls=":")
    ax.set_title(
        f"{spec.name}"
        + (f" [{spec.profile}]" if spec.profile else "")
        + f", seeds {', '.join(map(str, spec.seeds))}",
        fontsize=9,
    )
    ax.legend(
        fontsize=7,
        ncol=min(5, n_bars),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22 if n_groups > 4 else -0.1),
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plan_json(result) -> dict[str, Any]:
    """The experiment's plan: spec, seeds, test sets, metrics, variants, fit store."""
    spec = result.spec
    return {
        "experiment": spec.name,
        "spec": str(spec.path) if spec.path else None,
        "profile": spec.profile,
        "description": spec.description,
        "seeds": spec.seeds,
        "test_sets": spec.test_sets,
        "metrics": spec.metrics,
        "base": spec.base,
        "variants": [dataclasses.asdict(v) for v in spec.variants],
        "fits_dir": str(result.fits_dir),
        "executor": result.executor,
    }


def write_results(result) -> list[Path]:
    """Write results.md/csv/json, runs.csv and results.png into ``result.out``."""
    out = Path(result.out)
    spec = result.spec
    rows = fit_rows(result)
    summ = summary_rows(result)
    files = [atomic_write_text(out / "results.md", markdown(result))]
    cols = ["variant", "test_set", "n_seeds"] + [
        f"{m}_{s}" for m in spec.metrics for s in ("mean", "std")
    ]
    files.append(atomic_write_text(out / "results.csv", _csv_text(summ, cols)))
    run_cols = [
        "variant",
        "seed",
        "test_set",
        *spec.metrics,
        "n_test",
        "status",
        "wall_seconds",
        "run_dir",
    ]
    files.append(atomic_write_text(out / "runs.csv", _csv_text(rows, run_cols)))
    fits = [
        {
            "variant": o.plan.variant,
            "seed": o.plan.seed,
            "run_dir": str(o.run_dir),
            "status": o.status,
            "wall_seconds": o.wall_seconds,
            "key": o.plan.key,
            "config": o.plan.config,
            **({"error": o.error, "logs": o.logs} if o.status == "failed" else {}),
        }
        for o in result.outcomes
    ]
    files.append(
        atomic_write_json(
            out / "results.json",
            {
                **plan_json(result),
                "summary": summ,
                "rows": rows,
                "fits": fits,
                "wall_seconds_this_invocation": result.wall_seconds,
            },
        )
    )
    if rows:
        files.append(plot_bars(out / "results.png", result))
    return files
