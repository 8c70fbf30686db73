"""Single images given by path (``qsdaqec predict``, jobs on a folder of images): paths and
folders expanded to image files, each read and resized exactly as the dataset loader does; and
images already in memory (numpy arrays, PIL images, torch tensors: ``Run.predict`` in a
notebook), converted as a file of the same pixels would be."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dicom import DEFAULT_FRAME, DicomError, dicom_size, is_dicom, read_dicom_frames
from .loaders import (
    IGNORED_TOP_LEVEL,
    IMAGE_EXTENSIONS,
    _BadFile,
    _pil_to_array,
    _read_image,
    _resize,
    _scale_array,
    _to_channels,
)


def expand_image_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Image files of ``paths``: files as given, folders searched recursively (sorted; a data
    set's ``contact_sheet.png`` and ``preview.png`` are left out)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():  # contact sheets and previews beside the data are no data
            found = sorted(
                q
                for q in p.rglob("*")
                if q.is_file()
                and q.name not in IGNORED_TOP_LEVEL
                and (q.suffix.lower() in IMAGE_EXTENSIONS or is_dicom(q))
            )
            if not found:
                raise DataError(f"{p}: no images (.png, .jpg, .dcm, ...) in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such image file")
    if not files:
        raise DataError("no images given; pass image files or folders")
    return files


def load_frames(path: str | Path, size: int) -> torch.Tensor:
    """Every frame of a DICOM file as ``(F, 1, size, size)`` (any other image: ``F = 1``),
    each converted as :func:`load_image` converts one."""
    path = Path(path)
    if not is_dicom(path):
        return load_image(path, size)[None]
    try:
        stack = read_dicom_frames(path)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    arr = _resize(np.ascontiguousarray(stack[:, None], dtype=np.float32), (size, size))
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def load_image(path: str | Path, size: int, frame: str | int = DEFAULT_FRAME) -> torch.Tensor:
    """A grayscale image as ``(1, size, size)`` float32 in [0, 1], converted exactly as the
    dataset loader converts a training image (same reader, same antialiased resize; ``frame``
    of a multi-frame DICOM file)."""
    try:
        arr = _read_image(Path(path), 1, frame)
    except _BadFile as e:
        raise DataError(f"{path}: {e}") from None
    arr = _resize(np.ascontiguousarray(arr[None], dtype=np.float32), (size, size))[0]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).reshape(1, size, size)


def native_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file as stored (read from its header; not decoded):
    where a location found at the model's size lies in the file's own pixels."""
    path = Path(path)
    try:
        if is_dicom(path):
            return dicom_size(path)
        from PIL import Image  # a header read only

        with Image.open(path) as im:
            return im.size
    except (OSError, DicomError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None


def in_memory_images(images: object) -> list[np.ndarray] | None:
    """``images`` as a list of single images (``None`` when they are not in memory: paths).

    A numpy array is laid out as numpy and PIL do: ``(H, W)`` or ``(H, W, C)`` (C in 1/3/4) is
    one image, ``(N, H, W)`` or ``(N, H, W, C)`` a batch. A torch tensor as torch does:
    ``(H, W)`` or ``(1, H, W)`` is one image, ``(N, H, W)`` or ``(N, C, H, W)`` a batch. A list
    may mix arrays, tensors and PIL images."""
    if isinstance(images, (str, bytes)) or hasattr(images, "__fspath__"):
        return None
    if _is_single(images) or _is_array(images):
        images = [images]
    items = list(images) if isinstance(images, Sequence) else None
    if items is None or not items or not all(_is_single(i) or _is_array(i) for i in items):
        return None
    out: list = []
    for item in items:
        if isinstance(item, torch.Tensor):
            arr = _as_numpy(item)
            batch = arr.ndim == 4 or (arr.ndim == 3 and arr.shape[0] != 1)
            out += [_channels_last(a) for a in (arr if batch else [arr])]
        elif isinstance(item, np.ndarray):
            batch = item.ndim == 4 or (item.ndim == 3 and item.shape[-1] not in (1, 3, 4))
            out += list(item) if batch else [item]
        else:
            out.append(item)
    return out


def image_tensor(images: list, size: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """``(N, 1, size, size)`` float32 in [0, 1] from :func:`in_memory_images`' list, and each
    image's ``(width, height)`` as given. Integer pixels scale by their type's range, float ones
    in [0, 1] are kept, in [0, 255] divided by 255, others stretched to [0, 1] (as ``.npz``
    images are); colour becomes grey with the loader's luma weights."""
    x, sizes = [], []
    for k, image in enumerate(images):
        try:
            chw = _pil_to_array(image, 1) if not isinstance(image, np.ndarray) else _pixels(image)
        except _BadFile as e:
            raise DataError(f"images[{k}]: {e}") from None
        sizes.append((chw.shape[2], chw.shape[1]))
        x.append(_resize(np.ascontiguousarray(chw[None], dtype=np.float32), (size, size))[0])
    return torch.from_numpy(np.ascontiguousarray(np.stack(x), dtype=np.float32)), sizes


def _is_single(obj: object) -> bool:
    return hasattr(obj, "getbands") and hasattr(obj, "mode")  # a PIL image, without importing PIL


def _is_array(obj: object) -> bool:
    return isinstance(obj, (np.ndarray, torch.Tensor))


def _as_numpy(obj: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().float().numpy() if obj.is_floating_point() else obj.cpu().numpy()
    return obj


def _channels_last(chw: np.ndarray) -> np.ndarray:
    """A torch-layout image ``(C, H, W)`` as ``(H, W, C)``; ``(H, W)`` as it is."""
    return np.moveaxis(chw, 0, -1) if chw.ndim == 3 else chw


def _pixels(arr: np.ndarray) -> np.ndarray:
    """One image ``(H, W)`` or ``(H, W, C)`` as grey ``(1, H, W)`` in [0, 1]."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4) or 0 in arr.shape:
        raise _BadFile(f"shape {arr.shape}; expected an image (H, W) or (H, W, C) with C in 1/3/4")
    return _to_channels(_scale_array(arr), 1)
