"""Distribution distances between real and synthetic images: KID, and FID when asked.

No download ever happens here. Features come from one of:

- ``random-conv`` (default): a fixed, randomly initialised 4-layer conv net on 128 px inputs, mean
  and std pooled per layer (weights drawn from a seeded generator, identical on every machine).
  It is *not* a trained network: its KID measures
  low-level statistics (intensity, texture, edges at a few scales), and its values are only
  comparable with other values computed by the same network and seed.
- ``mobilenet_v2``: torchvision MobileNetV2 with ImageNet weights, only if the weights file is
  already in the torch hub cache (``torch.hub.get_dir()/checkpoints/mobilenet_v2-*.pth``).
- ``inception``: torchvision Inception-v3 pool features from a weights file the user supplies
  (``inception_weights=``). Only then is FID reported (FID on 2048-d features needs many images;
  with fewer images than dimensions it is strongly biased upwards).

KID is the unbiased MMD^2 with the polynomial kernel ``k(x, y) = (x.y / d + 1)^3`` (Binkowski et
al. 2018); ``std`` is the spread over random half-size subsets.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn
from torchvision.models import inception_v3, mobilenet_v2

from ..errors import ConfigError, DataError

FEATURE_NETWORKS = ("random-conv", "mobilenet_v2", "inception")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- feature networks


class RandomConvNet(nn.Module):
    """Fixed random conv features: 4 conv+ReLU layers on a 128 px input; mean and std of every
    layer's activations over space (960-d). Weights come from a seeded generator."""

    input_size = 128

    def __init__(self, seed: int = 0):
        super().__init__()
        chans = [(1, 32, 1), (32, 64, 2), (64, 128, 2), (128, 256, 2)]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=s, padding=1) for a, b, s in chans)
        g = torch.Generator(device="cpu").manual_seed(seed)
        with torch.no_grad():
            for conv in self.convs:
                fan_in = conv.in_channels * 9
                conv.weight.copy_(
                    torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / fan_in)
                )
                conv.bias.zero_()
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (self.input_size, self.input_size)
        x = x.mean(1, keepdim=True)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        x = (x - 0.5) / 0.25
        feats = []
        for conv in self.convs:
            x = F.relu(conv(x))
            feats += [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
        return torch.cat(feats, dim=1)


@dataclass
class FeatureNet:
    name: str
    description: str
    module: nn.Module
    input_size: int | None
    imagenet_norm: bool

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """Features of images in ``[0, 1]`` (``(N, C, H, W)``, C = 1 or 3) -> ``(N, d)`` float64."""
        out = []
        for i in range(0, images.shape[0], batch):
            x = images[i : i + batch].to(torch.float32)
            if self.imagenet_norm:
                if x.shape[1] == 1:
                    x = x.repeat(1, 3, 1, 1)
                x = F.interpolate(
                    x,
                    size=(self.input_size, self.input_size),
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                )
                mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
                std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
                x = (x - mean) / std
            out.append(self.module(x).flatten(1).to(torch.float64))
        return torch.cat(out) if out else torch.zeros(0, 1, dtype=torch.float64)


def cached_mobilenet_v2_weights() -> Path | None:
    """The torchvision MobileNetV2 ImageNet weights file if already in the hub cache, else None."""
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    hits = sorted(ckpt.glob("mobilenet_v2-*.pth")) if ckpt.is_dir() else []
    return hits[0] if hits else None


def feature_network(
    name: str = "random-conv", *, seed: int = 0, inception_weights: str | Path | None = None
) -> FeatureNet:
    """Build a feature network without touching the network. Raises ConfigError if unavailable."""
    if name == "random-conv":
        return FeatureNet(
            name=f"random-conv(seed={seed})",
            description=(
                "fixed random-weight 4-layer conv net (960-d: mean+std pooled, 128 px input); not a "
                "trained network, values only comparable with the same network and seed"
            ),
            module=RandomConvNet(seed),
            input_size=128,
            imagenet_norm=False,
        )
    if name == "mobilenet_v2":
        path = cached_mobilenet_v2_weights()
        if path is None:
            raise ConfigError(
                f"feature_net: mobilenet_v2 weights are not in the torch hub cache "
                f"({Path(torch.hub.get_dir()) / 'checkpoints'}); nothing is downloaded — use "
                "random-conv or place mobilenet_v2-*.pth there"
            )
        net = mobilenet_v2(weights=None)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        module = nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1)).eval()
        return FeatureNet(
            name="mobilenet_v2(imagenet)",
            description=f"torchvision MobileNetV2, ImageNet weights from {path.name} (1280-d pooled)",
            module=module,
            input_size=224,
            imagenet_norm=True,
        )
    if name == "inception":
        if inception_weights is None:
            raise ConfigError(
                "inception_weights: the inception feature net needs a weights file path"
            )
        path = Path(inception_weights)
        if not path.is_file():
            raise ConfigError(f"inception_weights: {path} is not a file")
        net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            net.load_state_dict(state)
        except Exception as e:
            raise ConfigError(
                f"inception_weights: {path} is not a torchvision Inception-v3 state dict "
                f"({type(e).__name__}: {str(e).splitlines()[0][:160]})"
            ) from None
        net.fc = nn.Identity()
        net.aux_logits = False
        net.AuxLogits = None
        return FeatureNet(
            name="inception_v3(user weights)",
            description=f"torchvision Inception-v3 pool features (2048-d), weights from {path}",
            module=net.eval(),
            input_size=299,
            imagenet_norm=True,
        )
    raise ConfigError(f"feature_net: must be one of {', '.join(FEATURE_NETWORKS)}, got {name!r}")


