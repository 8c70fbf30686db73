"""ImageNet weights from the local torch hub cache only: this package never downloads.

A torchvision ``Weights`` enum names its file by URL; torchvision itself caches it under
``torch.hub.get_dir()/checkpoints/<file name of the URL>``. We look there and nowhere else.
To make weights available offline, copy the file there (or run, once, on a machine with a
network: ``python -c "import torchvision; torchvision.models.mobilenet_v2(weights='DEFAULT')"``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torchvision import models as tvm

from ..errors import ConfigError

NOT_CACHED_MESSAGE = "ImageNet weights not cached; training from scratch"


def _weights_enum(arch: str):
    table = {
        "mobilenet_v2": tvm.MobileNet_V2_Weights.IMAGENET1K_V1,
        "resnet18": tvm.ResNet18_Weights.IMAGENET1K_V1,
        "densenet121": tvm.DenseNet121_Weights.IMAGENET1K_V1,
        "vgg16": tvm.VGG16_Weights.IMAGENET1K_V1,
    }
    if arch not in table:
        raise ConfigError(f"no ImageNet weights known for {arch!r}; choose one of {sorted(table)}")
    return table[arch]


def cached_weights_path(arch: str) -> Path:
    """Where torchvision caches ``arch``'s ImageNet weights (the file may not exist)."""
    url = _weights_enum(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def load_imagenet_state(arch: str) -> dict[str, torch.Tensor] | None:
    """The cached ImageNet state dict of torchvision ``arch``, or ``None`` when not cached."""
    path = cached_weights_path(arch)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated download: say so instead of a traceback
        raise ConfigError(
            f"{path}: cached ImageNet weights are unreadable ({type(e).__name__}); "
            "delete the file or pass --weights none"
        ) from None
    if arch == "densenet121":  # old-style keys, as torchvision's own loader rewrites them
        for key in list(state):
            m = _DENSENET_KEY.match(key)
            if m:
                state[m.group(1) + m.group(2)] = state.pop(key)
    return state
