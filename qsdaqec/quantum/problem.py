"""A trained head's *problem*: what any backend needs to run it on a set of samples.

:func:`head_problem` is the one place that turns a trained ``QuantumHead`` and features into
circuit inputs: the unbound circuit and observables, the parameter values of every sample in
the circuit's own parameter order, the output layer, and the exact expectation values (the
fast exact path the head trained on). Hardware jobs, noise reports and ``evaluate`` all start
from it, and :func:`readout_probabilities` is the one readout softmax they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .readout import readout_logits, readout_probabilities


@dataclass
class HeadProblem:
    """A trained head on ``N`` samples.

    ``values`` is ``(N, P)`` in ``circuit.parameters`` order (named by ``parameters``);
    ``readout_weight``/``readout_bias`` are the output layer ``Linear(k -> 2)``; ``exact_evs``
    ``(N, k)`` the exact expectation values of the ``k`` observables.
    """

    circuit: Any
    observables: list[Any]
    parameters: list[Any]
    values: np.ndarray
    readout_weight: np.ndarray
    readout_bias: np.ndarray
    exact_evs: np.ndarray

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def logits(self, evs: np.ndarray) -> np.ndarray:
        """``(N, 2)`` output-layer logits of expectation values ``evs`` ``(N, k)``."""
        return readout_logits(evs, self.readout_weight, self.readout_bias)

    def probabilities(self, evs: np.ndarray) -> np.ndarray:
        """``(N, 2)`` class probabilities of expectation values ``evs`` ``(N, k)``."""
        return readout_probabilities(evs, self.readout_weight, self.readout_bias)

    def pub(self, start: int = 0, stop: int | None = None) -> tuple:
        """One estimator PUB for samples ``start:stop``: the parameter rows ``(n, 1, P)``
        broadcast against the observables ``(1, k)``."""
        rows = self.values[start:stop]
        return (self.circuit, [list(self.observables)], rows[:, None, :])

    def subset(self, index) -> HeadProblem:
        index = np.asarray(index, dtype=np.int64)
        return HeadProblem(
            self.circuit,
            self.observables,
            self.parameters,
            self.values[index],
            self.readout_weight,
            self.readout_bias,
            self.exact_evs[index],
        )


@torch.no_grad()
def head_problem(head: Any, features: torch.Tensor) -> HeadProblem:
    """The problem of a trained ``QuantumHead`` on ``features`` ``(N, num_features)``."""
    inputs = head.circuit_inputs(features).detach().double().cpu().numpy()
    weights = head.quantum.weight.detach().double().cpu().numpy().reshape(-1)
    exact = head.expectation_values(features).detach().double().cpu().numpy()
    hc = head.head_circuit
    names = list(hc.input_params) + list(hc.weight_params)
    full = np.hstack([inputs, np.tile(weights, (len(inputs), 1))])
    order = [names.index(p) for p in hc.circuit.parameters]
    return HeadProblem(
        circuit=hc.circuit,
        observables=list(hc.observables),
        parameters=list(hc.circuit.parameters),
        values=np.ascontiguousarray(full[:, order]),
        readout_weight=head.readout.weight.detach().double().cpu().numpy(),
        readout_bias=head.readout.bias.detach().double().cpu().numpy(),
        exact_evs=exact,
    )
