"""Named starting points of ``qsdaqec fit``: a preset fills in the options a user leaves out.

``default`` is ``FitConfig``'s own defaults: chosen by measurement to learn on a 2-core CPU in
minutes (docs/training.md). ``paper`` is what the paper states and nothing it does not: 224 px
grayscale input, the forward-diffusion augmentor, plain cross-entropy, Adam with a cosine
schedule, no extra views, no weight averaging and no noise matching (so the noise shortcut that
noise matching removes is back; see docs/augmentation.md). Options given explicitly always win
over the preset.

This module stays torch-free: ``qsdaqec fit --help`` lists the presets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..registry import Registry
from .config import FitConfig


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    """``FitConfig`` fields and their values in this preset (the rest keep the defaults)."""


PRESETS: Registry[Preset] = Registry("preset")
PRESETS.register(
    "default",
    Preset("default", "measured to learn on a 2-core CPU in about 10 minutes"),
)
PRESETS.register(
    "paper",
    Preset(
        "paper",
        "the paper's stated settings: 224 px grayscale, no extra views or tricks",
        {
            "image_size": 224,
            "input": "gray",
            "encoding": "amplitude",
            "epochs": 20,
            "lr": 3e-3,
            "optimizer": "adam",
            "schedule": "cosine",
            "weight_decay": 1e-4,
            "label_smoothing": 0.0,
            "ema": 0.0,
            "class_weighted": False,
            "rot90": False,
            "affine_degrees": 0.0,
            "affine_scale": 0.0,
            "affine_shift": 0.0,
            "noise_match": False,
            "patience": 8,
            "test_views": 1,
            "output_stride": 32,
            "pooling": "avg",
            "lesion_weight": 0.0,
        },
    ),
)


def preset_config(name: str = "default", **options: Any) -> FitConfig:
    """A ``FitConfig`` from preset ``name`` with ``options`` on top; the preset's name is kept
    in ``extra["preset"]`` (and so in config.json)."""
    preset = PRESETS.get(name)
    extra = {**options.pop("extra", {}), "preset": name}
    return FitConfig(**{**preset.values, **options, "extra": extra})
