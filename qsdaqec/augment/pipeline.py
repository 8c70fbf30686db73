"""The ``qsdaqec augment`` pipeline: load, split, augment the training split, measure, write.

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

from ..errors import ConfigError
from .diffusion import DiffusionConfig, SimpleDiffusionAugmentor, augment_training_split
from .export import grid_image, write_augmented

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


def build_augmentor(o: AugmentOptions, log: Callable[[str], None] | None = None):
    if o.augmentor == "simple":
        cfg = DiffusionConfig(
            **_given(
                steps=o.steps,
                beta_start=o.beta_start,
                beta_end=o.beta_end,
                rho_target=o.rho_target,
                t=o.t,
            ),
            seed=o.seed,
        )
        return SimpleDiffusionAugmentor(cfg), cfg
    if o.augmentor == "ddpm":
        from .ddpm import DDPMAugmentor, DDPMConfig

        if o.t is not None:
            raise ConfigError(
                "--t: only applies to --augmentor simple (DDPM samples run the whole chain)"
            )
        schedule = o.ddpm_schedule
        if schedule is None and (o.beta_start is not None or o.beta_end is not None):
            schedule = "linear"  # betas given: they only mean something for the linear schedule
        cfg = DDPMConfig(
            **_given(
                image_size=o.ddpm_size,
                steps=o.ddpm_steps if o.ddpm_steps is not None else o.steps,
                schedule=schedule,
                beta_start=o.beta_start,
                beta_end=o.beta_end,
                train_steps=o.ddpm_train_steps,
                base_channels=o.ddpm_channels,
                rho_target=o.rho_target,
            ),
            seed=o.seed,
        )
        every = max(1, cfg.train_steps // 5) if log is not None else 0
        return DDPMAugmentor(cfg, log_every=every), cfg
    raise ConfigError(f'--augmentor: must be "simple" or "ddpm", got {o.augmentor!r}')


def _minority_label(o: AugmentOptions, classes: list[str], train_labels: torch.Tensor) -> int:
    if o.minority is not None:
        if o.minority not in classes:
            raise ConfigError(
                f"--minority: {o.minority!r} is not a class (classes: {', '.join(classes)})"
            )
        return classes.index(o.minority)
    counts = np.bincount(train_labels.numpy(), minlength=len(classes))
    return int(np.argmin(counts))  # a class with 0 images is the minority -> clear DataError


def run_augment(o: AugmentOptions, echo: Callable[[str], None] = print) -> str:
    """Run the pipeline; returns a short human summary. Raises typed errors for bad input."""
    from ..data import load_dataset, stratified_split

    if o.feature_net != "random-conv" or o.inception_weights is not None:
        from .distance import feature_network

        feature_network(
            o.feature_net, seed=o.seed, inception_weights=o.inception_weights
        )  # fail early
    augmentor, cfg = build_augmentor(o, log=echo)
    if Path(o.out).exists() and not o.overwrite:
        raise ConfigError(f"--out: {o.out} already exists; choose a new folder or pass --overwrite")

    data = load_dataset(o.data, **_given(image_size=o.image_size))
    classes = list(data.classes)
    split = getattr(data, "split", None)
    split_how: dict[str, Any] = {"kind": "predefined (from the data file)"}
    if split is None or o.val_frac is not None or o.test_frac is not None:
        given = _given(val_frac=o.val_frac, test_frac=o.test_frac)
        split = stratified_split(data.labels, **given, seed=o.seed)
        split_how = {
            "kind": "stratified",
            "seed": o.seed,
            **{
                k: given.get(k, "default of qsdaqec.data.stratified_split")
                for k in ("val_frac", "test_frac")
            },
        }
    train_idx = torch.as_tensor(np.asarray(split.train, dtype=np.int64))
    minority = _minority_label(o, classes, data.labels[train_idx])

    echo(f"augmenting the training split ({len(train_idx)} images) with {o.augmentor}")
    start = time.perf_counter()
    aug = augment_training_split(
        data.images, data.labels, split, minority=minority, augmentor=augmentor
    )
    seconds = time.perf_counter() - start
    res = aug.result

    # Preview grid.
    if o.augmentor == "simple":
        src_rows = torch.nonzero(data.labels[train_idx] == res.minority).flatten()[:PREVIEW_SOURCES]
        src = train_idx[src_rows]
        tiles = augmentor.preview(data.images[src])
        preview = grid_image(tiles, ["source"] + [f"t={t}" for t in range(1, cfg.steps + 1)])
    else:
        if augmentor.ddpm is not None:
            tiles = augmentor.preview(n=PREVIEW_SOURCES, columns=6)
            T = cfg.steps
            marks = sorted({round(T - j * T / 5) for j in range(6)}, reverse=True)
            preview = grid_image(
                tiles, [f"t={m}" for m in marks], scale=max(1, 96 // cfg.image_size)
            )
        else:
            preview = None

    # Distance between real and synthetic minority images.
    dist: dict[str, Any] | None = None
    if o.distance and res.generated >= 2:
        from .distance import compare, feature_network

        net = feature_network(o.feature_net, seed=o.seed)
        syn = aug.images[aug.synthetic]
        real_train = data.images[train_idx][data.labels[train_idx] == res.minority]
        held = np.concatenate([np.asarray(split.val), np.asarray(split.test)]).astype(np.int64)
        held_t = torch.as_tensor(held)
        real_held = (
            data.images[held_t][data.labels[held_t] == res.minority]
            if len(held)
            else data.images[:0]
        )
        dist = {
            "synthetic_vs_train_minority": compare(
                real_train, syn, net=net, seed=o.seed, inception_weights=o.inception_weights
            )
        }
        if real_held.shape[0] >= 2:
            dist["synthetic_vs_heldout_minority"] = compare(
                real_held, syn, net=net, seed=o.seed, inception_weights=o.inception_weights
            )
            dist["train_vs_heldout_minority (real-real reference)"] = compare(
                real_held, real_train, net=net, seed=o.seed, inception_weights=o.inception_weights
            )

    extra = {
        "source_data": str(o.data),
        "positive": getattr(data, "positive", None),
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
    )

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
    if dist:
        for name, d in dist.items():
            lines.append(
                f"KID[{d['feature_net']}] {name}: {d['kid']:.4g} ± {d['kid_std']:.2g}"
                + (
                    f", FID[{d['fid_feature_net']}] {d['fid_inception']:.4g}"
                    if "fid_inception" in d
                    else ""
                )
            )
    lines.append(f"wrote {out}/ (manifest.json, preview.png)")
    return "\n".join(lines)


def split_sizes(split: Any) -> dict[str, int]:
    return {k: int(len(getattr(split, k))) for k in ("train", "val", "test")}
