"""The run report's page (``qsdaqec report``): one self-contained HTML file from the dict of
:func:`qsdaqec.experiments.run_report.collect`."""

from __future__ import annotations

from typing import Any

from ..templating import render as render_page
from .html import Table, fig_png, plt, table

_METRIC_COLUMNS = [
    ("what", "scores"),
    ("balanced_accuracy", "bal. acc."),
    ("auc", "AUC"),
    ("sensitivity", "sens."),
    ("specificity", "spec."),
    ("accuracy", "acc."),
    ("n", "n"),
]


def _metric_row(what: str, m: dict[str, Any] | None) -> dict[str, Any] | None:
    if not m:
        return None
    return {"what": what, **{k: m.get(k) for k, _ in _METRIC_COLUMNS[1:]}}


def _reliability_png(rel: dict[str, Any]) -> bytes:
    p = plt()
    fig, ax = p.subplots(figsize=(3.6, 3.4))
    pts = rel["points"]
    ax.plot([0, 1], [0, 1], ":", color="#999", label="perfectly calibrated")
    ax.plot([q["predicted"] for q in pts], [q["observed"] for q in pts], "o-", label="this run")
    ax.set_xlabel("predicted probability of the diagnosis")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"calibration (Brier {rel['brier']:.3f}, n={rel['n']})", fontsize=10)
    ax.legend(fontsize=8)
    return fig_png(fig)


def _config_table(cfg: dict[str, Any]) -> Table:
    rows = [{"key": k, "value": str(v)} for k, v in sorted(cfg.items()) if k != "extra"]
    return table([("key", "option"), ("value", "value")], rows)


def _confusion(d: dict[str, Any]) -> dict[str, Any] | None:
    c = d.get("confusion")
    if not c:
        return None
    t = d["threshold"]
    rows = [
        {"true": c["negative"], "pn": c["tn"], "pp": c["fp"]},
        {"true": c["positive"], "pn": c["fn"], "pp": c["tp"]},
    ]
    columns = [
        ("true", "true class"),
        ("pn", f"predicted {c['negative']}"),
        ("pp", f"predicted {c['positive']}"),
    ]
    return {"given": t["given"], "cut": t["cut"], "table": table(columns, rows)}


_STAGE_COLUMNS = [
    ("stage", "stage"),
    ("name", "what"),
    ("backend", "backend"),
    ("epochs", "epochs"),
    ("best_epoch", "best epoch"),
    ("seconds", "seconds"),
]


def render(d: dict[str, Any]) -> str:
    cfg, info, m = d["config"], d["info"], d["metrics"]
    head = cfg.get("head") if cfg.get("model") == "sdaqec" else "linear"
    scores = [
        r
        for r in (
            _metric_row(f"final model on {m.get('test_backend')}", m.get("test")),
            _metric_row("exact, same weights", m.get("test_exact")),
            _metric_row("before stage 2, same backend", m.get("test_before_stage2")),
        )
        if r
    ]
    figs = d.get("figures", {})
    figures = [(k, figs[k]) for k in ("curves", "roc", "confusion") if k in figs]
    if d.get("reliability"):
        figures.append(("calibration", _reliability_png(d["reliability"])))
    packages = (d.get("environment", {}).get("packages") or {}).items()
    return render_page(
        "run_report.html.j2",
        title=f"qsdaqec run report: {d['run']}",
        model=cfg.get("model"),
        head=head,
        encoding=cfg.get("encoding"),
        backend=cfg.get("backend"),
        seed=cfg.get("seed"),
        status=info.get("status"),
        data=(info.get("data") or {}).get("source", cfg.get("data") or "built-in"),
        scores=table(_METRIC_COLUMNS, scores),
        confusion=_confusion(d),
        figures=figures,
        examples=d.get("examples", []),
        stages=table(_STAGE_COLUMNS, info.get("stages", [])),
        isa=d.get("isa"),
        evaluations=d.get("evaluations", []),
        jobs=d.get("jobs", []),
        noise_reports=d.get("noise_reports", []),
        config=_config_table(cfg),
        environment=table(
            [("key", "package"), ("value", "version")],
            [{"key": k, "value": v} for k, v in sorted(packages)],
        ),
    )
