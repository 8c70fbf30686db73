"""``qsdaqec report --run R``: what one run did, gathered for a single page.

:func:`collect` reads the run's files (config, environment, run record, metrics, test
predictions, the figures ``fit`` drew), computes what is not on disk (the confusion matrix at
the chosen threshold, a reliability curve, Grad-CAM of a few test images per class, the
transpiled head on the run's backend) and finds the run's evaluations and job records.
:mod:`qsdaqec.reports.run_html` renders it; nothing here writes HTML.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import RunError
from ..io import read_json
from ..quantum import HeadConfig, build_head_circuit
from ..runner import make_estimator, parse_backend
from ..runner.records import scan_records
from ..runs import RunDir
from ..train import load_run, resolve_threshold
from ..train.saliency import grad_cam, overlay_png
from .noise.runlinks import noise_reports

EXAMPLES_PER_CLASS = 3
CALIBRATION_BINS = 10


def _predictions(run: Path) -> list[dict[str, str]]:
    path = RunDir(run).predictions
    if not path.is_file():
        raise RunError(
            f"{run}: no predictions_test.csv; is the run finished? (`qsdaqec fit --out {run} --resume`)"
        )
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def confusion(rows, positive: str, negative: str, cut: float) -> dict[str, int]:
    """Counts at probability ``cut`` of the positive class (rows with a label)."""
    out = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for r in rows:
        pred_pos = float(r[f"p_{positive}"]) >= cut
        true_pos = r["label"] == positive
        key = ("t" if pred_pos == true_pos else "f") + ("p" if pred_pos else "n")
        out[key] += 1
    out["negative"], out["positive"] = negative, positive
    return out


def reliability(rows, positive: str, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Mean predicted probability and observed frequency of the positive class per probability
    bin (bins with samples only), and the Brier score."""
    p = np.array([float(r[f"p_{positive}"]) for r in rows])
    y = np.array([r["label"] == positive for r in rows], dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    points = [
        {
            "predicted": float(p[idx == b].mean()),
            "observed": float(y[idx == b].mean()),
            "n": int((idx == b).sum()),
        }
        for b in range(bins)
        if (idx == b).any()
    ]
    return {"points": points, "brier": float(np.mean((p - y) ** 2)), "n": len(rows)}


def _examples(run_dir: Path, device: str) -> list[dict[str, Any]]:
    """Up to :data:`EXAMPLES_PER_CLASS` test images per class with the Grad-CAM of their
    predicted class (exact head)."""
    run = load_run(run_dir, device)
    prep = run.data(None)
    x, y, ids = prep.part("test")
    picks = [
        i
        for c in range(len(run.classes))
        for i in np.flatnonzero(y.numpy() == c)[:EXAMPLES_PER_CLASS]
    ]
    if not picks:
        return []
    xs = x[picks]
    cam, logits = grad_cam(run.model, xs.to(next(run.model.parameters()).device))
    prob = torch.softmax(logits.float(), 1).cpu()
    return [
        {
            "id": ids[i],
            "label": run.classes[int(y[i])],
            "predicted": run.classes[int(prob[j].argmax())],
            "p_positive": float(prob[j, run.positive]),
            "overlay": overlay_png(xs[j, 0].numpy(), cam[j].cpu().numpy()),
        }
        for j, i in enumerate(picks)
    ]


def _isa(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The run's head transpiled for its backend (devices only): depth and two-qubit gates."""
    if cfg.get("model") != "sdaqec" or cfg.get("head") != "quantum":
        return None
    spec = parse_backend(cfg.get("backend") or "statevector")
    if not spec.has_device:
        return None
    hc = build_head_circuit(HeadConfig(encoding=cfg.get("encoding") or "amplitude"))
    stats = make_estimator(spec).prepare(hc.circuit).stats
    return {
        "backend": str(spec),
        "depth": stats.get("depth"),
        "two_qubit_gates": stats.get("two_qubit_gates"),
    }


def _outputs(run: Path) -> dict[str, list[dict[str, Any]]]:
    """The run's evaluations (``RUN/eval/*``), job records and noise reports, as links relative
    to the run folder."""
    evals = [
        {
            "name": d.name,
            "link": f"eval/{d.name}/metrics.json",
            "metrics": read_json(d / RunDir.METRICS).get("test"),
        }
        for d in sorted((run / RunDir.EVAL).glob("*"))
        if (d / RunDir.METRICS).is_file()
    ]
    good, damaged = scan_records(run)
    jobs = [
        {"id": r.record_id, "backend": r.backend, "status": r.status, "link": f"jobs/{r.path.name}"}
        for r in good
    ]
    jobs += [  # shown, never skipped: it may name jobs that ran
        {
            "id": d.record_id,
            "backend": "?",
            "status": f"DAMAGED ({d.reason})",
            "link": f"jobs/{d.path.name}",
        }
        for d in damaged
    ]
    return {"evaluations": evals, "jobs": jobs, "noise_reports": noise_reports(run)}


def collect(
    run_dir: str | Path, *, threshold: float | str = 0.5, device: str = "cpu"
) -> dict[str, Any]:
    """Everything the run report shows (see the module docstring)."""
    run = Path(run_dir)
    rd = RunDir(run)
    if not rd.finished:
        raise RunError(
            f"{run}: not a finished run (no model.pt, or its run.json does not say finished); "
            "pass the --out of a finished `qsdaqec fit`"
        )
    cfg = rd.read_config()
    metrics = read_json(rd.metrics)
    rows = _predictions(run)
    classes = [k[2:] for k in rows[0] if k.startswith("p_")] if rows else []
    positive = metrics.get("positive_class") or (classes[-1] if classes else "")
    negative = next((c for c in classes if c != positive), "")
    cut = resolve_threshold(run, threshold)
    labelled = [r for r in rows if r.get("label")]
    return {
        "run": str(run),
        "config": cfg,
        "environment": read_json(rd.environment) if rd.environment.is_file() else {},
        "info": rd.read_info().raw,
        "metrics": metrics,
        "threshold": {"given": str(threshold), "cut": cut},
        "confusion": confusion(labelled, positive, negative, cut) if labelled else None,
        "reliability": reliability(labelled, positive) if labelled else None,
        "figures": {
            name: (run / f"{name}.png").read_bytes()
            for name in ("curves", "roc", "confusion")
            if (run / f"{name}.png").is_file()
        },
        "examples": _examples(run, device),
        "isa": _isa(cfg),
        **_outputs(run),
    }
