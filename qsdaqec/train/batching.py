"""Batches, batched inference and class weights.

Images are a tensor, or a :class:`qsdaqec.data.StreamedImages` read from their files batch by
batch through its ``DataLoader``; :func:`rows_of` and :func:`chunks` read either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from .accel import Accel


def batches(
    n: int, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)`` (shuffled with ``generator``); a last batch of 1 is dropped
    in training (``generator`` given) because batch norm needs two samples."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        b = order[i : i + batch_size]
        if generator is not None and b.numel() < 2:
            continue
        yield b


def rows_of(x: Any, index_batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The rows of ``x`` of each index batch: a tensor indexed, streamed images read (ahead,
    by their loader's workers)."""
    if isinstance(x, torch.Tensor):
        for b in index_batches:
            yield x[b]
    else:
        yield from x.batches(index_batches)


def chunks(x: Any, batch_size: int) -> Iterator[torch.Tensor]:
    """``x`` in consecutive batches of ``batch_size`` rows (the last one shorter)."""
    if isinstance(x, torch.Tensor):
        for i in range(0, x.shape[0], batch_size):
            yield x[i : i + batch_size]
    else:
        yield from x.batches(torch.arange(x.shape[0]).split(batch_size))


@torch.no_grad()
def predict_logits(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    batch_size: int,
    progress: Any = None,
    accel: Accel | None = None,
) -> torch.Tensor:
    """``fn`` on ``x`` in batches (on ``accel``'s device, under its autocast); float32, on the
    CPU."""
    out = []
    for xb in rows_of(x, batches(x.shape[0], batch_size)):
        if accel is None:
            out.append(fn(xb).detach().float())
        else:
            with accel.autocast():
                out.append(fn(accel.batch(xb)).detach().float().cpu())
        if progress is not None:
            progress.update(1)
    return torch.cat(out) if out else torch.zeros(0, 2)


def class_weights(labels: torch.Tensor, n_classes: int = 2) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=n_classes).float()
    return labels.numel() / (n_classes * counts.clamp(min=1))
