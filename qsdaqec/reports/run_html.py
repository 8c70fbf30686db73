"""The run report's page (``qsdaqec report``): one self-contained HTML file from the dict of
:func:`qsdaqec.experiments.run_report.collect`."""

from __future__ import annotations

from typing import Any

from .html import esc, fig_png, fmt, img_tag, page, plt, table

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


def _examples_html(examples: list[dict[str, Any]]) -> str:
    if not examples:
        return "<p class='note'>No test images to show.</p>"
    cells = []
    for e in examples:
        caption = (
            f"{esc(e['id'])}<br>label {esc(e['label'])}, predicted {esc(e['predicted'])} "
            f"(p {e['p_positive']:.2f})"
        )
        cells.append(
            f"<figure style='display:inline-block;margin:6px'>{img_tag(e['overlay'], e['id'])}"
            f"<figcaption class='note'>{caption}</figcaption></figure>"
        )
    return "<div class='figs'>" + "".join(cells) + "</div>"


def _config_table(cfg: dict[str, Any]) -> str:
    rows = [{"key": k, "value": str(v)} for k, v in sorted(cfg.items()) if k != "extra"]
    return table([("key", "option"), ("value", "value")], rows)


def render(d: dict[str, Any]) -> str:
    cfg, info, m = d["config"], d["info"], d["metrics"]
    head = cfg.get("head") if cfg.get("model") == "sdaqec" else "linear"
    title = f"qsdaqec run report: {d['run']}"
    parts = [
        f"<h1>{esc(title)}</h1>",
        f"<p class='meta'>model {esc(cfg.get('model'))} / {esc(head)}"
        + (f", encoding {esc(cfg.get('encoding'))}" if head == "quantum" else "")
        + f", backend {esc(cfg.get('backend'))}, seed {esc(cfg.get('seed'))}, status "
        f"{esc(info.get('status'))}; data {esc((info.get('data') or {}).get('source', cfg.get('data') or 'built-in'))}</p>",
        "<h2>Test scores</h2>",
        table(
            _METRIC_COLUMNS,
            [
                r
                for r in (
                    _metric_row(f"final model on {m.get('test_backend')}", m.get("test")),
                    _metric_row("exact, same weights", m.get("test_exact")),
                    _metric_row("before stage 2, same backend", m.get("test_before_stage2")),
                )
                if r
            ],
        ),
    ]
    c = d.get("confusion")
    if c:
        t = d["threshold"]
        parts += [
            f"<h2>Confusion matrix at threshold {esc(t['given'])} (p ≥ {t['cut']:.3f})</h2>",
            table(
                [
                    ("true", "true class"),
                    ("pn", f"predicted {c['negative']}"),
                    ("pp", f"predicted {c['positive']}"),
                ],
                [
                    {"true": c["negative"], "pn": c["tn"], "pp": c["fp"]},
                    {"true": c["positive"], "pn": c["fn"], "pp": c["tp"]},
                ],
            ),
        ]
    figs = d.get("figures", {})
    parts.append("<h2>Training curves, ROC, confusion (threshold 0.5)</h2><div class='figs'>")
    parts += [img_tag(figs[k], k) for k in ("curves", "roc", "confusion") if k in figs]
    if d.get("reliability"):
        parts.append(img_tag(_reliability_png(d["reliability"]), "calibration"))
    parts.append("</div>")
    parts += [
        "<h2>Test images with Grad-CAM of the predicted class</h2>",
        _examples_html(d.get("examples", [])),
    ]
    stages = info.get("stages", [])
    parts += [
        "<h2>Stages and backend</h2>",
        table(
            [
                ("stage", "stage"),
                ("name", "what"),
                ("backend", "backend"),
                ("epochs", "epochs"),
                ("best_epoch", "best epoch"),
                ("seconds", "seconds"),
            ],
            stages,
        ),
    ]
    if d.get("isa"):
        i = d["isa"]
        parts.append(
            f"<p>Head transpiled for {esc(i['backend'])}: depth {fmt(i['depth'])}, "
            f"{fmt(i['two_qubit_gates'])} two-qubit gates.</p>"
        )
    links = [
        f"<li><a href='{esc(e['link'])}'>evaluation {esc(e['name'])}</a></li>"
        for e in d.get("evaluations", [])
    ]
    links += [
        f"<li><a href='{esc(j['link'])}'>job record {esc(j['id'])}</a> ({esc(j['backend'])}, {esc(j['status'])})</li>"
        for j in d.get("jobs", [])
    ]
    links += [
        f"<li><a href='{esc(n['link'])}'>noise report {esc(n['link'])}</a> "
        f"(made {esc(n.get('created', '?'))})</li>"
        for n in d.get("noise_reports", [])
    ]
    parts += [
        "<h2>Evaluations, hardware jobs and noise reports of this run</h2>",
        f"<ul>{''.join(links)}</ul>" if links else "<p class='note'>None yet.</p>",
        "<h2>Configuration</h2>",
        _config_table(cfg),
        "<h2>Environment</h2>",
        table(
            [("key", "package"), ("value", "version")],
            [
                {"key": k, "value": v}
                for k, v in sorted((d.get("environment", {}).get("packages") or {}).items())
            ],
        ),
    ]
    return page(title, "\n".join(parts))
