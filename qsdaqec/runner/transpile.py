"""ISA transpilation with a disk (QPY) + memory cache, layout bookkeeping and qubit compaction."""

from __future__ import annotations

import hashlib
import io
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import qiskit
from qiskit import QuantumCircuit, qpy
from qiskit.quantum_info import SparsePauliOp

from ..errors import BackendError
from ..io import atomic_write_bytes

_NO_DEFINITION = {"measure", "barrier", "reset", "delay", "save_expval", "save_density_matrix"}


def _fp_lines(circuit: QuantumCircuit, out: list[str], depth: int = 0) -> None:
    index = {q: i for i, q in enumerate(circuit.qubits)}
    cindex = {c: i for i, c in enumerate(circuit.clbits)}
    out.append(f"C{depth} {circuit.num_qubits} {circuit.num_clbits} {circuit.global_phase}")
    for inst in circuit.data:
        op = inst.operation
        qs = ",".join(str(index[q]) for q in inst.qubits)
        cs = ",".join(str(cindex[c]) for c in inst.clbits)
        ps = ";".join(str(p) for p in getattr(op, "params", ()))
        out.append(f"{op.name}|{qs}|{cs}|{ps}")
        if (
            depth < 3
            and getattr(op, "_standard_gate", None) is None
            and op.name not in _NO_DEFINITION
            and not getattr(op, "params", None)  # parameterised library ops: name+params suffice
        ):
            definition = getattr(op, "definition", None)
            if definition is not None:
                _fp_lines(definition, out, depth + 1)


def circuit_fingerprint(circuit: QuantumCircuit) -> str:
    """A content hash of a circuit stable across processes (parameters by name, not UUID)."""
    lines: list[str] = []
    _fp_lines(circuit, lines)
    lines.append("P " + ",".join(p.name for p in circuit.parameters))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


class FingerprintMemo:
    """``circuit -> fingerprint`` by object identity (gradient code passes the same object
    thousands of times), invalidated when the object dies or its instruction count changes."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, int, str]] = {}

    def __call__(self, circuit: QuantumCircuit) -> str:
        entry = self._memo.get(id(circuit))
        if entry is not None and entry[0]() is circuit and entry[1] == len(circuit.data):
            return entry[2]
        key = circuit_fingerprint(circuit)
        if len(self._memo) > 4096:
            self._memo = {k: v for k, v in self._memo.items() if v[0]() is not None}
        self._memo[id(circuit)] = (weakref.ref(circuit), len(circuit.data), key)
        return key


@dataclass
class IsaProgram:
    """A logical circuit made ready for one backend.

    ``circuit`` is what runs: the full-width ISA circuit for runtime backends, the compacted
    circuit (``active`` physical qubits re-indexed 0..k-1) for local noisy simulation, or the
    logical circuit itself for ``statevector``. ``param_index[i]`` is the column of the logical
    parameter array feeding ``circuit.parameters[i]``.
    """

    key: str
    circuit: QuantumCircuit
    num_logical_qubits: int
    logical_to_physical: tuple[int, ...]  # final position of each logical qubit in ``circuit``
    active: tuple[int, ...] | None  # physical qubits kept by compaction (None: not compacted)
    param_index: np.ndarray
    stats: dict = field(default_factory=dict)

    def map_observable(self, obs: SparsePauliOp) -> SparsePauliOp:
        """Logical observable -> observable on ``circuit``'s qubits."""
        if obs.num_qubits != self.num_logical_qubits:
            raise BackendError(
                f"observable on {obs.num_qubits} qubits for a circuit on "
                f"{self.num_logical_qubits} qubits"
            )
        return obs.apply_layout(list(self.logical_to_physical), self.circuit.num_qubits)

    def map_pauli_label(self, label: str) -> str:
        """A logical Pauli label (qiskit order: qubit 0 rightmost) -> label on ``circuit``."""
        n = self.circuit.num_qubits
        out = ["I"] * n
        for lq, ch in enumerate(reversed(label)):
            if ch != "I":
                out[n - 1 - self.logical_to_physical[lq]] = ch
        return "".join(out)


