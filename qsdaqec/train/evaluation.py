"""``evaluate``: re-score a run's test split on a backend; ``predict``: per-image probabilities."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..data import expand_image_paths, load_image
from ..data.dicom import ALL_FRAMES, frame_index, is_dicom, parse_frame
from ..data.images import load_frames, native_size
from ..errors import BackendError, ConfigError, DataError
from ..io import atomic_write_json, read_json
from ..metrics import OPERATING_POINTS, classification_metrics
from ..runner import parse_backend
from .localise import Peak, lesion_maps, peaks
from .outputs import write_scored
from .run import LoadedRun, load_run
from .saliency import cam_layer, grad_cam, write_explanations
from .scoring import head_logits
from .trained_images import trained_files


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


def resolve_threshold(run_dir: str | Path, threshold: float | str) -> float:
    """A probability of the positive class, or an operating point the run saved from its
    validation split (``youden``, ``sens90``; see ``qsdaqec.metrics.operating_points``)."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        saved = Path(run_dir) / "metrics.json"
        points = (read_json(saved) if saved.is_file() else {}).get("operating_points") or {}
        if threshold not in OPERATING_POINTS:
            raise ConfigError(
                f"--threshold {threshold!r}: a probability in (0, 1) or one of "
                f"{', '.join(OPERATING_POINTS)}"
            ) from None
        if threshold not in points:
            raise ConfigError(
                f"--threshold {threshold}: {run_dir} saved no operating points (a run "
                "made before they were saved, or a one-class validation split); pass a number"
            ) from None
        return float(points[threshold])
    if not 0 < value < 1:
        raise ConfigError(f"--threshold {threshold}: a probability must lie in (0, 1)")
    return value


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _check_backend(run: LoadedRun, backend: str, log: Callable[[str], None]) -> None:
    """A valid backend string; hardware is reached through jobs only; a classical head ignores
    the backend (and says so)."""
    spec = parse_backend(backend)
    if run.is_quantum:
        if spec.is_hardware:
            raise BackendError(
                f"{backend}: hardware inference runs as jobs; use `qsdaqec jobs submit --run DIR "
                f"--backend {backend}` and `qsdaqec jobs fetch`"
            )
    elif not spec.is_exact:
        log(f"{backend}: not used by a classical model; evaluating the classical head")


def _balance(run: LoadedRun, feats, labels, ids):
    if int(torch.bincount(labels, minlength=2).min()) == 0:
        raise DataError("--balanced-test: the test split has one class only; nothing to balance")
    keep = balanced_subset(labels, run.cfg.seed)
    note = (
        f"balanced: majority subsampled to {int(keep.numel()) // 2} per class (seed {run.cfg.seed})"
    )
    return feats[keep], labels[keep], [ids[int(i)] for i in keep], note


