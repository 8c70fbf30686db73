"""``predict``: per-image class probabilities, the predicted label and the likeliest lesions,
of image files and folders or of images in memory; ``labelled_metrics`` and
``format_predictions`` of its rows. Takes a run directory or a loaded run; what it does goes to
the ``qsdaqec.train.prediction`` logger (:mod:`qsdaqec.logs`)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..data import expand_image_paths, load_image
from ..data.dicom import ALL_FRAMES, frame_index, is_dicom, parse_frame
from ..data.images import image_tensor, in_memory_images, load_frames, native_size
from ..errors import DataError
from ..logs import get_logger, log_argument
from ..metrics import classification_metrics
from ..runs import RunDir
from .evaluation import _check_backend, resolve_threshold
from .localise import Peak, lesion_maps, peaks
from .run import LoadedRun, as_run
from .saliency import cam_layer, grad_cam, write_explanations
from .scoring import head_logits
from .trained_images import trained_files

_log = get_logger(__name__)

Images = Any
"""What ``predict`` scores: a file or folder path, a list of them, or images in memory (a numpy
array or torch tensor, one image or a batch; a PIL image; a list of those)."""


@log_argument
def predict(
    run_dir: str | Path | LoadedRun,
    images: Images,
    *,
    backend: str = "statevector",
    shots: int | None = None,
    device: str = "auto",
    threshold: float | str = 0.5,
    explain: str | Path | None = None,
    frames: str | None = None,
    exclude_train: bool = False,
) -> list[dict[str, Any]]:
    """Per-image class probabilities and the predicted label (``threshold`` on the positive
    class: a probability or a saved operating point); the backbone runs on ``device`` (a
    loaded run keeps its own). ``images``: image files and folders, or images in memory (a
    numpy array or torch tensor, one image or a batch; a PIL image; a list of those: see
    :func:`qsdaqec.data.images.in_memory_images`), whose rows name them by position, ``image``
    0, 1, .... An image inside a folder named like one of the run's classes gets that
    ``label``. A model with a lesion map adds the likeliest lesion, ``lesion_x``, ``lesion_y``
    (pixels of the file or array) and ``lesion_score`` (the map's probability there), and
    ``lesions``: up to :data:`LESION_PEAKS` of them, ``x y score`` separated by ``;``. With
    ``explain`` (a folder), Grad-CAM overlays of the predicted class, the lesions circled, and
    their ``index.html`` go there (:mod:`qsdaqec.train.saliency`). ``frames``: which frame of
    a DICOM cine loop (default: the run's choice), or ``all``: a row per frame, ``image``
    ``path#frame``; a DICOM row names its ``frame``. Image files the run trained on
    (:mod:`qsdaqec.train.trained_images`) are left out with ``exclude_train``, else marked
    ``trained_on``; the log says how many."""
    run = as_run(run_dir, device)
    spec = _check_backend(run, backend, lambda m: None)
    cut = resolve_threshold(run.run_dir, threshold)
    if explain is not None:
        cam_layer(run.model)  # a backbone without one fails before any image is read
    arrays = in_memory_images(images)
    if arrays is not None:
        x, sizes = image_tensor(arrays, run.cfg.image_size)
        files, sources, frame_of, trained = list(range(len(arrays))), [None] * len(sizes), [], set()
    else:
        frame = parse_frame(frames if frames is not None else run.cfg.frames, allow_all=True)
        paths = expand_image_paths(_image_paths(images))
        paths, trained = _unseen(run, paths, exclude_train, _log.info)
        files, sources, frame_of, x = _images(paths, run.cfg.image_size, frame)
        sizes = [None] * len(sources)
    logits, _ = head_logits(run.cfg, run.model.head, run.features(x), spec, shots=shots)
    prob = torch.softmax(logits, 1)
    found = _lesions(run, x)
    classes, pos = run.classes, run.positive
    rows = []
    for k, (f, p) in enumerate(zip(files, prob, strict=False)):
        pred = pos if float(p[pos]) >= cut else 1 - pos
        row: dict[str, Any] = {"image": f if sources[k] is None else str(f)}
        if sources[k] is not None and sources[k].parent.name in classes:
            row["label"] = sources[k].parent.name
        if frame_of and frame_of[k] is not None:
            row["frame"] = frame_of[k]
        row.update({f"p_{c}": round(float(p[i]), 6) for i, c in enumerate(classes)})
        row["predicted"] = classes[pred]
        if found is not None:
            size = sizes[k] or native_size(sources[k])
            row.update(_lesion_columns(found[k], size, run.cfg.image_size))
        if trained:
            row["trained_on"] = sources[k].resolve() in trained
        rows.append(row)
    if explain is not None:
        marks = [[(q.x, q.y) for q in f] for f in found] if found is not None else None
        _explain(run, x, rows, Path(explain), marks)
    return rows


def _image_paths(images: Images) -> list[Path]:
    """``images`` as a list of paths: one path, or a list of them."""
    if isinstance(images, (str, os.PathLike)):
        return [Path(images)]
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise DataError(
                f"images: {type(item).__name__} is neither a path nor an image in memory; give "
                "file paths and folders, or numpy arrays, torch tensors and PIL images, not both",
                cli={"images: ": "IMAGES: "},
            )
    return [Path(i) for i in items]


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
            "test/ part of a folder from `qsdaqec augment`), or pass exclude_train=False to "
            "score them anyway",
            cli={"exclude_train=False to ": "--include-train to "},
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
    info = RunDir(run_dir).read_info()
    classes, positive = info.classes, info.positive
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
