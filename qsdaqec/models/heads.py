"""Classifier heads on the 256-d features: the quantum head and the classical Dense(256->2)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError

HEADS = ("quantum", "classical")
ENCODINGS = ("amplitude", "angle")


class DenseHead(nn.Module):
    """The classical control: ``Linear(in_features -> 2)`` logits."""

    def __init__(self, in_features: int = 256, n_classes: int = 2):
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)

    def forward(self, x):
        return self.linear(x)


def quantum_head_config(encoding: str = "amplitude") -> Any:
    """The ``qsdaqec.quantum.HeadConfig`` for ``encoding`` (all other fields at their defaults)."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    from ..quantum import HeadConfig

    return HeadConfig(encoding=encoding)


def build_head(
    head: str = "quantum",
    *,
    encoding: str = "amplitude",
    in_features: int = 256,
    estimator: Any = None,
    gradient: Any = None,
) -> nn.Module:
    """``QuantumHead`` (``estimator``/``gradient`` ``None`` = the fast exact path) or ``DenseHead``."""
    if head == "classical":
        return DenseHead(in_features)
    if head == "quantum":
        if in_features != 256:
            raise ConfigError(f"the quantum head takes 256 features, got {in_features}")
        from ..quantum import QuantumHead

        return QuantumHead(quantum_head_config(encoding), estimator=estimator, gradient=gradient)
    raise ConfigError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
