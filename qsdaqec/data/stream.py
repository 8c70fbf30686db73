"""Images read from their files when a batch needs them: a data set too large to hold in memory.

:func:`stream_dataset` reads and checks every file as :func:`qsdaqec.data.load_dataset` does
(the same walk, ids, errors and ``skip_bad``) but keeps only the paths. :class:`StreamedImages`
is a ``torch.utils.data.Dataset`` of those rows: a row is read, converted to grey and resized by
the loader's own functions when it is used, so it is the very tensor the in-memory loader would
hold. Batches come through a ``DataLoader`` (worker processes, pinned memory for a CUDA device)
in the order asked for, so a streamed fit sees the rows an in-memory fit sees.

Rows may also live in memory (``with_rows``): the synthetic images a fit's minority augmentation
made, which have no file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DataError
from .dicom import DEFAULT_FRAME
from .loaders import (
    IGNORED_TOP_LEVEL,
    SPLIT_NAMES,
    LabeledImages,
    _BadFile,
    _norm_size,
    _read_image,
    _resize,
    _visible,
    _walk_files,
    is_split_folder,
    read_labeled,
)

BYTES_PER_PIXEL = 4
"""Rows are float32."""


def read_file(
    path: str | Path, size: tuple[int, int], channels: int = 1, frame: str | int = DEFAULT_FRAME
) -> torch.Tensor:
    """One image file as ``(channels, *size)`` float32 in [0, 1], exactly as the in-memory
    loader converts it (same reader, same antialiased resize)."""
    try:
        arr = _read_image(Path(path), channels, frame)
    except _BadFile as e:
        raise DataError(
            f"{path}: {e} (it was readable when the data were first read: was it changed or "
            "removed since?)"
        ) from None
    arr = _resize(arr[None], size)[0]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


class _Failed:
    """A row that could not be read, carried out of a worker process as a value (an exception
    raised there would reach the user with the worker's traceback in its message)."""

    def __init__(self, message: str):
        self.message = message


class _Checked(Dataset):
    def __init__(self, images: StreamedImages):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Any:
        try:
            return self.images[i]
        except DataError as e:
            return _Failed(str(e))


def _stack(rows: list[Any]) -> torch.Tensor | _Failed:
    """The batch, or its first failed row (collation runs in the worker too)."""
    failed = [r for r in rows if isinstance(r, _Failed)]
    return failed[0] if failed else torch.stack(rows)


class StreamedImages(Dataset):
    """Image rows read on use: from ``files`` (resized to ``size``), or from ``memory``.

    ``index[i] >= 0``: row ``i`` is ``files[index[i]]``; ``index[i] < 0``: it is
    ``memory[-index[i] - 1]``. Indexed like the in-memory tensor: ``x[i]`` is one image
    ``(C, H, W)`` (the ``Dataset`` protocol), ``x[rows]`` / ``x[a:b]`` a batch tensor read now.
    :meth:`take` is a view of some rows that reads nothing; :meth:`batches` reads batches
    through a ``DataLoader`` with ``workers`` processes (0: in this process).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        size: int | tuple[int, int],
        channels: int = 1,
        frame: str | int = DEFAULT_FRAME,
        *,
        memory: torch.Tensor | None = None,
        index: np.ndarray | None = None,
        workers: int = 0,
        pin_memory: bool = False,
    ):
        self.files = tuple(str(f) for f in files)
        self.size = _norm_size(size)
        self.channels = channels
        self.frame = frame
        self.memory = memory
        self.index = np.arange(len(self.files), dtype=np.int64) if index is None else index
        self.workers = workers
        self.pin_memory = pin_memory

    # ----------------------------------------------------------------- tensor-like
    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.channels, *self.size))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def nbytes(self) -> int:
        """What the rows would take held in memory (float32)."""
        return int(np.prod(self.shape)) * BYTES_PER_PIXEL

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, (int, np.integer)) or (torch.is_tensor(key) and key.ndim == 0):
            return self._row(int(key))
        return self.take(self._rows(key)).load()

    def _rows(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            return np.arange(len(self), dtype=np.int64)[key]
        rows = np.asarray(key.cpu() if torch.is_tensor(key) else key)
        if rows.dtype == np.bool_:
            return np.flatnonzero(rows)
        return rows.astype(np.int64).reshape(-1)

    def _row(self, i: int) -> torch.Tensor:
        j = int(self.index[i])
        if j < 0:
            return self.memory[-j - 1]
        return read_file(self.files[j], self.size, self.channels, self.frame)

    # ----------------------------------------------------------------- views
    def _with(self, **changes: Any) -> StreamedImages:
        kw = {
            "memory": self.memory,
            "index": self.index,
            "workers": self.workers,
            "pin_memory": self.pin_memory,
        }
        kw.update(changes)
        return StreamedImages(self.files, self.size, self.channels, self.frame, **kw)

    def take(self, rows: Any) -> StreamedImages:
        """The rows ``rows`` (indices or a mask), in that order; nothing is read."""
        return self._with(index=self.index[self._rows(rows)])

    def with_rows(self, extra: torch.Tensor) -> StreamedImages:
        """These rows followed by the in-memory images ``extra`` ``(K, C, H, W)``."""
        if tuple(extra.shape[1:]) != tuple(self.shape[1:]):
            raise DataError(f"rows of shape {tuple(extra.shape[1:])} added to {tuple(self.shape)}")
        held = 0 if self.memory is None else self.memory.shape[0]
        memory = extra if self.memory is None else torch.cat([self.memory, extra])
        new = -(np.arange(extra.shape[0], dtype=np.int64) + held + 1)
        return self._with(memory=memory, index=np.concatenate([self.index, new]))

    def loading(self, workers: int, pin_memory: bool = False) -> StreamedImages:
        """The same rows, read by ``workers`` processes (into pinned memory)."""
        return self._with(workers=workers, pin_memory=pin_memory)

    @property
    def held_bytes(self) -> int:
        """Bytes of the rows held in memory (``with_rows``)."""
        return 0 if self.memory is None else self.memory.numel() * self.memory.element_size()

    # ----------------------------------------------------------------- reading
    def batches(self, index_batches: Iterable[Any]) -> Iterator[torch.Tensor]:
        """The rows of each index batch as one ``(B, C, H, W)`` tensor, in the order given."""
        order = [self._rows(b).tolist() for b in index_batches]
        if not order:
            return
        loader = DataLoader(
            _Checked(self),
            batch_sampler=order,
            num_workers=self.workers,
            pin_memory=self.pin_memory,
            collate_fn=_stack,
        )
        for batch in loader:
            if isinstance(batch, _Failed):
                raise DataError(batch.message)
            yield batch

    def load(self, batch_size: int = 64) -> torch.Tensor:
        """Every row, read now, as one tensor."""
        n = len(self)
        if n == 0:
            return torch.zeros(self.shape)
        chunks = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        return torch.cat(list(self.batches(chunks)))

    def __repr__(self) -> str:
        return (
            f"StreamedImages({len(self)} rows of {tuple(self.shape[1:])}, "
            f"{len(self.files)} files, {self.held_bytes} bytes held, workers={self.workers})"
        )


def stream_dataset(
    path: str | os.PathLike,
    image_size: int | tuple[int, int],
    *,
    skip_bad: bool = False,
    channels: int = 1,
    positive: str | None = None,
    frame: str | int = DEFAULT_FRAME,
    min_classes: int = 2,
    workers: int = 0,
    pin_memory: bool = False,
) -> LabeledImages:
    """:func:`qsdaqec.data.load_dataset` of an image folder whose ``images`` are a
    :class:`StreamedImages`: every file is read once here to check it (and to list bad ones
    with ``skip_bad``), then only its path is kept."""
    if image_size is None:
        raise DataError(f"{path}: a streamed data set needs an image size (--image-size)")
    ds, files = read_labeled(
        path, image_size, skip_bad, channels, positive, frame, min_classes, keep=False
    )
    ds.images = StreamedImages(
        files, image_size, channels, frame, workers=workers, pin_memory=pin_memory
    )
    return ds


def count_image_files(path: str | os.PathLike) -> int | None:
    """How many files an image folder's class folders hold (listed, not read); ``None`` for
    anything else (a ``.npz``, a missing path): what :func:`estimate_bytes` counts."""
    root = Path(path)
    if not root.is_dir():
        return None
    parts = [root / p for p in SPLIT_NAMES] if is_split_folder(root) else [root]
    n = 0
    for part in parts:
        for d in sorted(part.iterdir()):
            if d.is_dir() and _visible(d) and d.name not in IGNORED_TOP_LEVEL:
                n += len(_walk_files(d))
    return n


def estimate_bytes(
    path: str | os.PathLike, image_size: int | tuple[int, int], channels: int = 1
) -> int | None:
    """``n x C x H x W x 4``: what the images of a folder take in memory at ``image_size``
    (float32), from the number of files; ``None`` when ``path`` is not an image folder."""
    n = count_image_files(path)
    if n is None:
        return None
    h, w = _norm_size(image_size)
    return n * channels * h * w * BYTES_PER_PIXEL
