"""Models: the SDA-QEC model (MobileNetV2 backbone + 256-d projection + quantum or dense head)
and the torchvision baselines (ResNet18, MobileNetV2, DenseNet121, VGG16).

The quantum head lives one layer up (``qsdaqec.quantum``); this package never imports it.
"""

from .heads import DenseHead
from .nets import (
    MODELS,
    WEIGHTS,
    BaselineModel,
    GrayToRGB,
    SDAQECModel,
    build_model,
    resolve_weights,
)
from .weights import NOT_CACHED_MESSAGE, cached_weights_path, load_imagenet_state

__all__ = [
    "MODELS",
    "NOT_CACHED_MESSAGE",
    "WEIGHTS",
    "BaselineModel",
    "DenseHead",
    "GrayToRGB",
    "SDAQECModel",
    "build_model",
    "cached_weights_path",
    "load_imagenet_state",
    "resolve_weights",
]
