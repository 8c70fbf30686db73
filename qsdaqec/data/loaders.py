"""Load a labelled image data set: an ImageFolder tree or a MedMNIST-style ``.npz``.

ImageFolder: ``DIR/<class>/**/<image>``, one subfolder per class, classes sorted by name
(label = index), PNG / JPEG / TIFF / BMP in any common mode. Pixel values map to ``[0, 1]`` by
the range of their format: 8-bit by 255, 16-bit (``I;16*``, and ``I`` holding values within
0..65535) by 65535, never clipped to 8 bits; float (``F``) images already in ``[0, 1]`` are kept,
others min-max scaled. Colour becomes luminance (ITU-R 601) for ``channels=1``; an alpha channel
is ignored (as torchvision's ImageFolder does). Hidden files and folders, and the top-level
``manifest.json`` / ``lesions.json`` / ``contact_sheet.png`` the synthetic generator writes, are
ignored.

``.npz``: keys ``train_images``/``train_labels`` and optionally ``val_*``/``test_*``
(MedMNIST), whose splits are kept, or ``images``/``labels``; labels ``(N,)`` or ``(N, 1)``;
images ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``; an optional ``classes`` string array
names the classes.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from .dicom import DEFAULT_FRAME, DICOM_EXTENSIONS, DicomError, is_dicom, read_dicom
from .split import Split, class_counts

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
IGNORED_TOP_LEVEL = frozenset({"manifest.json", "contact_sheet.png", "preview.png", "lesions.json"})
SPLIT_NAMES = ("train", "val", "test")
SYNTHETIC_PREFIX = "syn_"
"""File names of synthetic images (``qsdaqec augment``) start with this; a manifest.json of
``qsdaqec augment`` beside them lists them too."""
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini"})
POSITIVE_NAME = "stenosis"
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class LabeledImages:
    """A labelled image set, ready for torch. ``labels[i]`` indexes ``classes``."""

    images: torch.Tensor  # float32 (N, C, H, W) in [0, 1]; streamed: a StreamedImages
    labels: torch.Tensor  # int64 (N,)
    classes: list[str]
    ids: list[str]  # stable per-sample ids: relative path, or "<split>/<index>" for .npz
    positive: int  # index of the diagnosis class (e.g. "stenosis")
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    split: Split | None = None  # predefined train/val/test (.npz, or train/val/test folders)
    source: str = ""
    synthetic: np.ndarray | None = None  # bool (N,): made by an augmentor (None: none are)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def positive_name(self) -> str:
        return self.classes[self.positive]

    def counts(self) -> np.ndarray:
        return class_counts(self.labels, len(self.classes))

    def subset(self, index) -> LabeledImages:
        """The samples at ``index`` (an index array); no predefined split, nothing skipped."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        streamed = not isinstance(self.images, torch.Tensor)  # rows stay on disk
        return replace(
            self,
            images=self.images.take(idx) if streamed else self.images[idx],
            labels=self.labels[idx],
            ids=[self.ids[i] for i in idx.tolist()],
            skipped=[],
            split=None,
            synthetic=None if self.synthetic is None else self.synthetic[idx.numpy()],
        )


class _BadFile(Exception):
    """Internal: one unusable file; the message is the reason."""


# --------------------------------------------------------------------------------------------
# pixel conversion
# --------------------------------------------------------------------------------------------


def _scale_integer(arr: np.ndarray) -> np.ndarray:
    """Integer pixels to [0, 1] by their format's range."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo >= 0 and hi <= 255 and arr.dtype.itemsize == 1:
        return arr.astype(np.float32) / 255.0
    if lo >= 0 and hi <= 65535:
        return arr.astype(np.float32) / 65535.0
    return _minmax(arr.astype(np.float64))


def _scale_float(arr: np.ndarray) -> np.ndarray:
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise _BadFile("contains NaN or infinite pixel values")
    if arr.size == 0 or (arr.min() >= 0.0 and arr.max() <= 1.0):
        return arr
    return _minmax(arr)


def _minmax(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def _scale_array(arr: np.ndarray) -> np.ndarray:
    """Pixels of an array (``.npz`` data, images in memory) as float32 in [0, 1]: booleans as
    0/1, integers by their type's range, floats in [0, 1] kept, in [0, 255] divided by 255,
    others stretched. ``_BadFile`` for non-finite values or another dtype."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return _scale_integer(arr)
    if not np.issubdtype(arr.dtype, np.floating):
        raise _BadFile(f"has dtype {arr.dtype}; expected integer or float pixels")
    f = arr.astype(np.float32)
    if not np.isfinite(f).all():
        raise _BadFile("contains NaN or infinite pixel values")
    if f.size and f.min() >= 0 and f.max() <= 1:
        return f
    if f.size and f.min() >= 0 and f.max() <= 255:
        return f / 255.0
    return _minmax(f)