# --------------------------------------------------------------------------- distances


def _poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(
    real: torch.Tensor, fake: torch.Tensor, n_subsets: int = 50, seed: int = 0
) -> tuple[float, float]:
    """KID of two feature sets: (unbiased MMD^2 on all samples, std over half-size subsets)."""
    m, n = real.shape[0], fake.shape[0]
    if m < 2 or n < 2:
        raise DataError(f"KID needs at least 2 real and 2 synthetic images, got {m} and {n}")
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    value = mmd2_unbiased(real, fake)
    size = max(2, min(m, n) // 2)
    g = torch.Generator(device="cpu").manual_seed(seed)
    vals = [
        mmd2_unbiased(
            real[torch.randperm(m, generator=g)[:size]], fake[torch.randperm(n, generator=g)[:size]]
        )
        for _ in range(n_subsets)
    ]
    return value, float(np.std(vals))


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets."""
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise DataError("FID needs at least 2 real and 2 synthetic images")
    a, b = real.double().numpy(), fake.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular covariances are normal with few images
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            eps = np.eye(s1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def compare(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    feature_net: str = "random-conv",
    inception_weights: str | Path | None = None,
    seed: int = 0,
    net: FeatureNet | None = None,
) -> dict[str, Any]:
    """KID (and FID with Inception weights) between real and synthetic images in ``[0, 1]``.

    The result names the feature network used, so a reported figure is never mistaken for the
    standard Inception FID/KID.
    """
    net = net or feature_network(feature_net, seed=seed, inception_weights=inception_weights)
    fr, ff = net(real), net(fake)
    k, s = kid(fr, ff, seed=seed)
    out: dict[str, Any] = {
        "feature_net": net.name,
        "feature_net_description": net.description,
        "n_real": int(real.shape[0]),
        "n_synthetic": int(fake.shape[0]),
        "kid": k,
        "kid_std": s,
    }
    if inception_weights is not None:
        inc = (
            net
            if net.name.startswith("inception")
            else feature_network("inception", inception_weights=inception_weights)
        )
        out["fid_inception"] = fid(inc(real), inc(fake))
        out["fid_feature_net"] = inc.name
        if min(real.shape[0], fake.shape[0]) < 2048:
            out["fid_note"] = "fewer images than feature dimensions (2048): FID is biased upwards"
    return out
