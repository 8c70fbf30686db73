"""Stratified train/val/test splits (image by image, or whole groups such as patients) and
class-balance summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from .loaders import LabeledImages


@dataclass(frozen=True)
class Split:
    """Sorted index arrays (int64) into a data set; disjoint, together every sample once."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def to_dict(self) -> dict[str, list[int]]:
        return {k: getattr(self, k).tolist() for k in ("train", "val", "test")}


def _check_fractions(val_frac: float, test_frac: float) -> None:
    if not (0.0 <= val_frac < 1.0 and 0.0 <= test_frac < 1.0 and val_frac + test_frac < 1.0):
        raise ConfigError(
            f"split fractions val={val_frac}, test={test_frac}: each must be in [0, 1) and "
            "their sum below 1"
        )


def _as_labels(labels) -> np.ndarray:
    arr = labels.numpy() if hasattr(labels, "numpy") else np.asarray(labels)
    return np.asarray(arr, dtype=np.int64).reshape(-1)


def stratified_split(
    labels,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    *,
    classes: Sequence[str] | None = None,
) -> Split:
    """Split per class so each split keeps the class proportions; deterministic in ``seed``.

    Per class, ``round(n * frac)`` samples go to val and test, but at least one to every split
    whose fraction is non-zero, and at least one stays in train. A class too small for that is
    an error (add images, or set the fraction to 0) naming the class (``classes``: the names).
    """
    _check_fractions(val_frac, test_frac)
    y = _as_labels(labels)
    if len(y) == 0:
        raise DataError("cannot split an empty data set")
    rng = np.random.default_rng([seed, 0x5B117])
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    need = 1 + (val_frac > 0) + (test_frac > 0)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = len(idx)
        if n < need:
            names = "/".join(
                k for k, f in (("train", 1), ("val", val_frac), ("test", test_frac)) if f > 0
            )
            raise DataError(
                f"class {_name(c, classes)} has only {n} image(s); need at least {need} to put "
                f"one in each of {names}: add images of that class or lower the split fractions "
                "to 0"
            )
        n_val = max(int(round(n * val_frac)), 1) if val_frac > 0 else 0
        n_test = max(int(round(n * test_frac)), 1) if test_frac > 0 else 0
        while n - n_val - n_test < 1:  # keep one for training; take from the larger eval split
            if n_val >= n_test and n_val > 1:
                n_val -= 1
            else:
                n_test -= 1
        perm = idx[rng.permutation(n)]
        parts["val"].append(perm[:n_val])
        parts["test"].append(perm[n_val : n_val + n_test])
        parts["train"].append(perm[n_val + n_test :])

    def cat(a: list[np.ndarray]) -> np.ndarray:
        return np.sort(np.concatenate(a)).astype(np.int64)

    return Split(train=cat(parts["train"]), val=cat(parts["val"]), test=cat(parts["test"]))


def grouped_split(
    labels,
    groups: Sequence[Hashable | None],
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    *,
    positive: int = 1,
    classes: Sequence[str] | None = None,
) -> Split:
    """Split whole groups (e.g. patients: ``lesions.json``'s ``group``) so that no group's
    images straddle two parts; deterministic in ``seed``.

    Approximately stratified: a group counts as positive when any of its images is of class
    ``positive``, otherwise as its most frequent class, and each such stratum's groups are
    dealt out so that its val and test parts get about ``frac`` of its images, with at least
    one group in every part whose fraction is non-zero and one left for training. An image
    whose group is ``None`` is a group of its own. Too few groups in a stratum for that is a
    ``DataError`` (add patients, or set the fraction to 0).
    """
    _check_fractions(val_frac, test_frac)
    y = _as_labels(labels)
    if len(y) != len(groups):
        raise DataError(f"{len(y)} labels but {len(groups)} groups; need one group per image")
    if len(y) == 0:
        raise DataError("cannot split an empty data set")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(("image", i) if g is None else ("group", g), []).append(i)
    strata: dict[int, list[Hashable]] = {}
    for key, idx in members.items():
        seen = Counter(y[idx].tolist())
        stratum = positive if positive in seen else min(seen, key=lambda c: (-seen[c], c))
        strata.setdefault(stratum, []).append(key)
    rng = np.random.default_rng([seed, 0x6B0F5])
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for stratum in sorted(strata):
        keys = sorted(strata[stratum], key=repr)  # a fixed order before the seeded shuffle
        order = [keys[i] for i in rng.permutation(len(keys))]
        sizes = [len(members[k]) for k in order]
        dealt = _deal(sizes, val_frac, test_frac, _name(stratum, classes))
        for key, part in zip(order, dealt, strict=True):
            parts[part].extend(members[key])

    def arr(a: list[int]) -> np.ndarray:
        return np.sort(np.asarray(a, dtype=np.int64))

    return Split(train=arr(parts["train"]), val=arr(parts["val"]), test=arr(parts["test"]))


