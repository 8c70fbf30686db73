"""Fetched hardware jobs of a run (``RUN/jobs/``, ``qsdaqec jobs fetch``) as report points."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import QsdaqecError
from ...metrics import classification_metrics
from ...quantum.readout import readout_probabilities
from ...runner import records as R
from ...runner.records import JobRecord
from .compute import ev_errors
from .config import mitigation_label
from .sources import HeadSource


def _fetched(rec: JobRecord) -> tuple[np.ndarray, list[int]] | None:
    """(expectation values, sample indices) of a record's fetched parts; ``None`` without any
    (or when a stored result cannot be read)."""
    fetched = [p for p in rec.parts if p.state == R.FETCHED]
    if not fetched:
        return None
    evs, idx = [], []
    try:
        for part in sorted(fetched, key=lambda p: p.start):
            e, _ = R.load_result(rec, part)
            evs.append(e)
            idx.extend(range(part.start, part.stop))
    except QsdaqecError:
        return None
    return np.concatenate(evs), idx


def _point(src: HeadSource, rec: JobRecord, ev: np.ndarray, idx: list[int]) -> dict[str, Any]:
    labels = rec.samples["labels"]
    y = np.asarray([labels[k] for k in idx], dtype=np.int64)
    p = readout_probabilities(ev, rec.output_layer["weight"], rec.output_layer["bias"])
    pos = int(rec.samples.get("positive", 1))
    complete = rec.status == "complete"
    return {
        "key": f"job_{rec.record_id}",
        "label": f"{src.encoding} | {rec.backend} | hardware job {rec.record_id}",
        "kind": "job",
        "status": "ok" if complete else f"partial ({len(idx)}/{rec.samples['count']})",
        "encoding": src.encoding,
        "backend": rec.backend,
        "noise_scale": None,
        "shots": rec.options.get("shots"),
        "mitigation": mitigation_label(rec.options.get("mitigation") or "none"),
        "sweeps": ["job"],
        "metrics": classification_metrics(y, p[:, pos], positive=pos),
        "n": int(len(idx)),
        "width": None,
        "depth": rec.circuit.get("depth"),
        "two_qubit_gates": rec.circuit.get("two_qubit_gates"),
        "record": str(rec.path),
        "note": rec.options.get("note") or "",
    }


def _compare(row: dict[str, Any], src: HeadSource, rec: JobRecord, ev, idx) -> None:
    """The EV error against this run's exact head, or against the values stored at submit."""
    by_id = {sid: i for i, sid in enumerate(src.ids)}
    ids = [rec.samples["ids"][k] for k in idx]
    if all(i in by_id for i in ids):
        row.update(ev_errors(ev, src.exact_evs[[by_id[i] for i in ids]], src))
        what = "compared with this run's exact head"
    elif (rec.folder / "reference_evs.npy").is_file():
        row.update(ev_errors(ev, R.load_array(rec.folder / "reference_evs.npy")[idx], src))
        what = "samples outside this run's test split"
    else:
        return
    row["note"] = (row["note"] + "; " if row["note"] else "") + what


def job_points(src: HeadSource) -> list[dict[str, Any]]:
    """Points from fetched job records under ``RUN/jobs/`` with labels and an output layer."""
    out = []
    for rec in R.list_records(src.run_dir):
        if rec.samples.get("labels") is None or rec.output_layer is None:
            continue
        got = _fetched(rec)
        if got is None:
            continue
        row = _point(src, rec, *got)
        _compare(row, src, rec, *got)
        out.append(row)
    return out
