"""Test-time views: the backbone's features of an image averaged over its right-angle flips
and transposes, the symmetries the training augmentation teaches (flips, rot90).

Averaging *features*, not predictions, keeps one feature vector per image: the head, and a
hardware job, still run one circuit per image, so the views cost backbone time only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

VIEWS = (1, 2, 4, 8)
"""1: the image as it is; 2: and its horizontal flip; 4: the four flips; 8: and their
transposes (the dihedral group of the square)."""


def dihedral_views(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """The first ``n`` of the 8 views of images ``x`` ``(B, C, H, W)`` (square)."""
    out = []
    for t in (x, x.transpose(-1, -2)):
        for flipped in (t, t.flip(-1), t.flip(-2), t.flip(-1, -2)):
            out.append(flipped)
    return out[:n]


def view_averaged(features: Callable[[torch.Tensor], torch.Tensor], n: int):
    """``features`` averaged over ``n`` views (``features`` itself when ``n == 1``)."""
    if n == 1:
        return features

    def averaged(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([features(v) for v in dihedral_views(x, n)]).mean(0)

    return averaged
