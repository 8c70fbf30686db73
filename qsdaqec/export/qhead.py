"""The trained quantum head, exported: ``head.qasm`` (its circuit in OpenQASM 3 with the trained
ansatz weights bound; the circuit inputs of an image stay ``input float[64]`` parameters) and
``head.json`` (how features become those inputs, the observables, the readout layer
``Linear(4 -> 2)``, and one worked example).

Everything here starts from :func:`qsdaqec.quantum.head_problem`, the one function that turns a
trained head and features into circuit inputs: the bound weights are its weight columns, the
example's inputs its input columns, and the check binds its inputs into the re-read QASM.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from qiskit import qasm3
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import Statevector

from ..errors import RunError
from ..io import read_json
from ..quantum import HeadConfig, HeadProblem, QuantumHead, head_problem
from ..quantum.encodings import ENCODINGS

HEAD_QASM = "head.qasm"
HEAD_JSON = "head.json"
#: Largest |QASM re-read and simulated - the head's exact expectation values| allowed.
QASM_TOLERANCE = 1e-6

#: How each encoding's inputs come from the features, for a reader without qsdaqec (the code
#: that computes them is the registry's feature map, reached through head_problem).
FEATURE_MAPS = {
    "amplitude": "gate angles of the 8-qubit amplitude tree of the 256 features "
    "(qsdaqec.quantum.amplitude.amplitude_feature_map)",
    "schmidt": "the features' leading Schmidt vector on the 4 measured qubits (8 power-iteration "
    "steps, qsdaqec.quantum.schmidt.leading_vector), as the gate angles of a 4-qubit amplitude "
    "tree (amplitude_feature_map)",
    "angle": "pi * sigmoid(compress.weight @ features + compress.bias), one RY angle per qubit",
}


def _inputs_and_weights(head: QuantumHead, problem: HeadProblem) -> tuple[list[int], list[int]]:
    """Columns of ``problem.values`` that are circuit inputs, and those that are weights."""
    inputs = set(head.head_circuit.input_params)
    cols = range(len(problem.parameters))
    return (
        [i for i in cols if problem.parameters[i] in inputs],
        [i for i in cols if problem.parameters[i] not in inputs],
    )


def bound_circuit(head: QuantumHead, problem: HeadProblem) -> QuantumCircuit:
    """The head's circuit with its trained weights (``problem``'s weight columns) bound."""
    _, weight_cols = _inputs_and_weights(head, problem)
    values = {problem.parameters[i]: float(problem.values[0, i]) for i in weight_cols}
    return problem.circuit.assign_parameters(values)


def head_qasm(head: QuantumHead, problem: HeadProblem, run_name: str) -> str:
    """``head.qasm``: a comment header, then OpenQASM 3 of :func:`bound_circuit`."""
    cfg = head.cfg
    k = len(head.head_circuit.input_params)
    header = (
        f"// qsdaqec trained head of run {run_name}: {cfg.encoding} encoding, "
        f"{cfg.num_qubits} qubits, trained ansatz weights bound.\n"
        f"// Inputs _x_0_ .. _x_{k - 1}_: the circuit inputs of one image ({HEAD_JSON}: inputs).\n"
        f"// Observables: Z on q[0] .. q[{cfg.ansatz_qubits - 1}]; logits = readout.weight @ "
        f"<Z> + readout.bias ({HEAD_JSON}: readout).\n"
    )
    return header + qasm3.dumps(bound_circuit(head, problem))


def qasm_input_names(text: str) -> list[str]:
    """The ``input float[64]`` names of a QASM file, in the order they are declared."""
    return re.findall(r"^input float\[64\] (\S+);", text, flags=re.MULTILINE)


def head_record(head: QuantumHead, problem: HeadProblem, features: np.ndarray, qasm: str) -> dict:
    """``head.json``: the encoding and its inputs, weights, observables, readout, and the first
    sample of ``problem`` worked through (features -> inputs -> expectation values ->
    probabilities)."""
    cfg = head.cfg
    input_cols, weight_cols = _inputs_and_weights(head, problem)
    names = qasm_input_names(qasm)
    if len(names) != len(input_cols):  # pragma: no cover - the bound circuit's inputs
        raise RunError(f"{HEAD_QASM}: {len(names)} inputs declared, the head has {len(input_cols)}")
    record: dict[str, Any] = {
        "qasm": HEAD_QASM,
        "encoding": cfg.encoding,
        "encoding_summary": ENCODINGS[cfg.encoding].summary,
        "config": asdict(cfg),
        "num_qubits": cfg.num_qubits,
        "inputs": {
            "names": names,
            "feature_map": FEATURE_MAPS.get(cfg.encoding, ENCODINGS[cfg.encoding].summary),
            "computed_by": "qsdaqec.quantum.head_problem(head, features): the columns of "
            "its values named by parameter_names x[0], x[1], ... (head: "
            "qsdaqec.export.load_exported_head(folder))",
        },
        "weights": {
            "names": [problem.parameter_names[i] for i in weight_cols],
            "values": problem.values[0, weight_cols].tolist(),
            "bound_in_qasm": True,
        },
        "observables": [str(op.paulis[0]) for op in problem.observables],
        "observables_note": "Pauli strings, qubit 0 rightmost: Z on q[i] for i = 0 .. "
        f"{cfg.ansatz_qubits - 1}, in this order",
        "readout": {
            "weight": problem.readout_weight.tolist(),
            "bias": problem.readout_bias.tolist(),
            "logits": "weight @ expectation_values + bias",
            "probabilities": "softmax of the logits",
        },
        "example": {
            "features": features[0].tolist(),
            "inputs": problem.values[0, input_cols].tolist(),
            "expectation_values": problem.exact_evs[0].tolist(),
            "probabilities": problem.probabilities(problem.exact_evs[:1])[0].tolist(),
        },
    }
    if head.compress is not None:
        record["compress"] = {
            "weight": head.compress.weight.detach().double().tolist(),
            "bias": head.compress.bias.detach().double().tolist(),
        }
    return record


def load_exported_head(folder: str | Path) -> QuantumHead:
    """The quantum head of an export folder (``head.json``), on the exact fast path:
    ``head_problem(load_exported_head(folder), features)`` gives the circuit inputs of the
    ONNX graph's ``features``."""
    record = read_json(Path(folder) / HEAD_JSON)
    head = QuantumHead(HeadConfig(**record["config"]))
    state = head.state_dict()
    weights = torch.tensor(record["weights"]["values"], dtype=state["quantum.weight"].dtype)
    state["quantum.weight"] = weights
    if "quantum._weights" in state:  # TorchConnector keeps a copy of its weights
        state["quantum._weights"] = weights.clone()
    for part in ("readout", "compress"):
        for name in ("weight", "bias"):
            if part in record:
                key = f"{part}.{name}"
                state[key] = torch.tensor(record[part][name], dtype=state[key].dtype)
    head.load_state_dict(state)
    return head.eval()


