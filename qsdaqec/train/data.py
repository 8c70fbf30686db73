"""A run's data: the loaded dataset and its train/val/test split.

The images are held in memory, or streamed from their files batch by batch
(:mod:`qsdaqec.data.stream`) when the data set would not fit: ``FitConfig.data_loading``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import (
    LabeledImages,
    Split,
    builtin_dataset_dir,
    grouped_split,
    load_dataset,
    stratified_split,
)
from ..data.dicom import parse_frame
from ..data.lesions import LesionTable, check_ids, find_lesions
from ..data.loaders import SPLIT_NAMES
from ..data.stream import estimate_bytes, stream_dataset
from ..errors import DataError
from .config import FitConfig

STREAM_BYTES = 2 << 30
"""``data_loading = "auto"`` streams an image folder whose images would take more than this in
memory (n x 1 x size x size x 4 bytes): a fit holds them, then copies of the splits, so a set
of this size already needs several times it."""


@dataclass
class PreparedData:
    """The loaded dataset and the run's split (index arrays into ``data``)."""

    data: LabeledImages
    split: Split
    source: str  # the data path actually read
    lesions: LesionTable | None = None
    """The data folder's ``lesions.json`` (checked against its images), if it has one."""
    split_method: str = "stratified"
    """How ``split`` was made: stratified | by group (patient or video) | predefined."""
    loading: str = "memory"
    """How the images are read: memory | stream (and why), as run.json records it."""

    @property
    def streamed(self) -> bool:
        return not isinstance(self.data.images, torch.Tensor)

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """(images, labels, ids) of a split; streamed images stay a view of their files."""
        idx = np.asarray(getattr(self.split, name), dtype=np.int64)
        t = torch.as_tensor(idx)
        images = self.data.images.take(idx) if self.streamed else self.data.images[t]
        return images, self.data.labels[t], [self.data.ids[i] for i in idx]

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self.split, k)) for k in ("train", "val", "test")}

    def split_json(self) -> dict[str, dict[str, list]]:
        """What ``split.json`` holds: each split's row indices and sample ids."""
        return {
            k: {
                "index": [int(i) for i in getattr(self.split, k)],
                "ids": [self.data.ids[int(i)] for i in getattr(self.split, k)],
            }
            for k in ("train", "val", "test")
        }


def data_path(data: str | None) -> Path:
    """``data`` as a path, or the built-in synthetic data (generated on first use) for ``None``."""
    if data is None:
        return Path(builtin_dataset_dir())
    path = Path(data)
    if not path.exists():
        raise DataError(
            f"{path}: data not found; pass an ImageFolder (one subfolder per class) or a .npz, "
            "or leave out --data for the built-in synthetic data"
        )
    return path


def check_binary(data: LabeledImages, source: str) -> None:
    classes = list(data.classes)
    if len(classes) != 2:
        raise DataError(
            f"{source}: found {len(classes)} class(es) {classes}; SDA-QEC is a binary classifier "
            "and needs exactly two class folders (e.g. normal/ and stenosis/)"
        )
    counts = torch.bincount(data.labels, minlength=2).tolist()
    if min(counts) == 0:
        empty = classes[counts.index(0)]
        raise DataError(f"{source}: class {empty!r} has no images; both classes need images")


def _no_synthetic_to_split(ds: LabeledImages, path: Path) -> None:
    """Synthetic images may only ever train: a folder holding them with no split of its own
    (e.g. the train/ part of an augmented folder) would spread them into validation and test."""
    if ds.synthetic is None:
        return
    n = int(ds.synthetic.sum())
    parent = path.parent if path.name in SPLIT_NAMES else path
    raise DataError(
        f"{path}: {n} synthetic image(s) (syn_*, made by `qsdaqec augment`) would be split into "
        f"validation and test and inflate the scores; pass the augmented folder itself "
        f"({parent}: its train/val/test split is used as is) or the original data"
    )


def _synthetic_only_in_training(ds: LabeledImages, split: Split, path: Path) -> None:
    if ds.synthetic is None:
        return
    for name in ("val", "test"):
        rows = np.asarray(getattr(split, name), dtype=np.int64)
        leaked = [ds.ids[i] for i in rows if ds.synthetic[i]]
        if leaked:
            raise DataError(
                f"{path}: {len(leaked)} synthetic image(s) in the {name} split (e.g. "
                f"{leaked[0]}); synthetic images may only train: move them to train/ or remove "
                "them"
            )


def loading_mode(cfg: FitConfig, path: Path) -> tuple[bool, str]:
    """(stream?, why) for ``cfg.data_loading`` on the data at ``path``."""
    need = estimate_bytes(path, cfg.image_size)
    size = f"{need / 2**30:.2f} GiB at {cfg.image_size} px" if need is not None else ""
    if cfg.data_loading == "memory":
        return False, "memory (--data-loading memory)"
    if cfg.data_loading == "stream":
        if need is None:
            raise DataError(
                f"{path}: --data-loading stream reads image folders file by file; a .npz file "
                "is read whole (use --data-loading memory or auto)"
            )
        return True, f"stream (--data-loading stream; {size} in memory)"
    if need is not None and need > STREAM_BYTES:
        return True, f"stream (auto: {size} > {STREAM_BYTES / 2**30:g} GiB)"
    return False, "memory (auto" + (f": {size})" if size else ")")


def prepare_data(cfg: FitConfig, *, data: str | None = None) -> PreparedData:
    """Load (or stream) the data and make (or take) the run's split. ``data`` overrides
    ``cfg.data``."""
    path = data_path(cfg.data if data is None else data)
    streamed, loading = loading_mode(cfg, path)
    if streamed:
        ds = stream_dataset(
            path,
            cfg.image_size,
            skip_bad=cfg.skip_bad,
            frame=parse_frame(cfg.frames),
            workers=cfg.workers,
            pin_memory=torch.cuda.is_available() and cfg.device.startswith(("auto", "cuda")),
        )
    else:
        ds = load_dataset(
            path, cfg.image_size, skip_bad=cfg.skip_bad, frame=parse_frame(cfg.frames)
        )
    check_binary(ds, str(path))
    lesions = find_lesions(path)
    if lesions is not None:
        check_ids(lesions, ds.ids)
    split, method = ds.split, "predefined"
    if split is None:
        _no_synthetic_to_split(ds, path)
        split, method = _split(ds, lesions, cfg)
    _synthetic_only_in_training(ds, split, path)
    for name in ("train", "val", "test"):
        if len(getattr(split, name)) == 0:
            raise DataError(
                f"{path}: the {name} split is empty ({len(ds.labels)} images); add images or "
                "change --val-frac/--test-frac"
            )
    return PreparedData(ds, split, str(path), lesions, method, loading)


def _split(ds: LabeledImages, lesions: LesionTable | None, cfg: FitConfig) -> tuple[Split, str]:
    """The run's split: by group when ``lesions.json`` names the patient or video of images
    (their frames then never straddle train and test), else stratified by class."""
    groups = lesions.groups(ds.ids) if lesions is not None else []
    if any(g is not None for g in groups):
        split = grouped_split(
            ds.labels,
            groups,
            cfg.val_frac,
            cfg.test_frac,
            cfg.seed,
            positive=int(ds.positive),
            classes=ds.classes,
        )
        return split, "by group (patient or video, from lesions.json)"
    split = stratified_split(ds.labels, cfg.val_frac, cfg.test_frac, cfg.seed, classes=ds.classes)
    return split, "stratified"
