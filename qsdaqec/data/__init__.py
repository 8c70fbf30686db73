"""Data: the built-in synthetic angiograms, ImageFolder / ``.npz`` loaders (in memory, or
streamed from the files), stratified and grouped splits, single images by path, importers of
the public stenosis data sets.

Names are imported lazily so that ``qsdaqec.data.synth`` (numpy/scipy/PIL only) does not pull
in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "expand_image_paths": "images",
    "load_image": "images",
    "LabeledImages": "loaders",
    "load_dataset": "loaders",
    "StreamedImages": "stream",
    "estimate_bytes": "stream",
    "stream_dataset": "stream",
    "Split": "split",
    "class_counts": "split",
    "describe": "split",
    "grouped_split": "split",
    "imbalance_ratio": "split",
    "stratified_split": "split",
    "IMPORTERS": "importers",
    "ImportOptions": "importers",
    "import_dataset": "importers",
    "SynthConfig": "synth",
    "builtin_dataset_dir": "synth",
    "generate_synthetic": "synth",
}

__all__ = [
    "IMPORTERS",
    "ImportOptions",
    "LabeledImages",
    "Split",
    "StreamedImages",
    "SynthConfig",
    "builtin_dataset_dir",
    "class_counts",
    "describe",
    "estimate_bytes",
    "expand_image_paths",
    "generate_synthetic",
    "grouped_split",
    "imbalance_ratio",
    "import_dataset",
    "load_dataset",
    "load_image",
    "stratified_split",
    "stream_dataset",
]

if TYPE_CHECKING:  # pragma: no cover
    from .images import expand_image_paths, load_image
    from .importers import IMPORTERS, ImportOptions, import_dataset
    from .loaders import LabeledImages, load_dataset
    from .split import (
        Split,
        class_counts,
        describe,
        grouped_split,
        imbalance_ratio,
        stratified_split,
    )
    from .stream import StreamedImages, estimate_bytes, stream_dataset
    from .synth import SynthConfig, builtin_dataset_dir, generate_synthetic


__getattr__ = lazy_exports(__name__, _EXPORTS)
