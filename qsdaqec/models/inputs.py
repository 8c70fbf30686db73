"""What the backbone sees: a grayscale angiogram turned into its 3 input channels.

``gray``: the image repeated 3 times (the paper's). ``vessel``: ``[gray, Sato small scales,
Sato large scales]``: the image and two maps of how tube-like (vessel-like) each pixel is, at
thin and at wide vessel widths (Sato et al. 1998, the filter of ``skimage.filters.sato`` with
``black_ridges=True``). A narrowing shows in them as a gap or a thinning of the ridge. The
maps come from the image alone (no weights), inside the model, so fit, evaluate, predict and
jobs see the same inputs. Either way the channels are ImageNet-normalised when the backbone
starts from ImageNet weights.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

INPUTS = ("gray", "vessel")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Sato scales (Gaussian sigma, pixels at 128 px; scaled with the image size): thin vessels and
#: wide ones. The maps are multiplied by VESSEL_GAIN to lie roughly in [0, 1].
SMALL_SIGMAS = (1.0, 1.5, 2.0)
LARGE_SIGMAS = (3.0, 4.0)
REFERENCE_SIZE = 128
VESSEL_GAIN = 4.0


@functools.lru_cache(maxsize=32)
def _kernel_bank(sigmas: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Row and column kernels (Gaussian g and its derivatives g', g'' per sigma, zero-padded to
    one length): a row pass then a grouped column pass give H_rr, H_cc, H_rc for every sigma."""
    radius = max(1, math.ceil(4.0 * max(sigmas)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    rows, cols = [], []
    for sigma in sigmas:
        g = torch.exp(-0.5 * (t / sigma) ** 2)
        g = g / g.sum()
        g1 = -t / sigma**2 * g
        g1 = g1 / -(g1 * t).sum()  # exact on the grid: d/dx of x is 1
        g2 = (t**2 / sigma**4 - 1 / sigma**2) * g
        g2 = g2 - g2.mean()
        g2 = g2 / (g2 * t**2 / 2).sum()  # d2/dx2 of x^2/2 is 1
        rows += [g2, g, g1]
        cols += [g, g2, g1]
    # conv2d correlates: flip to convolve (g1 is odd)
    row = torch.stack(rows).flip(1).view(-1, 1, 2 * radius + 1, 1).float()
    col = torch.stack(cols).flip(1).view(-1, 1, 1, 2 * radius + 1).float()
    return row, col, radius


def sato(x: torch.Tensor, sigmas: tuple[float, ...]) -> torch.Tensor:
    """Sato tubeness of dark ridges for images ``(B, 1, H, W)``: per pixel the largest Hessian
    eigenvalue, clipped at 0, times sigma^2, maximised over ``sigmas``; same shape out."""
    row, col, r = _kernel_bank(tuple(float(s) for s in sigmas))
    n = len(sigmas)
    pad_mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
    y = F.conv2d(F.pad(x, (0, 0, r, r), mode=pad_mode), row.to(x.device, x.dtype))
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode=pad_mode), col.to(x.device, x.dtype), groups=3 * n)
    y = y.view(x.shape[0], n, 3, *x.shape[-2:])
    hrr, hcc, hrc = y[:, :, 0], y[:, :, 1], y[:, :, 2]
    lam = 0.5 * (hrr + hcc) + torch.sqrt(0.25 * (hrr - hcc) ** 2 + hrc**2)
    s2 = torch.tensor([float(s) ** 2 for s in sigmas], dtype=x.dtype, device=x.device)
    return (s2.view(1, n, 1, 1) * lam.clamp(min=0)).amax(1, keepdim=True)


class InputChannels(nn.Module):
    """``(B, 1, H, W)`` in [0, 1] -> ``(B, 3, H, W)``: ``gray`` or ``vessel`` channels (module
    docstring), ImageNet-normalised when ``normalize``. No weights."""

    def __init__(self, kind: str = "gray", normalize: bool = False):
        super().__init__()
        if kind not in INPUTS:
            raise ConfigError(f"unknown input {kind!r}; choose one of {', '.join(INPUTS)}")
        self.kind = kind
        self.normalize = bool(normalize)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grayscale ``(B, 1, H, W)``, or channels :meth:`channels` already made ``(B, 3, H,
        W)`` -> the backbone's input."""
        if x.dim() != 4:
            raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = self.channels(x)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x

    def channels(self, x: torch.Tensor) -> torch.Tensor:
        """The 3 channels of grayscale images, before normalisation. Training computes them
        once per image and passes them in (the vessel maps cost about as much as a tenth of a
        training step on a CPU); flips and turns of the channels equal the channels of the
        flipped image (the filter is symmetric)."""
        if self.kind == "vessel":
            return self._vessel(x)
        return x.expand(-1, 3, -1, -1)

    @torch.no_grad()
    def _vessel(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            raise ValueError(f"vessel input takes grayscale (B, 1, H, W), got {tuple(x.shape)}")
        f = x.shape[-1] / REFERENCE_SIZE
        x32 = x.float()
        small = VESSEL_GAIN * sato(x32, tuple(s * f for s in SMALL_SIGMAS))
        large = VESSEL_GAIN * sato(x32, tuple(s * f for s in LARGE_SIGMAS))
        return torch.cat([x32, small, large], 1).to(x.dtype)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, normalize={self.normalize}"
