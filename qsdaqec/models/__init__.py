"""Models: the SDA-QEC model (MobileNetV2 backbone + 256-d projection + quantum or dense head)
and the torchvision baselines (ResNet18, MobileNetV2, DenseNet121, VGG16)."""

from .heads import ENCODINGS, HEADS, DenseHead, build_head, quantum_head_config
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
    "ENCODINGS",
    "HEADS",
    "MODELS",
    "NOT_CACHED_MESSAGE",
    "WEIGHTS",
    "BaselineModel",
    "DenseHead",
    "GrayToRGB",
    "SDAQECModel",
    "build_head",
    "build_model",
    "cached_weights_path",
    "load_imagenet_state",
    "quantum_head_config",
    "resolve_weights",
]
