"""The SDA-QEC model and the torchvision baselines.

Every model takes grayscale images ``(B, 1, H, W)`` in ``[0, 1]``, turns them into 3 input
channels (``model.prep``: repeated gray, or gray + vessel maps; ImageNet-normalised when
ImageNet weights are used), and exposes

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
from .inputs import InputChannels
from .lesion import (
    OUTPUT_STRIDES,
    STRIDE8_BLOCKS,
    LesionLogits,
    LesionMap,
    dilate_last_stage,
    lesion_pool,
)
from .weights import StartWeights, resolve_weights

MODELS = ("sdaqec", "resnet18", "mobilenet_v2", "densenet121", "vgg16")


POOLINGS = ("avg", "lesion")
"""avg: global average pooling (the paper's); lesion: weights from the lesion map
(:func:`qsdaqec.models.lesion.lesion_pool`)."""


class SDAQECModel(nn.Module):
    """MobileNetV2 features -> pooling -> 1280 -> Linear(1280->256)+ReLU -> head.

    The paper's: output stride 32, global average pooling, no lesion map. ``output_stride=16``,
    ``lesion_map=True`` and ``pooling="lesion"`` look at the lesion (:mod:`.lesion`).
    """

    feature_dim = 256

    def __init__(
        self,
        head: nn.Module,
        *,
        normalize: bool = False,
        input: str = "gray",
        output_stride: int = 32,
        pooling: str = "avg",
        lesion_map: bool = False,
    ):
        super().__init__()
        if output_stride not in OUTPUT_STRIDES:
            raise ConfigError(f"output stride {output_stride}: use 32 (the paper's) or 16")
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if pooling == "lesion" and not lesion_map:
            raise ConfigError("lesion pooling needs the lesion map")
        self.prep = InputChannels(input, normalize)
        self.backbone = mobilenet_v2(weights=None).features
        if output_stride == 16:
            dilate_last_stage(self.backbone)
        self.pooling = pooling
        self.lesion = LesionMap() if lesion_map else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Sequential(nn.Linear(1280, self.feature_dim), nn.ReLU())
        self.head = head

    def features_and_map(self, x: torch.Tensor) -> tuple[torch.Tensor, LesionLogits | None]:
        """The 256-d features and the lesion logits (``None`` without a lesion map)."""
        x = self.prep(x)
        if self.lesion is None:
            return self.proj(self.pool(self.backbone(x)).flatten(1)), None
        f8 = self.backbone[:STRIDE8_BLOCKS](x)
        deep = self.backbone[STRIDE8_BLOCKS:](f8)
        logits = self.lesion(f8, deep)
        if self.pooling == "lesion":
            z = lesion_pool(logits.features, logits.fine)
        else:
            z = self.pool(deep).flatten(1)
        return self.proj(z), logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_map(x)[0]

    def lesion_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The fine lesion map's logits ``(B, 1, H/8, W/8)`` of images ``x``; a model without
        one has none to give."""
        if self.lesion is None:
            raise ConfigError("this model has no lesion map (a run trained without one)")
        return self.features_and_map(x)[1].fine

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """The head on features ``z``, in float32 on the head's own device: a quantum head with
        a runner estimator computes on the CPU (TorchConnector hands the circuit to numpy) even
        when the backbone is on a GPU; an exact one stays on the GPU (it simulates in torch)."""
        p = next(self.head.parameters(), None)
        with torch.autocast(z.device.type, enabled=False):
            out = self.head(z.float().to(p.device if p is not None else z.device))
        return out.to(z.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))

    def forward_with_map(self, x: torch.Tensor) -> tuple[torch.Tensor, LesionLogits | None]:
        """Logits and lesion logits in one pass (training with lesion supervision)."""
        z, logits = self.features_and_map(x)
        return self.classify(z), logits

    def feature_modules(self) -> list[nn.Module]:
        """What ``features`` runs through (frozen in the noisy fine-tuning stage)."""
        return [m for m in (self.backbone, self.lesion, self.proj) if m is not None]