def _name(label, classes: Sequence[str] | None) -> str:
    """A class as messages name it: ``'stenosis'`` when the names are known, else its index."""
    label = int(label)
    return repr(classes[label]) if classes is not None and label < len(classes) else str(label)


def _deal(sizes: list[int], val_frac: float, test_frac: float, stratum: str) -> list[str]:
    """The part of each group (in the shuffled order ``sizes``): every evaluation part with a
    non-zero fraction gets a group first, then a group joins the part furthest below its target
    image count while that brings it closer; the last group always trains."""
    fracs = {p: f for p, f in (("val", val_frac), ("test", test_frac)) if f > 0}
    if len(sizes) < len(fracs) + 1:
        names = "/".join(["train", *fracs])
        raise DataError(
            f"class {stratum} has only {len(sizes)} group(s); need at least {len(fracs) + 1} "
            f"to put one in each of {names}: add groups (patients) of that class or lower the "
            "split fractions to 0"
        )
    total = sum(sizes)
    target = {p: f * total for p, f in fracs.items()}
    filled = {p: 0 for p in fracs}
    dealt: list[str] = []
    for size in sizes[:-1]:
        empty = [p for p in fracs if filled[p] == 0]
        part = empty[0] if empty else max(fracs, key=lambda p: target[p] - filled[p], default=None)
        if part is not None and not empty and filled[part] + size / 2 >= target[part]:
            part = None  # adding the group would not bring the part closer to its target
        part = part or "train"
        if part != "train":
            filled[part] += size
        dealt.append(part)
    return [*dealt, "train"]


def class_counts(labels, n_classes: int | None = None) -> np.ndarray:
    """Number of samples per class index (length ``n_classes``, default max label + 1)."""
    y = _as_labels(labels)
    k = n_classes if n_classes is not None else (int(y.max()) + 1 if len(y) else 0)
    return np.bincount(y, minlength=k)[: max(k, 0)]


def imbalance_ratio(counts: Sequence[int] | np.ndarray) -> float:
    """Minority / majority class size over the classes present (1.0 = balanced); takes the
    per-class counts, e.g. ``imbalance_ratio(class_counts(labels))``."""
    c = np.asarray(counts)
    c = c[c > 0]
    if len(c) == 0:
        return 0.0
    return float(c.min() / c.max())


def describe(data: LabeledImages, split: Split | None = None) -> str:
    """Multi-line human summary: size, classes with counts, imbalance, split sizes, skipped."""
    counts = class_counts(data.labels, len(data.classes))
    n = int(counts.sum())
    h, w = data.images.shape[-2:]
    colour = {1: "grey", 3: "RGB"}.get(data.images.shape[1], f"{data.images.shape[1]} channels")
    lines = [f"images: {n} ({colour}, {h}x{w})"]
    width = max(len(c) for c in data.classes)
    for i, (name, k) in enumerate(zip(data.classes, counts, strict=True)):
        mark = "  (positive)" if i == data.positive else ""
        lines.append(f"  {name:<{width}}  {int(k):>6}  {100.0 * k / max(n, 1):5.1f}%{mark}")
    ratio = f"{imbalance_ratio(counts):.3f}" if np.count_nonzero(counts) > 1 else "n/a (one class)"
    lines.append(f"imbalance ratio (minority/majority): {ratio}")
    if split is not None:
        sizes = split.sizes()
        per = []
        for part in ("train", "val", "test"):
            idx = getattr(split, part)
            cc = class_counts(data.labels[idx] if len(idx) else [], len(data.classes))
            per.append(f"{part} {sizes[part]} (" + "/".join(str(int(x)) for x in cc) + ")")
        lines.append("split: " + ", ".join(per) + "  [per class: " + "/".join(data.classes) + "]")
    if data.synthetic is not None:
        syn = np.flatnonzero(data.synthetic)
        where = ""
        if split is not None:
            parts = {
                p: int(np.isin(getattr(split, p), syn).sum()) for p in ("train", "val", "test")
            }
            where = " (" + ", ".join(f"{p} {k}" for p, k in parts.items()) + ")"
        lines.append(f"synthetic images (syn_*): {len(syn)}{where}; they may only train")
    if data.skipped:
        lines.append(f"skipped {len(data.skipped)} bad file(s):")
        lines.extend(f"  {p}: {why}" for p, why in data.skipped)
    return "\n".join(lines)
