"""Predictions of fetched jobs: stored expectation values through the run's output layer
(``predictions.csv``/``.json``) and, when labels are known, ``metrics.json``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import JobError
from ...io import atomic_write_json, atomic_write_text
from ...metrics import classification_metrics
from ...quantum.readout import readout_probabilities
from .. import records as R
from ..records import JobRecord, Part


def _fmt(x: float) -> str:
    return repr(float(x))


def write_predictions(record: JobRecord) -> tuple[Path | None, dict[str, Any] | None]:
    """Join stored expectation values with the output layer; write CSV, JSON and metrics.

    Only samples with stored results are listed (``complete`` says whether that is all of
    them). The files depend on the stored results only, so writing them twice is identical.
    """
    fetched = [p for p in record.parts if p.state == R.FETCHED]
    if not fetched:
        return None, None
    ids = record.samples["ids"]
    labels = record.samples.get("labels")
    classes = record.samples.get("classes") or ["0", "1"]
    positive = int(record.samples.get("positive", 1))
    rows = []
    for part in sorted(fetched, key=lambda p: p.start):
        evs, stds = R.load_result(record, part)
        if record.output_layer is not None:
            w = np.asarray(record.output_layer["weight"])
            b = np.asarray(record.output_layer["bias"])
            if w.shape[1] != evs.shape[1]:
                raise JobError(
                    f"output layer expects {w.shape[1]} expectation values, job {part.job_id} "
                    f"returned {evs.shape[1]}"
                )
            probs = readout_probabilities(evs, w, b)
        else:
            probs = None
        for i in range(part.size):
            k = part.start + i
            row: dict[str, Any] = {"sample_id": ids[k], "job_id": part.job_id}
            if labels is not None:
                row["label"] = int(labels[k])
                row["true_class"] = classes[int(labels[k])]
            if probs is not None:
                pred = int(np.argmax(probs[i]))
                row["predicted"] = pred
                row["predicted_class"] = classes[pred] if pred < len(classes) else str(pred)
                for c, name in enumerate(classes[: probs.shape[1]]):
                    row[f"p_{name}"] = float(probs[i, c])
            for j in range(evs.shape[1]):
                row[f"ev_{j}"] = float(evs[i, j])
                row[f"std_{j}"] = float(stds[i, j])
            rows.append((k, row))
    rows.sort(key=lambda kr: kr[0])
    rows = [r for _, r in rows]
    n_total = record.samples["count"]
    complete = len(rows) == n_total
    folder = record.folder
    columns = list(rows[0].keys())
    lines = [",".join(columns)]
    for r in rows:
        lines.append(
            ",".join(_fmt(r[c]) if isinstance(r[c], float) else _csv(r[c]) for c in columns)
        )
    atomic_write_text(folder / "predictions.csv", "\n".join(lines) + "\n")
    done_ids = {r["sample_id"] for r in rows}
    reference = _reference_comparison(record, fetched, classes)
    payload = {
        "record_id": record.record_id,
        "backend": record.backend,
        "circuit_hash": record.circuit.get("hash"),
        "complete": complete,
        "n_samples": n_total,
        "n_predicted": len(rows),
        "missing": [s for s in ids if s not in done_ids],
        "classes": classes,
        "predictions": rows,
    }
    pred_path = atomic_write_json(folder / "predictions.json", payload)
    metrics = None
    if labels is not None and record.output_layer is not None:
        pos_name = f"p_{classes[positive]}"
        metrics = classification_metrics(
            [r["label"] for r in rows], [r[pos_name] for r in rows], positive=positive
        )
        metrics = {
            **{
                k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in metrics.items()
            },
            "complete": complete,
            "n_missing": n_total - len(rows),
            "backend": record.backend,
            "record_id": record.record_id,
            "shots": record.options.get("shots"),
            "mitigation": record.options.get("mitigation"),
            **({"vs_exact": reference} if reference else {}),
        }
        atomic_write_json(folder / "metrics.json", metrics)
    return pred_path, metrics


def _reference_comparison(
    record: JobRecord, fetched: list[Part], classes: list[str]
) -> dict[str, Any] | None:
    """How far the returned expectation values are from the stored exact ones."""
    path = record.folder / "reference_evs.npy"
    if not path.is_file():
        return None
    ref = R.load_array(path)
    got, exact = [], []
    for part in fetched:
        evs, _ = R.load_result(record, part)
        got.append(evs)
        exact.append(ref[part.start : part.stop])
    got_a, exact_a = np.concatenate(got), np.concatenate(exact)
    out: dict[str, Any] = {
        "ev_mean_abs_error": float(np.mean(np.abs(got_a - exact_a))),
        "ev_max_abs_error": float(np.max(np.abs(got_a - exact_a))),
    }
    if record.output_layer is not None:
        w = np.asarray(record.output_layer["weight"])
        b = np.asarray(record.output_layer["bias"])
        p_hw = readout_probabilities(got_a, w, b)
        p_ex = readout_probabilities(exact_a, w, b)
        out["same_prediction_fraction"] = float(np.mean(p_hw.argmax(1) == p_ex.argmax(1)))
        out["prob_mean_abs_error"] = float(np.mean(np.abs(p_hw - p_ex)))
    return out


def _csv(v: Any) -> str:
    s = "" if v is None else str(v)
    if any(c in s for c in ',"\n'):
        s = '"' + s.replace('"', '""') + '"'
    return s