class BaselineModel(nn.Module):
    """A torchvision classifier split into ``body`` (features) and a 2-class ``head``."""

    def __init__(
        self,
        arch: str,
        body: nn.Module,
        head: nn.Module,
        feature_dim: int,
        *,
        normalize: bool,
        input: str = "gray",
    ):
        super().__init__()
        self.arch = arch
        self.prep = InputChannels(input, normalize)
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


def _split_baseline(
    arch: str, net: nn.Module, n_classes: int, normalize: bool, input: str
) -> BaselineModel:
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
    head = nn.Linear(dim, n_classes)
    return BaselineModel(arch, body, head, dim, normalize=normalize, input=input)


def _load_subset(net: nn.Module, state: dict, prefixes: tuple[str, ...], source: str) -> None:
    """Load the ``prefixes`` part of ``state`` into ``net``: every such parameter of ``net``
    must be there with its shape, or one ``ConfigError`` names the file."""
    want = {k for k in net.state_dict() if k.startswith(prefixes)}
    sub = {k: v for k, v in state.items() if k.startswith(prefixes)}
    missing = sorted(want - set(sub))
    try:
        if missing:
            raise RuntimeError(f"missing {len(missing)} key(s), e.g. {missing[0]}")
        net.load_state_dict(sub, strict=False)
    except RuntimeError as e:
        raise ConfigError(
            f"{source}: does not fit this network's {'/'.join(p.rstrip('.') for p in prefixes)} "
            f"({str(e).splitlines()[0][:160]}); pass weights of the same architecture "
            "(--model) or --weights none"
        ) from None


def _start(net: nn.Module, w: StartWeights) -> None:
    """Load starting weights into a freshly built network (``w.state`` may be ``None``)."""
    if w.state is None:
        return
    if isinstance(net, SDAQECModel):
        if w.layout == "qsdaqec":
            _load_subset(net, w.state, ("backbone.", "proj."), w.used)
        else:
            feats = {
                f"backbone.{k[9:]}": v for k, v in w.state.items() if k.startswith("features.")
            }
            _load_subset(net, feats, ("backbone.",), w.used)
        return
    if w.layout == "qsdaqec":
        _load_subset(net, w.state, ("body.",), w.used)


def build_model(
    model: str = "sdaqec",
    *,
    head: nn.Module | None = None,
    weights: str = "none",
    input: str = "gray",
    output_stride: int = 32,
    pooling: str = "avg",
    lesion_map: bool = False,
) -> tuple[nn.Module, str, str | None]:
    """Build a model. Returns ``(module, weights_used, message)``.

    ``model="sdaqec"`` needs its ``head`` (a module from 256 features to 2 logits: the quantum
    head or :class:`~qsdaqec.models.heads.DenseHead`); a baseline always has its own 2-class
    linear head. ``weights``: ``auto | imagenet | none | PATH`` (:mod:`qsdaqec.models.weights`);
    ``weights_used`` is ``imagenet``, ``none`` or the path, and ``message`` a line for the user
    (e.g. that ImageNet weights could not be had). ``module.prep.normalize`` says whether the
    network expects ImageNet-normalised inputs. ``input``: the backbone's 3 channels,
    ``gray`` (the paper's) or ``vessel`` (:mod:`qsdaqec.models.inputs`). ``output_stride``,
    ``pooling`` and ``lesion_map``: the SDA-QEC model's (:class:`SDAQECModel`).
    """
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    arch = "mobilenet_v2" if model == "sdaqec" else model
    w = resolve_weights(arch, weights)
    if model == "sdaqec":
        if head is None:
            raise ConfigError("the SDA-QEC model needs its head module (quantum or DenseHead)")
        net = SDAQECModel(
            head,
            normalize=w.normalize,
            input=input,
            output_stride=output_stride,
            pooling=pooling,
            lesion_map=lesion_map,
        )
    else:
        tv_state = w.state if w.layout == "torchvision" else None
        try:
            tv = _torchvision_model(model, tv_state)
        except RuntimeError as e:
            raise ConfigError(
                f"{w.used}: does not fit {model} ({str(e).splitlines()[0][:160]}); pass weights "
                "of the same architecture or --weights none"
            ) from None
        net = _split_baseline(model, tv, 2, w.normalize, input)
    _start(net, w)
    return net, w.used, w.message