def bind_inputs(circuit: QuantumCircuit, names: list[str], inputs: np.ndarray) -> QuantumCircuit:
    """``circuit`` (``head.qasm`` re-read) with one sample's ``inputs`` bound, by name."""
    by_name = {p.name: p for p in circuit.parameters}
    return circuit.assign_parameters(
        {by_name[n]: float(v) for n, v in zip(names, inputs, strict=True)}
    )


def check_qasm(head: QuantumHead, problem: HeadProblem, qasm: str) -> dict[str, Any]:
    """Re-read ``qasm`` (``qiskit.qasm3.loads``), bind each sample's inputs, and compare the
    exact expectation values with the head's own (``problem.exact_evs``)."""
    circuit = qasm3.loads(qasm)
    names = qasm_input_names(qasm)
    input_cols, _ = _inputs_and_weights(head, problem)
    worst = 0.0
    for row, exact in zip(problem.values, problem.exact_evs, strict=True):
        state = Statevector(bind_inputs(circuit, names, row[input_cols]))
        evs = np.array([state.expectation_value(op).real for op in problem.observables])
        worst = max(worst, float(np.max(np.abs(evs - exact))))
    return {
        "how": "head.qasm re-read with qiskit.qasm3.loads, inputs bound, statevector",
        "samples": len(problem),
        "compared": "expectation values",
        "max_abs_diff": worst,
        "tolerance": QASM_TOLERANCE,
        "passed": worst <= QASM_TOLERANCE,
    }


def check_head_json(folder: Path, problem: HeadProblem, features: torch.Tensor) -> dict[str, Any]:
    """Rebuild the head from ``folder``'s ``head.json`` (:func:`load_exported_head`) and compare
    its problem on ``features`` with the run's head's: circuit inputs, weights and expectation
    values."""
    again = head_problem(load_exported_head(folder), features)
    diff = max(
        float(np.max(np.abs(again.values - problem.values))),
        float(np.max(np.abs(again.exact_evs - problem.exact_evs))),
    )
    return {
        "how": "load_exported_head(folder), then head_problem on the same features",
        "compared": "circuit inputs, weights, expectation values",
        "max_abs_diff": diff,
        "tolerance": QASM_TOLERANCE,
        "passed": diff <= QASM_TOLERANCE,
    }
