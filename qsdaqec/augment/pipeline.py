"""``augment_dataset`` (``qsdaqec augment``): load, split, augment the training split, measure, write.

Kept out of the CLI module so it can be called (and tested) as a library function.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import LabeledImages, Split, grouped_split, load_dataset, stratified_split
from ..data.lesions import LesionTable, check_ids, find_lesions
from ..errors import ConfigError
from .diffusion import AugmentResult, TrainAugmentation, augment_training_split
from .distance import compare, feature_network
from .export import write_augmented
from .registry import AUGMENTORS

PREVIEW_SOURCES = 6


@dataclass
class AugmentOptions:
    """What ``qsdaqec augment`` was asked for. ``None`` means the config class's default."""

    data: Path
    out: Path
    augmentor: str = "simple"
    steps: int | None = None
    beta_start: float | None = None
    beta_end: float | None = None
    rho_target: float | None = None
    t: str | int | None = None
    seed: int = 0
    val_frac: float | None = None
    test_frac: float | None = None
    image_size: int | None = None
    minority: str | None = None
    ddpm_size: int | None = None
    ddpm_steps: int | None = None
    ddpm_schedule: str | None = None
    ddpm_train_steps: int | None = None
    ddpm_channels: int | None = None
    distance: bool = True
    feature_net: str = "random-conv"
    inception_weights: Path | None = None
    overwrite: bool = False


