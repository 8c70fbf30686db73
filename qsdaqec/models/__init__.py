"""Models: the SDA-QEC model (MobileNetV2 backbone + 256-d projection + quantum or dense head)
and the torchvision baselines (ResNet18, MobileNetV2, DenseNet121, VGG16).

The quantum head lives one layer up (``qsdaqec.quantum``); this package never imports it.
"""

from .heads import DenseHead
from .inputs import INPUTS, InputChannels, sato
from .lesion import OUTPUT_STRIDES
from .nets import MODELS, POOLINGS, BaselineModel, SDAQECModel, build_model
from .views import VIEWS, dihedral_views, view_averaged
from .weights import (
    NOT_CACHED_MESSAGE,
    OFFLINE_ENV,
    WEIGHTS,
    StartWeights,
    cached_weights_path,
    imagenet_url,
    load_imagenet_state,
    resolve_weights,
)

__all__ = [
    "MODELS",
    "OUTPUT_STRIDES",
    "POOLINGS",
    "VIEWS",
    "NOT_CACHED_MESSAGE",
    "OFFLINE_ENV",
    "WEIGHTS",
    "BaselineModel",
    "DenseHead",
    "INPUTS",
    "InputChannels",
    "SDAQECModel",
    "StartWeights",
    "build_model",
    "dihedral_views",
    "cached_weights_path",
    "imagenet_url",
    "load_imagenet_state",
    "resolve_weights",
    "sato",
    "view_averaged",
]
