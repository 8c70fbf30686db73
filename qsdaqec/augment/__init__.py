"""Minority-class augmentation: forward diffusion (the paper's), an optional DDPM, and KID.

- :data:`AUGMENTORS`: the registry of augmentors (``simple``, ``ddpm``).
- :class:`SimpleDiffusionAugmentor` / :class:`DiffusionConfig`: forward-only noising, no network.
- :func:`augment_training_split`: applies an augmentor to the training rows of a split only.
- ``qsdaqec.augment.noise_match``: keeps noise from becoming a class cue during training.
- ``qsdaqec.augment.ddpm``: a compact UNet DDPM trained on the minority class.
- ``qsdaqec.augment.distance``: KID (and FID given Inception weights) between image sets.

Names are imported lazily so that ``qsdaqec.augment.config`` (the defaults) does not pull in
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "AUGMENTORS": "registry",
    "Augmentor": "registry",
    "DiffusionConfig": "config",
    "AugmentResult": "diffusion",
    "LowSNRWarning": "diffusion",
    "SimpleDiffusionAugmentor": "diffusion",
    "TrainAugmentation": "diffusion",
    "alpha_bars": "diffusion",
    "augment_training_split": "diffusion",
    "cosine_beta_schedule": "diffusion",
    "linear_beta_schedule": "diffusion",
    "measured_snr_db": "diffusion",
    "regenerate": "diffusion",
    "snr_db": "diffusion",
}

__all__ = [
    "AUGMENTORS",
    "AugmentResult",
    "Augmentor",
    "DiffusionConfig",
    "LowSNRWarning",
    "SimpleDiffusionAugmentor",
    "TrainAugmentation",
    "alpha_bars",
    "augment_training_split",
    "cosine_beta_schedule",
    "linear_beta_schedule",
    "measured_snr_db",
    "regenerate",
    "snr_db",
]

if TYPE_CHECKING:  # pragma: no cover
    from .config import DiffusionConfig
    from .diffusion import (
        AugmentResult,
        LowSNRWarning,
        SimpleDiffusionAugmentor,
        TrainAugmentation,
        alpha_bars,
        augment_training_split,
        cosine_beta_schedule,
        linear_beta_schedule,
        measured_snr_db,
        regenerate,
        snr_db,
    )
    from .registry import AUGMENTORS, Augmentor


__getattr__ = lazy_exports(__name__, _EXPORTS)
