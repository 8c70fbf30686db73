"""Label-preserving views of training batches: flips, right-angle turns and a small affine warp
(rotation, zoom, shift), each drawn per image from the epoch's seeded CPU generator (so a seed
means the same views on every device)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import FitConfig


def flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally and/or vertically with probability 1/2 each."""
    h = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    v = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    x = torch.where(h.view(-1, 1, 1, 1), x.flip(-1), x)
    return torch.where(v.view(-1, 1, 1, 1), x.flip(-2), x)


def rot90(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Transpose each (square) image with probability 1/2: with flips, all 8 right-angle views."""
    t = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    return torch.where(t.view(-1, 1, 1, 1), x.transpose(-1, -2), x)


def affine(x: torch.Tensor, g: torch.Generator, degrees: float, scale: float, shift: float):
    """Rotate by up to ``degrees``, zoom by up to ``scale`` (a fraction) and shift by up to
    ``shift`` (a fraction of half the side), each image its own draw; edges reflected."""
    n = x.shape[0]

    def uniform() -> torch.Tensor:  # in [-1, 1)
        return torch.rand(n, generator=g) * 2 - 1

    angle = uniform() * math.radians(degrees)
    zoom = 1 + uniform() * scale
    tx, ty = uniform() * shift, uniform() * shift
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def augment_batch(x: torch.Tensor, cfg: FitConfig, g: torch.Generator) -> torch.Tensor:
    """The training views ``cfg`` asks for, in a fixed order: flips, turns, affine warp."""
    if cfg.flips:
        x = flip(x, g)
    if cfg.rot90:
        x = rot90(x, g)
    if cfg.affine_degrees or cfg.affine_scale or cfg.affine_shift:
        x = affine(x, g, cfg.affine_degrees, cfg.affine_scale, cfg.affine_shift)
    return x
