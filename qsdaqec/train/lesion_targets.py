"""Lesion supervision in stage 1: where each training image's lesions are, and the loss of the
lesion map (``qsdaqec.models.lesion.LesionMap``) against it.

The targets are a map channel at image resolution (a Gaussian blob of peak 1 at each lesion
centre, its width from the lesion's box) that rides along with the image through the training
views (flips, turns, the affine warp), then is max-pooled to the lesion map's 8-px cells. An
image of the negative class has no lesions by definition; a positive image is supervised only
where its lesions are known (``lesions.json``); a synthetic (augmented) image has its source's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.lesions import LesionTable

POSITIVE_WEIGHT = 20.0
"""How much more a lesion cell counts than a background cell in the lesion-map loss: a lesion
covers 1-4 of a 128-px image's 256 cells, so unweighted the map learns "never"."""


@dataclass
class LesionTargets:
    """Per training row: the lesion channel ``heat`` ``(N, 1, H, W)`` (made on use for a
    streamed training set: :class:`LesionHeat`) and whether the row's lesions are ``known``
    ``(N,)``."""

    heat: torch.Tensor | LesionHeat
    known: torch.Tensor

    @property
    def n_known_positive(self) -> int:
        if isinstance(self.heat, LesionHeat):
            return self.heat.n_nonzero()
        return int((self.heat.flatten(1).amax(1) > 0).sum())


class LesionHeat:
    """The lesion channels of training rows, made when a batch takes them: ``heat[rows]`` is
    ``(B, 1, size, size)``, the rows of the tensor :func:`training_targets` would hold (which,
    for a data set streamed from its files, would be as large as the images)."""

    def __init__(self, spots: list[list[tuple[float, float, float]]], size: int):
        self.spots = spots  # per row: its lesions (x, y, reach); empty: none
        self.size = size

    def __len__(self) -> int:
        return len(self.spots)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.spots), 1, self.size, self.size))

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        picked = [self.spots[i] for i in torch.as_tensor(rows).reshape(-1).tolist()]
        if not picked:
            return torch.zeros(0, 1, self.size, self.size)
        return torch.stack([lesion_channel(s, self.size) for s in picked])

    def n_nonzero(self) -> int:
        """Rows whose channel is not all zero (made one at a time: nothing is kept)."""
        return sum(1 for s in self.spots if s and bool(lesion_channel(s, self.size).amax() > 0))


@dataclass
class LesionBatch:
    """Training labels with lesion targets: what stage 1's loss takes with a lesion map."""

    labels: torch.Tensor
    heat: torch.Tensor
    known: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def lesion_channel(lesions: Sequence[tuple[float, float, float]], size: int) -> torch.Tensor:
    """``(1, size, size)``: the max of Gaussian blobs (peak 1) at ``(x, y)`` with width
    ``max(reach / 2, 1)`` pixels, one per lesion ``(x, y, reach)``."""
    out = torch.zeros(1, size, size)
    if not lesions:
        return out
    grid = torch.arange(size, dtype=torch.float32) + 0.5
    for x, y, reach in lesions:
        s = max(reach / 2.0, 1.0)
        gx = torch.exp(-0.5 * ((grid - x) / s) ** 2)
        gy = torch.exp(-0.5 * ((grid - y) / s) ** 2)
        out[0] = torch.maximum(out[0], gy[:, None] * gx[None, :])
    return out


def training_targets(
    table: LesionTable | None,
    ids: Sequence[str],
    labels: torch.Tensor,
    sources: torch.Tensor,
    positive: int,
    size: int,
    *,
    lazy: bool = False,
) -> LesionTargets | None:
    """The targets of training rows whose dataset rows are ``sources`` (``-1``: no source, e.g.
    a DDPM sample: unknown). ``None`` when no positive row has known lesions (nothing to learn
    where to look from). ``lazy``: the channels are made per batch (:class:`LesionHeat`)."""
    if table is None:
        return None
    spots: list[list[tuple[float, float, float]]] = [[] for _ in range(len(sources))]
    known = torch.zeros(len(sources), dtype=torch.bool)
    for row, src in enumerate(sources.tolist()):
        if int(labels[row]) != positive:
            known[row] = True  # the negative class has no lesions
            continue
        entry = table.get(ids[src]) if src >= 0 else None
        if entry is None or not entry.lesions:
            continue  # a positive image without lesion positions: not supervised
        known[row] = True
        spots[row] = [(le.x, le.y, le.reach) for le in entry.scaled(size)]
    heat = LesionHeat(spots, size)
    targets = LesionTargets(heat if lazy else heat[torch.arange(len(spots))], known)
    return targets if targets.n_known_positive else None


def cell_targets(heat: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """The lesion channel max-pooled to the lesion map's cells ``shape`` (h, w)."""
    return F.adaptive_max_pool2d(heat.float(), tuple(shape))


def lesion_map_loss(logits: torch.Tensor, heat: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Weighted binary cross-entropy of the lesion logits ``(B, 1, h, w)`` against the cells'
    targets, a lesion cell counting :data:`POSITIVE_WEIGHT` times more; per image normalised by
    its weights, averaged over the images whose lesions are known (0 when none is)."""
    if not bool(known.any()):
        return logits.sum() * 0.0
    logits, target = logits[known].float(), cell_targets(heat[known], logits.shape[-2:])
    weight = 1.0 + POSITIVE_WEIGHT * target
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    per_image = (weight * bce).flatten(1).sum(1) / weight.flatten(1).sum(1)
    return per_image.mean()


class LesionLoss(nn.Module):
    """Stage 1's loss with lesion supervision: the classification loss of the logits plus
    ``weight`` times the lesion-map loss of the fine and of the coarse map."""

    def __init__(self, classification: nn.Module, weight: float):
        super().__init__()
        self.classification = classification
        self.weight = weight

    def forward(self, output: tuple[torch.Tensor, Any], y: LesionBatch) -> torch.Tensor:
        logits, lesion = output  # lesion: the fine and coarse lesion logits
        loss = self.classification(logits, y.labels)
        both = lesion_map_loss(lesion.fine, y.heat, y.known)
        both = both + lesion_map_loss(lesion.coarse, y.heat, y.known)
        return loss + self.weight * both


class WithLesionMap(nn.Module):
    """The model seen by stage 1's loop when the lesion map is supervised: logits and lesion
    logits from one pass."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self.model.forward_with_map(x)
