"""``QuantumHead``: features -> circuit inputs -> TorchConnector(EstimatorQNN) -> Linear(4 -> 2)."""

from __future__ import annotations

import contextlib

import torch
from qiskit.primitives import BaseEstimatorV2
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.gradients import BaseEstimatorGradient
from qiskit_machine_learning.neural_networks import EstimatorQNN
from torch import nn

from ..errors import ConfigError
from .circuits import (
    NUM_CLASSES,
    HeadCircuit,
    HeadConfig,
    HeadParameterCount,
    build_head_circuit,
    count_head_parameters,
    features_to_inputs,
)
from .encodings import ENCODINGS
from .fast import FastEstimator, FastEstimatorGradient
from .torch_sim import TorchHeadSim


class FastEstimatorQNN(EstimatorQNN):
    """An ``EstimatorQNN`` that hands the fast exact primitives all parameter rows at once.

    ``EstimatorQNN`` sends one pub per observable and, for the backward pass, the circuit tiled per
    sample x observable (128 circuits and a ``(128, P)`` value array at batch 32), then reassembles
    the per-circuit gradients; at this size that bookkeeping costs more than the simulation. With
    a :class:`FastEstimator` (forward) or :class:`FastEstimatorGradient` (backward) this class asks
    them for the ``(K, B)`` values or the ``(K, B, P)`` Jacobian directly
    (:meth:`FastEstimator.evaluate`, :meth:`FastEstimatorGradient.jacobian`), the same numbers the
    generic calls give. Any other estimator or gradient takes ``EstimatorQNN``'s own path.

    Whether the circuit runs on the fast path is decided here, when the QNN is built: a circuit
    the fast path cannot simulate even decomposed (:mod:`qsdaqec.quantum.decompose`) warns now
    and then takes ``EstimatorQNN``'s own path, on which the fast primitives hand it to qiskit's
    reference estimator and parameter-shift gradient.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # no parameters at all: EstimatorQNN's own path (its empty value arrays), on which the
        # fast estimator still simulates the circuit
        self._fast = (
            isinstance(self.estimator, FastEstimator)
            and self.estimator.supports(self._circuit) is None
            and self._circuit.num_parameters > 0
        )

    def _forward(self, input_data, weights):
        if not (self._fast and isinstance(self.estimator, FastEstimator)):
            return super()._forward(input_data, weights)
        values, _ = self._preprocess_forward(input_data, weights)
        return self.estimator.evaluate(self._circuit, self._observables, values).T

    def _backward(self, input_data, weights):
        if not (self._fast and isinstance(self.gradient, FastEstimatorGradient)):
            return super()._backward(input_data, weights)
        values, _ = self._preprocess_forward(input_data, weights)
        if values.size == 0:
            return None, None
        jac = self.gradient.jacobian(self._circuit, self._observables, values)  # (K, B, P)
        jac = jac.transpose(1, 0, 2)  # (B, K, P), EstimatorQNN's layout
        ni = self._num_inputs
        input_grad = jac[..., :ni] if self._input_gradients else None
        return input_grad, jac[..., ni:]


class QuantumHead(nn.Module):
    """Input ``(B, num_features)`` features, output ``(B, 2)`` logits.

    ``estimator``/``gradient``: any ``BaseEstimatorV2`` and qiskit-machine-learning
    ``BaseEstimatorGradient`` (e.g. from ``qsdaqec.runner``). ``None`` for both means the fast exact
    path (:mod:`qsdaqec.quantum.fast`). An estimator without a gradient gets EstimatorQNN's default
    (parameter shift on that estimator). ``precision`` is passed to EstimatorQNN as its
    ``default_precision``; ``None`` means 0 for the exact path and EstimatorQNN's default otherwise.
    Initial weights come from torch's RNG (uniform in [-1, 1] for the ansatz, torch's defaults
    for the Linear layers), so ``torch.manual_seed`` makes construction deterministic.

    On a GPU (features off the CPU) an exact head computes its expectation values with
    :class:`~qsdaqec.quantum.torch_sim.TorchHeadSim` on that device, from the same circuit and the
    connector's own ``weight``; on the CPU, and with any runner estimator, it is always
    ``TorchConnector(EstimatorQNN)``.
    """

    #: Tests set this to run the device path (:class:`TorchHeadSim`) on the CPU too.
    _sim_on_cpu: bool = False
    #: Standard deviation of Gaussian noise added to the expectation values in training mode
    #: (``fit --noise-injection``; 0 = off). Not part of the state dict: it shapes training only.
    train_noise: float = 0.0

    def __init__(
        self,
        cfg: HeadConfig | None = None,
        estimator: BaseEstimatorV2 | None = None,
        gradient: BaseEstimatorGradient | None = None,
        *,
        precision: float | None = None,
        num_classes: int = NUM_CLASSES,
    ):
        super().__init__()
        self.cfg = cfg = cfg or HeadConfig()
        if estimator is None and gradient is not None:
            raise ConfigError("a gradient without its estimator: pass both, or neither")
        self.is_exact = estimator is None  # the fast exact path, no runner estimator
        if estimator is None:
            estimator = FastEstimator()
            gradient = FastEstimatorGradient(estimator)
            if precision is None:
                precision = 0.0
        self.head_circuit: HeadCircuit = build_head_circuit(cfg)
        hc = self.head_circuit
        kwargs = {} if precision is None else {"default_precision": precision}
        self.qnn = FastEstimatorQNN(
            circuit=hc.circuit,
            estimator=estimator,
            observables=hc.observables,
            input_params=hc.input_params,
            weight_params=hc.weight_params,
            gradient=gradient,
            input_gradients=True,
            **kwargs,
        )
        self.encoding = ENCODINGS[cfg.encoding]
        self.compress = (
            nn.Linear(cfg.num_features, cfg.ansatz_qubits) if self.encoding.compresses else None
        )
        init = torch.empty(cfg.num_weights).uniform_(-1.0, 1.0).numpy()
        self.quantum = TorchConnector(self.qnn, initial_weights=init)
        self.readout = nn.Linear(cfg.ansatz_qubits, num_classes)
        # Built (and its circuit checked) now; a plain attribute, not a module: no state dict
        # entries. A circuit it does not cover keeps the connector path on every device.
        self._sim: TorchHeadSim | None = None
        if self.is_exact:
            with contextlib.suppress(ConfigError):
                self._sim = TorchHeadSim(hc)

    def circuit_inputs(self, features: torch.Tensor) -> torch.Tensor:
        """The circuit's input parameter values for ``features`` (differentiable)."""
        if self.encoding.float64_inputs:
            features = features.double()
        return features_to_inputs(features, self.cfg, self.compress)

    def expectation_values(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, ansatz_qubits)`` expectation values of Z on each ansatz qubit (float32)."""
        if self._sim is not None and (features.device.type != "cpu" or self._sim_on_cpu):
            return self._device_expectation_values(features)
        return self.quantum(self.circuit_inputs(features))

    def _device_expectation_values(self, features: torch.Tensor) -> torch.Tensor:
        """The exact values with torch ops on the features' device: TorchConnector's path would
        copy to the host's numpy and back at every call. Outside autocast (the simulation's
        matrix products must not drop to bf16), returned as float32 like TorchConnector's."""
        kind = features.device.type
        off = (
            torch.autocast(kind, enabled=False)
            if torch.amp.is_autocast_available(kind)
            else contextlib.nullcontext()
        )
        with off:
            inputs = self._sim.inputs(features, self.compress)
            return self._sim(inputs, self.quantum.weight).float()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.cfg.num_features:
            raise ConfigError(
                f"features: expected shape (batch, {self.cfg.num_features}), "
                f"got {tuple(features.shape)}"
            )
        z = self.expectation_values(features).to(self.readout.weight.dtype)
        if self.training and self.train_noise > 0:  # QuantumNAT-style noise injection
            z = z + self.train_noise * torch.randn_like(z)
        return self.readout(z)

    def parameter_count(self) -> HeadParameterCount:
        return count_head_parameters(self.cfg, self.readout.out_features)
