"""Looking at the lesion: a finer last stage, a lesion map, and pooling guided by it.

A stenosis is a few pixels of narrowed vessel in a large image. Averaging the backbone's last
feature map over the whole image (the paper's global average pool) dilutes that one local
finding among everything else, and at stride 32 a 128-px image is a 4 x 4 grid, too coarse to
say where anything is. Three changes, chosen by measurement (docs/training.md):

- **Output stride 16.** The last stage of MobileNetV2 (blocks 14-18) runs at stride 16 with
  dilated convolutions (as DeepLab does), so its map is 8 x 8 at 128 px; same weights.
- **A lesion map** (:class:`LesionMap`), in two resolutions. *Coarse*: a 1 x 1 convolution
  of the last (1280-d, stride-16) map, one logit per cell. *Fine*: the stride-8 features
  (block 6) and the last map, upsampled, fused by small convolutions into a 1280-d map at
  stride 8, and a 1 x 1 convolution of it: one logit per 8-px cell. Where lesion positions
  are known (``lesions.json``) both learn from them (``qsdaqec.train.lesion_targets``);
  ``predict`` reports the fine map's peaks.
- **Lesion pooling** (:func:`lesion_pool`): the stride-8 1280-d map is averaged with weights
  from the fine lesion logits (a softmax over cells: attention pooling in the sense of
  multiple-instance learning), so one lesion decides what the head sees. Because the logits
  are a linear read-out of those same 1280-d features, the pooled vector carries how
  lesion-like its most lesion-like cell is, along one direction: supervising the map makes
  the pooled features separate the classes. The head still classifies one pooled 1280-d
  vector per image: Linear(1280 -> 256) + ReLU -> the quantum head, as in the paper.

Measured on the built-in data (seed 0, 16 epochs, docs/training.md): pooling the stride-16
map by attention from an unsupervised-for-pooling fine map gave test AUC 0.64 although the
map itself found the lesions (map maximum AUC 0.91); pooling the stride-16 map by its own
supervised logits 0.81; the stride-8 map read by its own logits is what follows the map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

#: MobileNetV2 ``features`` blocks: 0-6 end at stride 8 (32 channels), 7-13 at stride 16,
#: 14-18 at stride 32 (the last conv gives 1280 channels).
STRIDE8_BLOCKS = 7
LAST_STAGE = 14
STRIDE8_CHANNELS = 32
OUTPUT_STRIDES = (32, 16)
MAP_STRIDE = 8


def dilate_last_stage(features: nn.Sequential) -> nn.Sequential:
    """Run MobileNetV2's last stage (blocks 14-18) at stride 16: its stride-2 convolution
    becomes stride 1 and every 3x3 convolution from there on dilation 2 (same weights, same
    receptive field in pixels, twice the resolution). In place; returns ``features``."""
    dilated = False
    for block in features[LAST_STAGE:]:
        for conv in block.modules():
            if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (3, 3):
                continue
            if conv.stride == (2, 2):
                conv.stride = (1, 1)
                dilated = True
            if dilated:
                conv.dilation, conv.padding = (2, 2), (2, 2)
    return features


def _conv_bn(cin: int, cout: int, k: int) -> nn.Sequential:
    """Convolution, BatchNorm, ReLU6: MobileNetV2's own block, so the stride-8 1280-d map is
    bounded as its last map is (unbounded ReLU features let a from-scratch run collapse its
    projection onto a few dimensions: seed 1 did, 2026-12-05)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()
    )


class LesionLogits(NamedTuple):
    """The lesion map: ``fine`` logits ``(B, 1, H/8, W/8)``, ``coarse`` logits on the last
    map's grid ``(B, 1, h, w)``, and the stride-8 ``features`` ``(B, 1280, H/8, W/8)`` the fine
    logits read."""

    fine: torch.Tensor
    coarse: torch.Tensor
    features: torch.Tensor


class LesionMap(nn.Module):
    """The last map (coarse logits) and the stride-8 features with it (a 1280-d stride-8 map
    and its fine logits)."""

    def __init__(self, deep_channels: int = 1280, width: int = 64):
        super().__init__()
        self.coarse = nn.Conv2d(deep_channels, 1, 1)
        self.lateral = _conv_bn(STRIDE8_CHANNELS, width, 1)
        self.top = _conv_bn(deep_channels, width, 1)
        self.fuse = _conv_bn(width, width, 3)
        self.expand = _conv_bn(width, deep_channels, 1)
        self.out = nn.Conv2d(deep_channels, 1, 1)
        # Start from "lesions are rare" (a prior of 1 %), as detection heads do: the first
        # steps then do not spend themselves on pushing every cell down.
        for conv in (self.coarse, self.out):
            nn.init.constant_(conv.bias, -4.6)

    def forward(self, f8: torch.Tensor, deep: torch.Tensor) -> LesionLogits:
        top = F.interpolate(
            self.top(deep), size=f8.shape[-2:], mode="bilinear", align_corners=False
        )
        features = self.expand(self.fuse(self.lateral(f8) + top))
        return LesionLogits(self.out(features), self.coarse(deep), features)


def lesion_pool(features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` features averaged over cells with softmax weights from the lesion
    logits ``(B, 1, h, w)`` on the same grid: ``(B, C)``."""
    weights = torch.softmax(logits.float().flatten(1), dim=1).to(features.dtype)
    return (features.flatten(2) * weights.unsqueeze(1)).sum(-1)
