"""Minority-class augmentation: forward diffusion (the paper's), an optional DDPM, and KID.

- :class:`SimpleDiffusionAugmentor` / :class:`DiffusionConfig`: forward-only noising, no network.
- :func:`augment_training_split`: applies an augmentor to the training rows of a split only.
- ``qsdaqec.augment.ddpm``: a compact UNet DDPM trained on the minority class (imports lazily).
- ``qsdaqec.augment.distance``: KID (and FID given Inception weights) between image sets.
"""

from .diffusion import (
    AugmentResult,
    DiffusionConfig,
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

__all__ = [
    "AugmentResult",
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