def _given(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _options(o: AugmentOptions) -> dict[str, Any]:
    """The generic augmentor options of ``o`` (``None`` = the augmentor config's default)."""
    names = ("steps", "beta_start", "beta_end", "rho_target", "t", "seed")
    names += ("ddpm_size", "ddpm_steps", "ddpm_schedule", "ddpm_train_steps", "ddpm_channels")
    return {n: getattr(o, n) for n in names}


def _minority_label(o: AugmentOptions, classes: list[str], train_labels: torch.Tensor) -> int:
    if o.minority is not None:
        if o.minority not in classes:
            raise ConfigError(
                f"--minority: {o.minority!r} is not a class (classes: {', '.join(classes)})"
            )
        return classes.index(o.minority)
    counts = np.bincount(train_labels.numpy(), minlength=len(classes))
    return int(np.argmin(counts))  # a class with 0 images is the minority -> clear DataError


def _split(
    o: AugmentOptions, data: LabeledImages, lesions: LesionTable | None
) -> tuple[Split, dict[str, Any]]:
    """The data's predefined split, or one made here (``--val-frac``/``--test-frac`` given
    override a predefined split): by group when ``lesions.json`` names the patient or video of
    images, as ``fit`` splits (a patient's frames never straddle train and test), else
    stratified; and how it was made, for the manifest."""
    split = data.split
    if split is not None and o.val_frac is None and o.test_frac is None:
        return split, {"kind": "predefined (from the data file)"}
    given = _given(val_frac=o.val_frac, test_frac=o.test_frac)
    groups = lesions.groups(data.ids) if lesions is not None else []
    grouped = any(g is not None for g in groups)
    how = {
        "kind": "by group (patient or video, from lesions.json)" if grouped else "stratified",
        "seed": o.seed,
        **{k: given.get(k, "default of qsdaqec.data.split") for k in ("val_frac", "test_frac")},
    }
    if grouped:
        split = grouped_split(
            data.labels, groups, **given, seed=o.seed, positive=data.positive, classes=data.classes
        )
        return split, how
    return stratified_split(data.labels, **given, seed=o.seed, classes=data.classes), how


def _distances(
    o: AugmentOptions, data: LabeledImages, split: Split, train_idx, aug: TrainAugmentation
) -> dict[str, Any] | None:
    """KID (and FID) between synthetic, training and held-out minority images."""
    res = aug.result
    if not o.distance or res.generated < 2:
        return None
    net = feature_network(o.feature_net, seed=o.seed)
    syn = aug.images[aug.synthetic]
    real_train = data.images[train_idx][data.labels[train_idx] == res.minority]
    held = torch.as_tensor(np.concatenate([split.val, split.test]).astype(np.int64))
    real_held = (
        data.images[held][data.labels[held] == res.minority] if len(held) else data.images[:0]
    )

    def kid(a, b):
        return compare(a, b, net=net, seed=o.seed, inception_weights=o.inception_weights)

    dist = {"synthetic_vs_train_minority": kid(real_train, syn)}
    if real_held.shape[0] >= 2:
        dist["synthetic_vs_heldout_minority"] = kid(real_held, syn)
        dist["train_vs_heldout_minority (real-real reference)"] = kid(real_held, real_train)
    return dist


def augment_dataset(o: AugmentOptions, echo: Callable[[str], None] = print) -> str:
    """Run the pipeline; returns a short human summary. Raises typed errors for bad input."""
    if o.feature_net != "random-conv" or o.inception_weights is not None:  # fail early
        feature_network(o.feature_net, seed=o.seed, inception_weights=o.inception_weights)
    entry = AUGMENTORS[o.augmentor]
    cfg = entry.config(_options(o))
    augmentor = entry.build(cfg, echo)
    if Path(o.out).exists() and not o.overwrite:
        raise ConfigError(f"--out: {o.out} already exists; choose a new folder or pass --force")
    data = load_dataset(o.data, **_given(image_size=o.image_size))
    lesions = find_lesions(o.data)
    if lesions is not None:
        check_ids(lesions, data.ids)
    classes = list(data.classes)
    split, split_how = _split(o, data, lesions)
    train_idx = torch.as_tensor(np.asarray(split.train, dtype=np.int64))
    minority = _minority_label(o, classes, data.labels[train_idx])
    echo(f"augmenting the training split ({len(train_idx)} images) with {o.augmentor}")
    start = time.perf_counter()
    aug = augment_training_split(
        data.images, data.labels, split, minority=minority, augmentor=augmentor
    )
    seconds = time.perf_counter() - start
    res = aug.result
    sources = train_idx[torch.nonzero(data.labels[train_idx] == res.minority).flatten()]
    preview = entry.preview(augmentor, cfg, data.images[sources[:PREVIEW_SOURCES]])
    dist = _distances(o, data, split, train_idx, aug)
    extra = {
        "source_data": str(o.data),
        "positive": data.positive,
        "image_size": list(data.images.shape[-2:]),
        "augmentor": o.augmentor,
        "config": dataclasses.asdict(cfg),
        "seed": o.seed,
        "minority_class": classes[res.minority],
        "split": {**split_how, **split_sizes(split)},
        "summary": res.summary(),
        "seconds": round(seconds, 2),
        "distance": dist,
    }
    out = write_augmented(
        o.out,
        images=data.images,
        labels=data.labels,
        ids=list(data.ids),
        classes=classes,
        split=split,
        train_aug=aug,
        preview=preview,
        manifest_extra=extra,
        overwrite=o.overwrite,
        lesions=lesions,
    )
    return _summary(res, classes, split, dist, out, lesions is not None)


def _summary(
    res: AugmentResult,
    classes: list[str],
    split: Split,
    dist: dict | None,
    out: Path,
    lesions: bool = False,
) -> str:
    lines = [res.reason if res.generated else f"nothing generated: {res.reason}"]
    counts = res.counts_after
    lines.append(
        "train: "
        + ", ".join(f"{classes[c]} {counts.get(c, 0)}" for c in range(len(classes)))
        + f" (ratio {res.ratio_before:.3f} -> {res.ratio_after:.3f});"
        + f" val {len(split.val)}, test {len(split.test)} untouched"
    )
    if res.snr.get("worst_measured_db") is not None:
        lines.append(
            f"measured SNR at t={res.snr['worst_t']}: {res.snr['worst_measured_db']:.1f} dB"
        )
    for name, d in (dist or {}).items():
        lines.append(
            f"KID[{d['feature_net']}] {name}: {d['kid']:.4g} ± {d['kid_std']:.2g}"
            + (
                f", FID[{d['fid_feature_net']}] {d['fid_inception']:.4g}"
                if "fid_inception" in d
                else ""
            )
        )
    extra = ", lesions.json" if lesions else ""
    lines.append(f"wrote {out}/ (manifest.json, preview.png{extra})")
    return "\n".join(lines)


def split_sizes(split: Any) -> dict[str, int]:
    return {k: int(len(getattr(split, k))) for k in ("train", "val", "test")}
