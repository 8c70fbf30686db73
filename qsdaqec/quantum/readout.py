"""The head's output layer on expectation values, in numpy: the one readout softmax that hardware
jobs, noise reports and ``evaluate`` share (torch-free, so job bookkeeping needs no torch)."""

from __future__ import annotations

import numpy as np


def readout_logits(evs: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The output layer ``Linear(k -> C)`` on expectation values ``(N, k)``: logits ``(N, C)``."""
    z = np.asarray(evs, dtype=np.float64) @ np.asarray(weight, dtype=np.float64).T
    return z + np.asarray(bias, dtype=np.float64)


def readout_probabilities(evs: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Class probabilities ``(N, C)``: :func:`readout_logits`, then a (max-shifted) softmax."""
    z = readout_logits(evs, weight, bias)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
