"""Stage 1's input channels computed once per image, not at every step.

With ``--input vessel`` the backbone's channels include two Sato vesselness maps, which cost
about a tenth of a CPU training step to compute. They depend only on the image, so the training
and validation splits' channels are made once; each step then takes its rows, recomputes only
the rows that noise matching replaced, and flips, turns and warps the channels (the filter is
symmetric: the channels of a flipped image are the flipped channels; a small affine warp of the
maps stands in for the maps of the warped image). ``gray`` input repeats the image: nothing to
save. Past :data:`CACHE_BYTES` the channels are computed per step as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .accel import Accel
from .batching import chunks

#: The cache holds 3 float32 channels per image (1000 images at 128 px: 200 MB).
CACHE_BYTES = 2 << 30


@dataclass
class CachedChannels:
    """The channels of the training and validation images, and the model's ``prep``."""

    x: torch.Tensor
    x_val: torch.Tensor
    prep: torch.nn.Module

    def with_noise(self, xb: torch.Tensor, gray: torch.Tensor, noisy: torch.Tensor):
        """``xb`` (the batch's cached channels) with the rows noise matching changed (``gray``
        before, ``noisy`` after) replaced by the channels of the noisy images."""
        changed = (noisy != gray).flatten(1).any(1)
        if not bool(changed.any()):
            return xb
        xb = xb.clone()
        xb[changed] = self.prep.channels(noisy[changed]).to(xb.dtype)
        return xb


def cache_channels(model, x: torch.Tensor, x_val: torch.Tensor, accel: Accel):
    """:class:`CachedChannels` for ``model`` on ``accel``, or ``None`` when there is nothing to
    save (gray input) or the cache would be too large."""
    prep = getattr(model, "prep", None)
    if prep is None or getattr(prep, "kind", "gray") != "vessel":
        return None
    n = x.shape[0] + x_val.shape[0]
    if n * 3 * x.shape[-2] * x.shape[-1] * 4 > CACHE_BYTES:
        return None
    return CachedChannels(_channels(prep, x, accel), _channels(prep, x_val, accel), prep)


@torch.no_grad()
def _channels(prep, x: torch.Tensor, accel: Accel, batch: int = 64) -> torch.Tensor:
    parts = [prep.channels(accel.batch(xb)) for xb in chunks(x, batch)]
    return torch.cat(parts).contiguous()
