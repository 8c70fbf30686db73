"""The classical head on the 256-d features: ``Dense(256 -> 2)``, the paper's control.

The quantum head is :class:`qsdaqec.quantum.QuantumHead`; which head a run uses is chosen by
name in ``qsdaqec.train.model`` (the layer that knows both).
"""

from __future__ import annotations

from torch import nn


class DenseHead(nn.Module):
    """The classical control: ``Linear(in_features -> 2)`` logits."""

    def __init__(self, in_features: int = 256, n_classes: int = 2):
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)

    def forward(self, x):
        return self.linear(x)
