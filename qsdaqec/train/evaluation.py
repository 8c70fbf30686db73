"""``evaluate``: re-score a run's test split on a backend; ``predict``: per-image probabilities."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BackendError, DataError
from ..io import atomic_write_json, atomic_write_text
from ..metrics import classification_metrics, format_metrics
from .common import backend_kind, predict_logits
from .run import load_run

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm"}


def balanced_subset(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Indices keeping every minority sample and an equal, seeded random share of the majority."""
    counts = torch.bincount(labels, minlength=2)
    k = int(counts.min())
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(2):
        idx = torch.nonzero(labels == c).flatten()
        keep.append(idx if idx.numel() == k else idx[torch.randperm(idx.numel(), generator=g)[:k]])
    return torch.sort(torch.cat(keep)).values


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _check_backend(backend: str) -> None:
    from ..runner import parse_backend

    if backend_kind(parse_backend(backend)) == "ibm":
        raise BackendError(
            f"{backend}: hardware inference runs as jobs; use `qsdaqec jobs submit --run DIR "
            f"--backend {backend}` and `qsdaqec jobs fetch`"
        )


def evaluate(
    run_dir: str | Path,
    backend: str = "statevector",
    *,
    balanced_test: bool = False,
    data: str | None = None,
    shots: int | None = None,
    out: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score the run's test split with the head on ``backend``.

    Writes ``metrics.json``, ``predictions.csv``, ``roc.png`` and ``confusion.png`` to ``out``
    (default ``<run>/eval/<backend>[-balanced]``) and returns the metrics dict.
    """
    from ..reports.plots import plot_confusion, plot_roc

    log = log or (lambda m: None)
    run = load_run(run_dir)
    if run.is_quantum:
        _check_backend(backend)
    elif backend != "statevector":
        log(f"{backend}: not used by a classical model; evaluating the classical head")
    t0 = time.perf_counter()
    feats, labels, ids = run.test_features(data)
    note = None
    if balanced_test:
        if int(torch.bincount(labels, minlength=2).min()) == 0:
            raise DataError(
                "--balanced-test: the test split has one class only; nothing to balance"
            )
        keep = balanced_subset(labels, run.cfg.seed)
        note = f"balanced: majority subsampled to {int(keep.numel()) // 2} per class (seed {run.cfg.seed})"
        feats, labels, ids = feats[keep], labels[keep], [ids[int(i)] for i in keep]
    head = run.head_on(backend, shots=shots)
    logits = predict_logits(head, feats, 32)
    prob = torch.softmax(logits, 1)
    pos = run.positive
    m = classification_metrics(labels.numpy(), prob[:, pos].numpy(), positive=pos)
    where = backend if run.is_quantum else "classical"
    result = {
        "test": m,
        "backend": where,
        "shots": shots,
        "balanced_test": balanced_test,
        "balancing": note,
        "data": data or run.info["data"]["source"],
        "seconds": round(time.perf_counter() - t0, 2),
        "run": str(run.run_dir),
    }
    dest = (
        Path(out)
        if out
        else run.run_dir / "eval" / (_slug(where) + ("-balanced" if balanced_test else ""))
    )
    atomic_write_json(dest / "metrics.json", result)
    atomic_write_text(
        dest / "predictions.csv", _predictions_csv(ids, labels, prob, run.classes, pos)
    )
    title = f"{run.run_dir.name} on {where}" + (" (balanced test)" if balanced_test else "")
    plot_roc(dest / "roc.png", labels.numpy(), prob[:, pos].numpy(), positive=pos, title=title)
    plot_confusion(
        dest / "confusion.png", m["confusion_matrix"], run.classes, positive=pos, title=title
    )
    result["out"] = str(dest)
    log(f"test on {where}{' (balanced)' if balanced_test else ''}: {format_metrics(m)} -> {dest}")
    return result


def _predictions_csv(ids, labels, prob, classes, pos) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "label", *[f"p_{c}" for c in classes], "predicted"])
    for i, sid in enumerate(ids):
        pred = pos if float(prob[i, pos]) >= 0.5 else 1 - pos
        w.writerow(
            [sid, classes[int(labels[i])], *[f"{float(p):.6f}" for p in prob[i]], classes[pred]]
        )
    return buf.getvalue()


# ----------------------------------------------------------------------------- predict


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{p}: no images (.png, .jpg, ...) in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such image file")
    if not files:
        raise DataError("no images given; pass image files or folders")
    return files


def load_image(path: Path, size: int) -> torch.Tensor:
    """A grayscale image as ``(1, size, size)`` float32 in [0, 1], converted exactly as the
    dataset loader converts a training image (same reader, same antialiased resize)."""
    from ..data import loaders

    try:
        arr = loaders._read_image(Path(path), 1)
    except loaders._BadFile as e:
        raise DataError(f"{path}: {e}") from None
    arr = loaders._resize(np.ascontiguousarray(arr[None], dtype=np.float32), (size, size))[0]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).reshape(1, size, size)


def predict(
    run_dir: str | Path,
    images: Sequence[str | Path],
    *,
    backend: str = "statevector",
    shots: int | None = None,
) -> list[dict[str, Any]]:
    """Per-image class probabilities and the predicted label (threshold 0.5 on the positive class)."""
    run = load_run(run_dir)
    if run.is_quantum:
        _check_backend(backend)
    files = _expand(images)
    x = torch.stack([load_image(f, run.cfg.image_size) for f in files])
    feats = run.features(x)
    head = run.head_on(backend, shots=shots)
    prob = torch.softmax(predict_logits(head, feats, 32), 1)
    classes, pos = run.classes, run.positive
    rows = []
    for f, p in zip(files, prob, strict=False):
        pred = pos if float(p[pos]) >= 0.5 else 1 - pos
        row: dict[str, Any] = {"image": str(f)}
        row.update({f"p_{c}": round(float(p[i]), 6) for i, c in enumerate(classes)})
        row["predicted"] = classes[pred]
        rows.append(row)
    return rows


def format_predictions(rows: list[dict[str, Any]], fmt: str = "json") -> str:
    if fmt == "json":
        import json

        return json.dumps(rows, indent=2) + "\n"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["image"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