def _to_channels(hwc: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, C) float in [0, 1] with C in 1/3/4 -> (channels, H, W)."""
    c = hwc.shape[2]
    if c in (2, 4):  # drop alpha
        hwc = hwc[:, :, : c - 1]
        c -= 1
    if channels == 1:
        out = hwc if c == 1 else (hwc[:, :, :3] @ _LUMA)[:, :, None]
    else:
        out = np.repeat(hwc, 3, axis=2) if c == 1 else hwc[:, :, :3]
    return np.ascontiguousarray(np.moveaxis(out, 2, 0), dtype=np.float32)


def _pil_to_array(im: Image.Image, channels: int) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = _scale_integer(np.asarray(im))
    elif mode == "F":
        arr = _scale_float(np.asarray(im))
    elif mode == "L":
        arr = np.asarray(im).astype(np.float32) / 255.0
    elif mode in ("RGB", "RGBA"):
        arr = np.asarray(im).astype(np.float32) / 255.0
    elif mode in ("LA", "La"):
        arr = np.asarray(im.getchannel(0)).astype(np.float32) / 255.0
    elif mode == "1":
        arr = np.asarray(im.convert("L")).astype(np.float32) / 255.0
    else:  # P, PA, CMYK, YCbCr, LAB, HSV, RGBX, ...
        arr = np.asarray(im.convert("RGB")).astype(np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return _to_channels(arr, channels)


def _read_image(path: Path, channels: int, frame: str | int = DEFAULT_FRAME) -> np.ndarray:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise _BadFile(f"cannot read ({e.strerror or e})") from None
    if size == 0:
        raise _BadFile("empty file (0 bytes)")
    if is_dicom(path):
        try:
            # a copy: the frame is a view into the whole loop, which it would keep alive
            return _to_channels(read_dicom(path, frame)[:, :, None], channels).copy()
        except DicomError as e:
            raise _BadFile(str(e)) from None
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        exts = "/".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS | DICOM_EXTENSIONS))
        raise _BadFile(f"not an image file (extension '{path.suffix}', expected {exts})")
    try:
        with Image.open(path) as im:
            im.load()
            arr = _pil_to_array(im, channels)
    except _BadFile:
        raise
    except Image.DecompressionBombError:
        raise _BadFile("image too large (decompression-bomb limit)") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError) as e:
        reason = "unknown or unsupported format" if "cannot identify" in str(e) else str(e)
        raise _BadFile(f"not a readable image ({reason})") from None
    if arr.shape[1] == 0 or arr.shape[2] == 0:
        raise _BadFile("image has zero width or height")
    return arr


def _resize(batch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) float -> (N, C, *size), antialiased bilinear."""
    if batch.shape[-2:] == size:
        return batch
    out = torch.nn.functional.interpolate(
        torch.from_numpy(batch), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    return out.clamp_(0.0, 1.0).numpy()


def _norm_size(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    h, w = (int(v) for v in image_size)
    if h < 1 or w < 1:
        raise DataError(f"image size {image_size}: must be positive")
    return (h, w)


# --------------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------------


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name not in IGNORED_NAMES


def _walk_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if _visible(Path(d)))
        out.extend(Path(dirpath, f) for f in sorted(filenames) if _visible(Path(f)))
    return sorted(out)


def _load_folder(
    root: Path,
    size: tuple[int, int] | None,
    skip_bad: bool,
    channels: int,
    frame: str | int = DEFAULT_FRAME,
    min_classes: int = 2,
    keep: bool = True,
) -> tuple[np.ndarray | list[Path], np.ndarray, list[str], list[str], list[tuple[str, str]]]:
    """The images of the class folders of ``root`` (label = index of the sorted class names),
    with labels, classes, ids and the skipped files. ``keep=False`` checks every file as it
    would be loaded but returns the file paths instead of the pixels (a streamed data set)."""
    entries = [e for e in sorted(root.iterdir()) if _visible(e)]
    class_dirs = [e for e in entries if e.is_dir()]
    stray = [e for e in entries if not e.is_dir() and e.name not in IGNORED_TOP_LEVEL]
    layout = f"expected {root}/<class>/<image>, e.g. {root}/normal/a.png and {root}/stenosis/b.png"
    if not class_dirs:
        if not stray:
            raise DataError(f"{root}: empty folder; {layout}")
        raise DataError(
            f"{root}: no class subfolders (found {len(stray)} file(s) at the top level); {layout}"
        )
    if len(class_dirs) < min_classes:
        raise DataError(
            f"{root}: only one class folder ('{class_dirs[0].name}'); a classifier needs at least "
            f"two, {layout}"
        )
    classes = [d.name for d in class_dirs]
    arrays: list = []
    labels: list[int] = []
    ids: list[str] = []
    skipped: list[tuple[str, str]] = []
    native: tuple[tuple[int, int], Path] | None = None
    for label, d in enumerate(class_dirs):
        files = _walk_files(d)
        if not files:
            raise DataError(f"{d}: class folder has no images; add images or remove the folder")
        for f in files:
            try:
                arr = _read_image(f, channels, frame)
            except _BadFile as e:
                if not skip_bad:
                    raise DataError(f"{f}: {e}; remove or replace it, or pass --skip-bad") from None
                skipped.append((str(f), str(e)))
                continue
            if size is not None:
                if keep:  # a streamed row is resized when it is read
                    arr = _resize(arr[None], size)[0]
            elif native is None:
                native = (arr.shape[-2:], f)
            elif arr.shape[-2:] != native[0]:
                (h0, w0), f0 = native
                raise DataError(
                    f"{f}: size {arr.shape[2]}x{arr.shape[1]} differs from {f0} ({w0}x{h0}); "
                    "pass an image size (--image-size) to resize every image"
                )
            arrays.append(arr if keep else f)
            labels.append(label)
            ids.append(f.relative_to(root).as_posix())
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    empty = [c for c, k in zip(classes, counts, strict=True) if k == 0]
    if empty:
        raise DataError(
            f"{root / empty[0]}: no usable images left after skipping {len(skipped)} bad file(s); "
            "fix or replace the bad files"
        )
    images = np.stack(arrays) if keep else arrays
    return images, np.asarray(labels, dtype=np.int64), classes, ids, skipped


def is_split_folder(root: Path) -> bool:
    """A folder already split into ``train/``, ``val/`` and ``test/`` (each of class folders),
    as ``qsdaqec augment`` writes it."""
    return all((root / name).is_dir() for name in SPLIT_NAMES)


def _load_split_folder(
    root: Path,
    size,
    skip_bad: bool,
    channels: int,
    frame=DEFAULT_FRAME,
    min_classes: int = 2,
    keep: bool = True,
):
    """The three parts of a split folder as one set whose split is predefined (ids keep the
    part: ``train/stenosis/a.png``)."""
    parts = [
        _load_folder(root / name, size, skip_bad, channels, frame, min_classes, keep)
        for name in SPLIT_NAMES
    ]
    classes = parts[0][2]
    for name, part in zip(SPLIT_NAMES[1:], parts[1:], strict=True):
        if part[2] != classes:
            raise DataError(
                f"{root / name}: classes {part[2]} differ from {root / 'train'}'s {classes}; "
                "every part needs the same class folders"
            )
    images = np.concatenate([p[0] for p in parts]) if keep else [f for p in parts for f in p[0]]
    labels = np.concatenate([p[1] for p in parts])
    ids = [f"{name}/{i}" for name, p in zip(SPLIT_NAMES, parts, strict=True) for i in p[3]]
    skipped = [s for p in parts for s in p[4]]
    bounds = np.cumsum([0] + [len(p[1]) for p in parts])
    split = Split(
        *(np.arange(a, b, dtype=np.int64) for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    )
    return images, labels, classes, ids, skipped, split


def _synthetic(root: Path, ids: list[str]) -> np.ndarray | None:
    """Which samples are synthetic: a ``syn_`` file name, or so listed in the folder's
    ``qsdaqec augment`` manifest. ``None`` when none are."""
    flagged: set[str] = set()
    manifest = root / "manifest.json" if root.is_dir() else None
    if manifest is not None and manifest.is_file():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8")).get("files") or []
            flagged = {f["path"] for f in files if isinstance(f, dict) and f.get("synthetic")}
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            flagged = set()  # not ours (the built-in data's manifest has no "files")
    mask = np.array(
        [Path(i).name.startswith(SYNTHETIC_PREFIX) or i in flagged for i in ids], dtype=bool
    )
    return mask if mask.any() else None


# --------------------------------------------------------------------------------------------
# .npz
# --------------------------------------------------------------------------------------------


def _npz_images(path: Path, key: str, arr: np.ndarray, channels: int) -> np.ndarray:
    if arr.ndim == 3:
        nhwc = arr[..., None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        nhwc = arr
    elif arr.ndim == 4 and arr.shape[1] in (1, 3, 4):
        nhwc = np.moveaxis(arr, 1, -1)
    else:
        raise DataError(
            f"{path}: '{key}' has shape {arr.shape}; expected (N, H, W), (N, H, W, C) or "
            "(N, C, H, W) with C in 1/3/4"
        )
    try:
        scaled = _scale_array(nhwc)
    except _BadFile as e:
        raise DataError(f"{path}: '{key}' {e}") from None
    c = scaled.shape[-1]
    if c in (2, 4):
        scaled = scaled[..., : c - 1]
        c -= 1
    if channels == 1:
        out = scaled if c == 1 else (scaled[..., :3] @ _LUMA)[..., None]
    else:
        out = np.repeat(scaled, 3, axis=-1) if c == 1 else scaled[..., :3]
    return np.ascontiguousarray(np.moveaxis(out, -1, 1), dtype=np.float32)


def _npz_labels(path: Path, key: str, arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(
            f"{path}: '{key}' has shape {arr.shape}; expected one class index per image, shape "
            "(N,) or (N, 1) (multi-label data is not supported)"
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.mod(arr, 1) == 0):
            raise DataError(f"{path}: '{key}' must hold integer class indices, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise DataError(f"{path}: '{key}' has negative class index {int(arr.min())}")
    return arr


def _load_npz(path: Path, size: tuple[int, int] | None, channels: int):
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz ({e}); re-save it with numpy.savez") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path}: a single .npy array, not an .npz archive; save it with numpy.savez"
        )
    with z:
        keys = set(z.files)
        found = ", ".join(sorted(keys)) or "none"
        parts = [
            s for s in ("train", "val", "test") if f"{s}_images" in keys or f"{s}_labels" in keys
        ]
        if parts:
            for s in parts:
                for a, b in ((f"{s}_images", f"{s}_labels"), (f"{s}_labels", f"{s}_images")):
                    if a in keys and b not in keys:
                        raise DataError(
                            f"{path}: has '{a}' but no '{b}' (keys: {found}); each split needs "
                            "both <split>_images and <split>_labels"
                        )
            if "train" not in parts:
                raise DataError(
                    f"{path}: no 'train_images'/'train_labels' (keys: {found}); a MedMNIST-style "
                    "file needs a train split"
                )
            names = [(s, f"{s}_images", f"{s}_labels") for s in parts]
        elif "images" in keys or "labels" in keys:
            if not {"images", "labels"} <= keys:
                missing = "labels" if "images" in keys else "images"
                raise DataError(f"{path}: has no '{missing}' array (keys: {found}); add it")
            names = [("all", "images", "labels")]
        else:
            raise DataError(
                f"{path}: no image arrays (keys: {found}); expected train_images/train_labels "
                "[val_*, test_*] (MedMNIST) or images/labels"
            )
        imgs, labs, ids, bounds = [], [], [], {}
        start = 0
        for s, ik, lk in names:
            try:
                ia, la = z[ik], z[lk]
            except ValueError as e:  # object arrays need pickle, which we never allow
                raise DataError(f"{path}: cannot read '{ik}'/'{lk}' ({e})") from None
            im = _npz_images(path, ik, ia, channels)
            lb = _npz_labels(path, lk, la)
            if len(im) != len(lb):
                raise DataError(
                    f"{path}: '{ik}' has {len(im)} images but '{lk}' has {len(lb)} labels; "
                    "they must have the same length"
                )
            if size is not None:
                im = (
                    np.concatenate([_resize(im[i : i + 512], size) for i in range(0, len(im), 512)])
                    if len(im)
                    else im
                )
            imgs.append(im)
            labs.append(lb)
            ids.extend(f"{s}/{i}" for i in range(len(lb)))
            bounds[s] = np.arange(start, start + len(lb), dtype=np.int64)
            start += len(lb)
        shapes = {im.shape[1:] for im in imgs if len(im)}
        if len(shapes) > 1:
            raise DataError(
                f"{path}: splits have different image shapes {sorted(shapes)}; pass an image size "
                "(--image-size) to resize them"
            )
        classes = None
        if "classes" in keys:
            try:
                classes = [str(c) for c in z["classes"].tolist()]
            except ValueError:
                classes = None
    images = np.concatenate(imgs)
    labels = np.concatenate(labs)
    if len(labels) == 0:
        raise DataError(f"{path}: contains no images")
    k = int(labels.max()) + 1
    if classes is None:
        classes = [str(i) for i in range(k)]
    elif len(classes) < k:
        raise DataError(
            f"{path}: 'classes' names {len(classes)} classes but labels go up to {k - 1}"
        )
    split = None
    if names[0][0] != "all":
        empty = np.zeros(0, dtype=np.int64)
        split = Split(
            train=bounds.get("train", empty),
            val=bounds.get("val", empty),
            test=bounds.get("test", empty),
        )
    return images, labels, classes, ids, split


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def load_dataset(
    path: str | os.PathLike,
    image_size: int | tuple[int, int] | None = None,
    *,
    skip_bad: bool = False,
    channels: int = 1,
    positive: str | None = None,
    frame: str | int = DEFAULT_FRAME,
    min_classes: int = 2,
) -> LabeledImages:
    """Load an ImageFolder tree or a ``.npz`` as :class:`LabeledImages`.

    ``image_size``: resize every image to this (int = square; antialiased bilinear); ``None``
    keeps the native size, which must then be the same for all images. ``skip_bad``: list
    unreadable files in ``skipped`` instead of failing on the first. ``positive``: the name of
    the diagnosis class; default ``stenosis`` if present, else the smallest class. ``frame``:
    which frame of a multi-frame DICOM file (:mod:`qsdaqec.data.dicom`). ``min_classes``: 1
    lets a summary (``qsdaqec data info``) read a folder of one class; training needs 2.
    """
    ds, images = read_labeled(
        path, image_size, skip_bad, channels, positive, frame, min_classes, keep=True
    )
    ds.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return ds


def read_labeled(
    path: str | os.PathLike,
    image_size,
    skip_bad: bool,
    channels: int,
    positive: str | None,
    frame: str | int,
    min_classes: int,
    keep: bool,
) -> tuple[LabeledImages, np.ndarray | list[Path]]:
    """:func:`load_dataset`'s reading and checks: the :class:`LabeledImages` without its
    ``images`` (an empty tensor), and the pixels, or with ``keep=False`` the file of each row
    (each file read and checked all the same; :func:`qsdaqec.data.stream.stream_dataset`)."""
    if channels not in (1, 3):
        raise DataError(f"channels={channels}: must be 1 (grayscale) or 3 (RGB)")
    size = _norm_size(image_size)
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root}: not found; pass a folder of class subfolders or a .npz file")
    split = None
    skipped: list[tuple[str, str]] = []
    if root.is_dir() and is_split_folder(root):
        images, labels, classes, ids, skipped, split = _load_split_folder(
            root, size, skip_bad, channels, frame, min_classes, keep
        )
    elif root.is_dir():
        images, labels, classes, ids, skipped = _load_folder(
            root, size, skip_bad, channels, frame, min_classes, keep
        )
    elif root.suffix.lower() == ".npz" and keep:
        images, labels, classes, ids, split = _load_npz(root, size, channels)
    elif root.suffix.lower() == ".npz":
        raise DataError(
            f"{root}: a .npz file is read whole; only image folders are read file by file "
            "(--data-loading memory, or auto)"
        )
    else:
        raise DataError(
            f"{root}: not a folder or .npz file; pass an ImageFolder tree (DIR/<class>/*.png) "
            "or a MedMNIST-style .npz"
        )
    counts = np.bincount(labels, minlength=len(classes))
    if np.count_nonzero(counts) < min(2, min_classes):
        raise DataError(
            f"{root}: only one class present ({classes[int(np.argmax(counts))]}); a classifier "
            "needs images of at least two classes"
        )
    if positive is not None:
        if positive not in classes:
            raise DataError(
                f"{root}: positive class '{positive}' not found; classes are {', '.join(classes)}"
            )
        pos = classes.index(positive)
    elif POSITIVE_NAME in classes:
        pos = classes.index(POSITIVE_NAME)
    else:  # the minority class; on a tie the last (label 1 of a balanced binary set)
        present = np.where(counts > 0, counts, np.iinfo(np.int64).max)
        pos = int(len(present) - 1 - np.argmin(present[::-1]))
    ds = LabeledImages(
        images=torch.zeros(0),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=list(classes),
        ids=ids,
        positive=pos,
        skipped=skipped,
        split=split,
        source=str(root),
        synthetic=_synthetic(root, ids),
    )
    return ds, images