def evaluate(
    run_dir: str | Path,
    backend: str = "statevector",
    *,
    balanced_test: bool = False,
    data: str | None = None,
    shots: int | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    threshold: float | str = 0.5,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score the run's test split with the head on ``backend`` (``progress``: a bar on stderr).

    Writes ``metrics.json``, ``predictions.csv``, ``roc.png`` and ``confusion.png`` to ``out``
    (default ``<run>/eval/<backend>[-balanced]``) and returns the metrics dict. ``device``:
    where the backbone computes the test features when the run did not cache them.
    ``threshold``: a probability, or a saved operating point (:func:`resolve_threshold`).
    """
    log = log or (lambda m: None)
    run = load_run(run_dir, device)
    _check_backend(run, backend, log)
    cut = resolve_threshold(run.run_dir, threshold)
    t0 = time.perf_counter()
    feats, labels, ids = run.test_features(data)
    note = None
    if balanced_test:
        feats, labels, ids, note = _balance(run, feats, labels, ids)
    where = backend if run.is_quantum else "classical"
    log(f"scoring {len(ids)} test image(s) with the head on {where}")
    with tqdm(
        total=len(ids), desc=where, leave=False, disable=not progress, file=sys.stderr
    ) as bar:
        logits, _ = head_logits(
            run.cfg, run.model.head, feats, backend, shots=shots, on_chunk=bar.update
        )
    prob = torch.softmax(logits, 1)
    pos = run.positive
    m = classification_metrics(labels.numpy(), prob[:, pos].numpy(), positive=pos, threshold=cut)
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
    suffix = "-balanced" if balanced_test else ""
    dest = Path(out) if out else run.run_dir / "eval" / (_slug(where) + suffix)
    atomic_write_json(dest / "metrics.json", result)
    title = f"{run.run_dir.name} on {where}" + (" (balanced test)" if balanced_test else "")
    write_scored(
        dest,
        "predictions.csv",
        threshold=cut,
        ids=ids,
        labels=labels,
        prob=prob,
        metrics=m,
        classes=run.classes,
        positive=pos,
        title=title,
    )
    result["out"] = str(dest)
    return result


def predict(
    run_dir: str | Path,
    images: Sequence[str | Path],
    *,
    backend: str = "statevector",
    shots: int | None = None,
    device: str = "auto",
    threshold: float | str = 0.5,
    explain: str | Path | None = None,
    frames: str | None = None,
    exclude_train: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Per-image class probabilities and the predicted label (``threshold`` on the positive
    class: a probability or a saved operating point); the backbone runs on ``device``. An
    image inside a folder named like one of the run's classes gets that ``label``. A model with
    a lesion map adds the likeliest lesion, ``lesion_x``, ``lesion_y`` (pixels of the file)
    and ``lesion_score`` (the map's probability there), and ``lesions``: up to
    :data:`LESION_PEAKS` of them, ``x y score`` separated by ``;``. With ``explain`` (a
    folder), Grad-CAM overlays of the predicted class, the lesions circled, and their
    ``index.html`` go there (:mod:`qsdaqec.train.saliency`). ``frames``: which frame of a
    DICOM cine loop (default: the run's choice), or ``all``: a row per frame, ``image``
    ``path#frame``; a DICOM row names its ``frame``. Images the run trained on
    (:mod:`qsdaqec.train.trained_images`) are left out with ``exclude_train``, else marked
    ``trained_on``; ``log`` says how many."""
    log = log or (lambda m: None)
    run = load_run(run_dir, device)
    _check_backend(run, backend, lambda m: None)
    cut = resolve_threshold(run.run_dir, threshold)
    if explain is not None:
        cam_layer(run.model)  # a backbone without one fails before any image is read
    frame = parse_frame(frames if frames is not None else run.cfg.frames, allow_all=True)
    paths, trained = _unseen(run, expand_image_paths(images), exclude_train, log)
    files, sources, frame_of, x = _images(paths, run.cfg.image_size, frame)
    logits, _ = head_logits(run.cfg, run.model.head, run.features(x), backend, shots=shots)
    prob = torch.softmax(logits, 1)
    found = _lesions(run, x)
    classes, pos = run.classes, run.positive
    rows = []
    for k, (f, p) in enumerate(zip(files, prob, strict=False)):
        pred = pos if float(p[pos]) >= cut else 1 - pos
        row: dict[str, Any] = {"image": str(f)}
        if sources[k].parent.name in classes:
            row["label"] = sources[k].parent.name
        if frame_of[k] is not None:
            row["frame"] = frame_of[k]
        row.update({f"p_{c}": round(float(p[i]), 6) for i, c in enumerate(classes)})
        row["predicted"] = classes[pred]
        if found is not None:
            row.update(_lesion_columns(found[k], native_size(sources[k]), run.cfg.image_size))
        if trained:
            row["trained_on"] = sources[k].resolve() in trained
        rows.append(row)
    if explain is not None:
        marks = [[(q.x, q.y) for q in f] for f in found] if found is not None else None
        _explain(run, x, rows, Path(explain), marks)
    return rows


def _unseen(
    run: LoadedRun, paths: list[Path], exclude: bool, log: Callable[[str], None]
) -> tuple[list[Path], set[Path]]:
    """``paths`` without the run's training images (``exclude``), or all of them and the set
    of those to mark: a score on a training image says how well the run remembers it."""
    known = trained_files(run.run_dir, run.info)
    trained = {p.resolve() for p in paths} & known
    if not trained:
        return paths, set()
    n, k = len(paths), len(trained)
    if not exclude:
        log(
            f"{k} of {n} image(s) trained the run (its split.json): marked trained_on and left "
            "out of the metrics"
        )
        return paths, trained
    if k == n:
        raise DataError(
            f"all {n} image(s) given trained the run (its split.json), so their scores would "
            "say how well it remembers them; predict on images it did not train on (e.g. the "
            "test/ part of a folder from `qsdaqec augment`), or pass --include-train to score "
            "them anyway"
        )
    log(
        f"left out {k} of {n} image(s) the run trained on (its split.json); --include-train "
        "scores them too, marked trained_on"
    )
    return [p for p in paths if p.resolve() not in trained], set()


LESION_PEAKS = 3
"""Likely lesions ``predict`` reports per image (the lesion map's strongest separate peaks)."""


def _lesions(run: LoadedRun, x: torch.Tensor) -> list[list[Peak]] | None:
    """Per image, the lesion map's peaks (pixels of ``x``); ``None`` without a lesion map."""
    if getattr(run.model, "lesion", None) is None:
        return None
    maps = lesion_maps(run.model, x, run.cfg.test_views, run.accel)
    return [peaks(m, tuple(x.shape[-2:]), k=LESION_PEAKS) for m in maps]


def _lesion_columns(found: list[Peak], size: tuple[int, int], model_size: int) -> dict[str, Any]:
    """The likeliest lesions as columns, in pixels of the file (``size``: its width, height)."""
    fx, fy = size[0] / model_size, size[1] / model_size
    spots = [(q.x * fx, q.y * fy, q.score) for q in found]
    top = spots[0] if spots else (float("nan"),) * 3
    return {
        "lesion_x": round(top[0], 1),
        "lesion_y": round(top[1], 1),
        "lesion_score": round(top[2], 4),
        "lesions": "; ".join(f"{x:.1f} {y:.1f} {s:.4f}" for x, y, s in spots),
    }


def _images(paths: list[Path], size: int, frame: str | int):
    """The images to score: one per file, or with ``all`` one per frame of a DICOM loop (named
    ``path#frame``): ``(names, source files, DICOM frame of each or None, images)``."""
    if frame != ALL_FRAMES:
        x = torch.stack([load_image(f, size, frame) for f in paths])
        frames = [frame_index(f, frame) if is_dicom(f) else None for f in paths]
        return paths, paths, frames, x
    files, sources, frames, parts = [], [], [], []
    for f in paths:
        stack = load_frames(f, size)
        dicom = is_dicom(f)
        files += [f] if len(stack) == 1 else [Path(f"{f}#{k}") for k in range(len(stack))]
        sources += [f] * len(stack)
        frames += list(range(len(stack))) if dicom else [None]
        parts.append(stack)
    return files, sources, frames, torch.cat(parts)


def _explain(run, x: torch.Tensor, rows: list[dict[str, Any]], out: Path, marks=None) -> Path:
    """Grad-CAM of each row's predicted class, in batches of 32; overlays (``marks``: the
    likely lesions circled) + index in ``out``."""
    classes = run.classes
    device = next(run.model.parameters()).device
    cams = []
    for start in range(0, x.shape[0], 32):
        part = rows[start : start + 32]
        target = torch.tensor([classes.index(r["predicted"]) for r in part], device=device)
        cam, _ = grad_cam(run.model, x[start : start + 32].to(device), target)
        cams.append(cam.cpu())
    layer = (
        "the backbone's stride-8 block"
        if getattr(run.model, "lesion", None) is not None
        else "the backbone's last convolutional layer"
    )
    return write_explanations(out, x, torch.cat(cams), rows, marks, layer)


def labelled_metrics(
    rows: list[dict[str, Any]], run_dir: str | Path, threshold: float | str = 0.5
) -> dict[str, Any] | None:
    """Metrics of :func:`predict`'s rows that have a label and did not train the run (``None``
    when there are none)."""
    rows = [r for r in rows if "label" in r and not r.get("trained_on")]
    if not rows:
        return None
    data = read_json(Path(run_dir) / "run.json")["data"]
    classes, positive = list(data["classes"]), int(data["positive"])
    threshold = resolve_threshold(run_dir, threshold)
    y = [classes.index(r["label"]) for r in rows]
    p = [r[f"p_{classes[positive]}"] for r in rows]
    return classification_metrics(y, p, positive=positive, threshold=threshold)


def format_predictions(rows: list[dict[str, Any]], fmt: str = "json") -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    fields = list(dict.fromkeys(k for r in rows for k in r)) or ["image"]
    if "label" in fields:  # some images are labelled, some not: the column right after image
        fields.remove("label")
        fields.insert(1, "label")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
