"""Single images given by path (``qsdaqec predict``, jobs on a folder of images): paths and
folders expanded to image files, each read and resized exactly as the dataset loader does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dicom import DEFAULT_FRAME, DicomError, dicom_size, is_dicom, read_dicom_frames
from .loaders import IGNORED_TOP_LEVEL, IMAGE_EXTENSIONS, _BadFile, _read_image, _resize


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
