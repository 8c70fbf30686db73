"""The SDA-QEC model and the torchvision baselines.

Every model takes grayscale images ``(B, 1, H, W)`` in ``[0, 1]``, repeats them to 3 channels
(and applies the ImageNet normalisation when ImageNet weights are used), and exposes

- ``features(x) -> (B, feature_dim)``: everything up to the classifier head
  (``feature_dim == 256`` for the SDA-QEC model), so callers can cache features;
- ``head``: the module mapping features to ``(B, 2)`` logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import mobilenet_v2

from ..errors import ConfigError
from .weights import NOT_CACHED_MESSAGE, load_imagenet_state

MODELS = ("sdaqec", "resnet18", "mobilenet_v2", "densenet121", "vgg16")
WEIGHTS = ("imagenet", "none")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayToRGB(nn.Module):
    """``(B, 1, H, W)`` in [0, 1] -> ``(B, 3, H, W)``, ImageNet-normalised when ``normalize``."""

    def __init__(self, normalize: bool):
        super().__init__()
        self.normalize = bool(normalize)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}"


class SDAQECModel(nn.Module):
    """MobileNetV2 features -> global average pool -> 1280 -> Linear(1280->256)+ReLU -> head."""

    feature_dim = 256

    def __init__(self, head: nn.Module, *, normalize: bool = False):
        super().__init__()
        self.prep = GrayToRGB(normalize)
        self.backbone = mobilenet_v2(weights=None).features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Sequential(nn.Linear(1280, self.feature_dim), nn.ReLU())
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pool(self.backbone(self.prep(x))).flatten(1)
        return self.proj(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        # The head runs in float32 on its own device: a quantum head computes on the CPU
        # (TorchConnector hands the circuit to numpy) even when the backbone is on a GPU.
        p = next(self.head.parameters(), None)
        with torch.autocast(z.device.type, enabled=False):
            out = self.head(z.float().to(p.device if p is not None else z.device))
        return out.to(z.device)

    def feature_modules(self) -> list[nn.Module]:
        """What ``features`` runs through (frozen in the noisy fine-tuning stage)."""
        return [self.backbone, self.proj]


class BaselineModel(nn.Module):
    """A torchvision classifier split into ``body`` (features) and a 2-class ``head``."""

    def __init__(
        self, arch: str, body: nn.Module, head: nn.Module, feature_dim: int, *, normalize: bool
    ):
        super().__init__()
        self.arch = arch
        self.prep = GrayToRGB(normalize)
        self.body = body
        self.head = head
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prep(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def feature_modules(self) -> list[nn.Module]:
        return [self.body]


def _torchvision_model(arch: str, state: dict | None) -> nn.Module:
    net = getattr(tvm, arch)(weights=None)
    if state is not None:
        net.load_state_dict(state)
    return net


def _split_baseline(arch: str, net: nn.Module, n_classes: int, normalize: bool) -> BaselineModel:
    if arch == "resnet18":
        dim = net.fc.in_features
        net.fc = nn.Identity()
        body = nn.Sequential(net)
    elif arch == "mobilenet_v2":
        dim = net.classifier[-1].in_features
        body = nn.Sequential(
            net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), net.classifier[:-1]
        )
    elif arch == "densenet121":
        dim = net.classifier.in_features
        body = nn.Sequential(net.features, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    elif arch == "vgg16":
        dim = net.classifier[-1].in_features
        body = nn.Sequential(net.features, net.avgpool, nn.Flatten(1), net.classifier[:-1])
    else:  # pragma: no cover - guarded by build_model
        raise ConfigError(f"unknown model {arch!r}")
    return BaselineModel(arch, body, nn.Linear(dim, n_classes), dim, normalize=normalize)


def resolve_weights(model: str, weights: str) -> tuple[dict | None, str, str | None]:
    """(ImageNet state dict or None, the weights actually used, a message for the user or None)."""
    if weights not in WEIGHTS:
        raise ConfigError(f"unknown --weights {weights!r}; choose one of {', '.join(WEIGHTS)}")
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if weights == "none":
        return None, "none", None
    arch = "mobilenet_v2" if model == "sdaqec" else model
    state = load_imagenet_state(arch)
    if state is None:
        return None, "none", NOT_CACHED_MESSAGE
    return state, "imagenet", None


def build_model(
    model: str = "sdaqec", *, head: nn.Module | None = None, weights: str = "none"
) -> tuple[nn.Module, str, str | None]:
    """Build a model. Returns ``(module, weights_used, message)``.

    ``model="sdaqec"`` needs its ``head`` (a module from 256 features to 2 logits: the quantum
    head or :class:`~qsdaqec.models.heads.DenseHead`); a baseline always has its own 2-class
    linear head. ``weights="imagenet"`` loads the cached torchvision weights when present;
    otherwise the model starts from scratch, ``weights_used`` is ``"none"`` and ``message``
    says so.
    """
    state, used, message = resolve_weights(model, weights)
    normalize = used == "imagenet"
    if model == "sdaqec":
        if head is None:
            raise ConfigError("the SDA-QEC model needs its head module (quantum or DenseHead)")
        net = SDAQECModel(head, normalize=normalize)
        if state is not None:
            mb = _torchvision_model("mobilenet_v2", state)
            net.backbone.load_state_dict(mb.features.state_dict())
        return net, used, message
    return _split_baseline(model, _torchvision_model(model, state), 2, normalize), used, message