def _final_positions(isa: QuantumCircuit, num_logical: int) -> list[int]:
    layout = isa.layout
    if layout is None:
        return list(range(num_logical))
    return list(layout.final_index_layout(filter_ancillas=True))[:num_logical]


def _touched(isa: QuantumCircuit) -> set[int]:
    used: set[int] = set()
    for inst in isa.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        for q in inst.qubits:
            used.add(isa.find_bit(q).index)
    return used


def compact(isa: QuantumCircuit, keep: list[int]) -> tuple[QuantumCircuit, tuple[int, ...]]:
    """Drop idle physical qubits: a circuit on ``active`` = sorted(touched ∪ keep) qubits."""
    active = tuple(sorted(_touched(isa) | set(keep)))
    where = {p: i for i, p in enumerate(active)}
    out = QuantumCircuit(len(active), isa.num_clbits, global_phase=isa.global_phase)
    for inst in isa.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        qs = [where[isa.find_bit(q).index] for q in inst.qubits]
        cs = [isa.find_bit(c).index for c in inst.clbits]
        out.append(inst.operation, qs, cs, copy=False)
    return out, active


def active_circuit(program: IsaProgram) -> QuantumCircuit:
    """The program's circuit on just the physical qubits it touches: what counts and drawings
    of a transpiled head should describe (a full-device ISA circuit has 100+ idle qubits)."""
    if program.active is not None:
        return program.circuit
    return compact(program.circuit, list(program.logical_to_physical))[0]


def _param_index(logical: QuantumCircuit, isa: QuantumCircuit) -> np.ndarray:
    names = {p.name: i for i, p in enumerate(logical.parameters)}
    try:
        return np.array([names[p.name] for p in isa.parameters], dtype=np.int64)
    except KeyError as e:
        raise BackendError(
            f"transpiled circuit has parameter {e} not in the logical circuit"
        ) from None


def _dumps(circuit: QuantumCircuit) -> bytes:
    buf = io.BytesIO()
    qpy.dump(circuit, buf)
    return buf.getvalue()


def _loads(data: bytes) -> QuantumCircuit:
    return qpy.load(io.BytesIO(data))[0]


class TranspileCache:
    """Transpile once per (circuit, backend, options): memory memo, then QPY files on disk."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.dir = Path(cache_dir) / "transpiled" if cache_dir else None
        self.memory: dict[str, QuantumCircuit] = {}
        self.stats = {"transpiled": 0, "memory_hits": 0, "disk_hits": 0}

    def get(self, key: str, build) -> QuantumCircuit:
        if key in self.memory:
            self.stats["memory_hits"] += 1
            return self.memory[key]
        path = self.dir / f"{key}.qpy" if self.dir else None
        circuit = None
        if path is not None and path.exists():
            try:
                circuit = _loads(path.read_bytes())
                self.stats["disk_hits"] += 1
            except Exception:  # a corrupt or foreign-version file: rebuild it
                circuit = None
        if circuit is None:
            circuit = build()
            self.stats["transpiled"] += 1
            if path is not None:
                try:
                    atomic_write_bytes(path, _dumps(circuit))
                except OSError:
                    pass  # a read-only cache only costs time
        self.memory[key] = circuit
        return circuit


def options_key(parts: dict) -> str:
    text = repr(sorted(parts.items())) + f"|qiskit={qiskit.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def target_fingerprint(backend: Any) -> str:
    """Name + basis + coupling map: what an ISA circuit depends on (not the calibration)."""
    target = backend.target
    edges = sorted(target.build_coupling_map().get_edges()) if target.num_qubits > 1 else []
    text = f"{backend.name}|{target.num_qubits}|{sorted(target.operation_names)}|{edges}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
