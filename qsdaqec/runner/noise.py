"""Device noise models restricted to the active qubits, with a noise scale.

The model follows ``qiskit_aer.noise.NoiseModel.from_backend`` (depolarizing error fitted so the
gate infidelity matches the reported gate error, composed with T1/T2 thermal relaxation over the
gate duration, per-qubit readout assignment errors), but is built only for the physical qubits a
compacted ISA circuit touches, re-indexed to 0..k-1. ``scale`` multiplies the gate and readout
error probabilities and the relaxation rates (T1, T2 divided by ``scale``); ``scale=0`` gives no
noise at all.

qiskit-aer and qiskit-ibm-runtime are imported inside the functions that use them: they take
about 1.5 s to import, and ``qsdaqec --help`` imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

_SKIP = {"measure", "delay", "reset", "if_else", "for_loop", "switch_case", "while_loop", "barrier"}


@dataclass
class LocalNoise:
    """A noise model on ``len(active)`` re-indexed qubits plus readout assignment matrices.

    ``readout[i]`` is the 2x2 matrix ``A[measured, prepared]`` of qubit ``i``.
    """

    model: Any  # qiskit_aer.noise.NoiseModel or None (ideal)
    readout: np.ndarray  # (k, 2, 2)
    scale: float
    active: tuple[int, ...]


def _readout_probs(target: Any, q: int) -> tuple[float, float]:
    meas = target.get("measure") if "measure" in target.operation_names else None
    prop = meas.get((q,)) if meas else None
    if prop is None:
        return 0.0, 0.0
    p01 = getattr(prop, "prob_meas1_prep0", None)
    p10 = getattr(prop, "prob_meas0_prep1", None)
    if p01 is None or p10 is None:
        p01 = p10 = prop.error or 0.0
    return float(p01), float(p10)


def _depol_param(error: float, relax_infid: float, relax_fid: float, nq: int) -> float | None:
    """As in Aer's device model: the depolarizing parameter that tops relaxation up to ``error``."""
    if error is None or error <= relax_infid:
        return None
    dim = 2**nq
    error = min(error, dim / (dim + 1))
    p = dim * (error - relax_infid) / (dim * relax_fid - 1)
    return min(p, 4**nq / (4**nq - 1))


def build_local_noise(backend: Any, active: tuple[int, ...], scale: float = 1.0) -> LocalNoise:
    """Noise model of ``backend`` on the ``active`` physical qubits (re-indexed), scaled."""
    k = len(active)
    if scale == 0:
        return LocalNoise(None, np.tile(np.eye(2), (k, 1, 1)), 0.0, active)
    from qiskit.quantum_info import average_gate_fidelity
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error
    from qiskit_aer.noise import thermal_relaxation_error as relax

    target = backend.target
    where = {p: i for i, p in enumerate(active)}
    names = [n for n in target.operation_names if n not in _SKIP]
    model = NoiseModel(basis_gates=sorted(set(names) | {"save_density_matrix"}))
    relax_cache: dict[tuple[int, float], Any] = {}

    def qubit_relax(q: int, duration: float):
        key = (q, duration)
        if key not in relax_cache:
            qp = target.qubit_properties[q] if target.qubit_properties else None
            t1 = getattr(qp, "t1", None) or math.inf
            t2 = getattr(qp, "t2", None) or math.inf
            t2 = min(t2, 2 * t1)
            relax_cache[key] = relax(t1 / scale, t2 / scale, duration)
        return relax_cache[key]

    for name in names:
        props_by_qargs = target.get(name) or {}
        op = target.operation_from_name(name)
        for qargs, props in props_by_qargs.items():
            if props is None or qargs is None or not all(q in where for q in qargs):
                continue
            relax_err = None
            if props.duration:
                for q in qargs:
                    e = qubit_relax(q, props.duration)
                    relax_err = e if relax_err is None else relax_err.expand(e)
            error = props.error
            depol = None
            if error and getattr(op, "_directive", False) is False and hasattr(op, "to_matrix"):
                rf = average_gate_fidelity(relax_err) if relax_err is not None else 1.0
                p = _depol_param(min(scale * error, 0.75), 1 - rf, rf, len(qargs))
                if p:
                    depol = depolarizing_error(p, len(qargs))
            err = depol.compose(relax_err) if (depol and relax_err) else (depol or relax_err)
            if err is not None:
                model.add_quantum_error(err, name, [where[q] for q in qargs])
    readout = np.empty((k, 2, 2))
    for i, q in enumerate(active):
        p01, p10 = _readout_probs(target, q)
        p01, p10 = min(scale * p01, 0.5), min(scale * p10, 0.5)
        readout[i] = [[1 - p01, p10], [p01, 1 - p10]]  # A[measured, prepared]
        if p01 or p10:
            model.add_readout_error(ReadoutError([[1 - p01, p01], [p10, 1 - p10]]), [i])
    return LocalNoise(model, readout, float(scale), active)
