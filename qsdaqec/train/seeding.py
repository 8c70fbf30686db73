"""Seeding and RNG state: every epoch reproducible on its own, so a resumed run equals an
uninterrupted one."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def set_determinism(seed: int, num_threads: int | None = None) -> int:
    """Seed everything, deterministic kernels; returns the torch thread count in use."""
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    # torch.use_deterministic_algorithms() imports torch._inductor (seconds of start-up); the
    # flag itself lives in torch._C, so set it there when available.
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is not None:
        setter(True, warn_only=True)
    else:  # pragma: no cover
        torch.use_deterministic_algorithms(True, warn_only=True)
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.benchmark = False
    seed_all(seed)
    return torch.get_num_threads()


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def derived_seed(seed: int, *parts: int) -> int:
    """A seed for (stage, epoch, ...) so every epoch is reproducible on its own (exact resume)."""
    h = seed * 1_000_003
    for p in parts:
        h = (h * 10_007 + int(p)) % (2**62)
    return h


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.as_tensor(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
