"""The head's circuit simulated exactly in torch, for an exact head on a GPU (or MPS).

The fast exact path (:mod:`qsdaqec.quantum.fast`) is numpy behind ``TorchConnector``: on a GPU
every call would copy the inputs to the host, wait for the device, and copy the results back.
:class:`TorchHeadSim` computes the same expectation values with torch ops on the inputs' device,
differentiable by autograd, vectorised over the batch, in float32 or float64. It takes the
TorchConnector's own ``weight`` Parameter at each call (no copy, so state dicts are unchanged).

It is compiled from the circuit the head builds (:class:`~qsdaqec.quantum.circuits.HeadCircuit`),
not from a second description of it, and refuses (``ConfigError``) anything it does not cover:

* an amplitude-tree prefix (``circuit.metadata["qsdaqec"]``, checked gate by gate against
  :func:`~qsdaqec.quantum.amplitude.tree_gate_sequence`) becomes its closed form, as in the fast
  path: node angles ``alpha_l = M_l beta_l`` (one matrix on the inputs), then the leaf
  amplitudes as products of ``cos(alpha/2)`` / ``sin(alpha/2)``, level by level;
* every later gate must be an RY of one input or weight Parameter, or a fixed real gate (CX ...),
  on the ``m <= 6`` lowest qubits. On that register an RY is ``cos(t/2) I + sin(t/2) K``, so all
  gate matrices are built at once and multiplied in ``log2(gates)`` batched products: a few
  dozen kernel launches per step whatever the gate count (launches, not flops, cost on a GPU);
* observables must be diagonal (Z strings), in the circuit's order: ``E_k = |psi|^2 . diag_k``.
"""

from __future__ import annotations

import numpy as np
import torch
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from ..errors import ConfigError
from .amplitude import NORM_FLOOR_SQ, tree_gate_sequence, ucry_matrix
from .circuits import HeadCircuit, features_to_inputs
from .encodings import ENCODINGS
from .plan import embed

#: Widest register the gate matrices may act on (2^6 x 2^6 each, as the fast path's factor plan).
MAX_SUFFIX_QUBITS = 6
_SKIP = ("barrier", "delay")
_KY = np.array([[0.0, -1.0], [1.0, 0.0]])  # RY(t) = cos(t/2) I + sin(t/2) K


def sim_dtype(device: torch.device) -> torch.dtype:
    """float64 (what the fast path computes in), except on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _gate_angle_matrix(levels: int) -> np.ndarray:
    """Block diagonal ``M_l / 2^l`` per tree level: gate angles = node angles @ it (heap order)."""
    size = (1 << levels) - 1
    out = np.zeros((size, size))
    for level in range(levels):
        sl = slice((1 << level) - 1, (1 << (level + 1)) - 1)
        out[sl, sl] = ucry_matrix(level) / (1 << level)
    return out


class TorchHeadSim:
    """``(inputs (B, num_inputs), weights (num_weights,)) -> (B, K)`` expectation values."""

    def __init__(self, hc: HeadCircuit):
        self.config = hc.config
        self.num_qubits = n = hc.circuit.num_qubits
        self.num_inputs = len(hc.input_params)
        # a rotation's angle is column j of [inputs | weights]
        self._col = {p: j for j, p in enumerate([*hc.input_params, *hc.weight_params])}
        data = [
            (i.operation, tuple(hc.circuit.find_bit(q).index for q in i.qubits))
            for i in hc.circuit.data
        ]
        meta = (hc.circuit.metadata or {}).get("qsdaqec") or {}
        start = int(meta.get("tree_instructions") or 0)
        self.tree_levels = n if start else 0
        node_map = self._compile_tree(data[:start]) if start else None
        ops = self._compile_suffix(data[start:])
        self.m = m = max((q + 1 for _, qs, _ in ops for q in qs), default=1)
        if m > MAX_SUFFIX_QUBITS:
            raise ConfigError(
                f"gates on {m} qubits after the encoder: more than {MAX_SUFFIX_QUBITS}"
            )
        d = 1 << m
        rot = [o for o in ops if o[0] == "ry"]
        rot_cols = [o[2] for o in rot]
        self.per_sample = any(j < self.num_inputs for j in rot_cols)
        # runs of fixed gates are multiplied out once; `seq` keeps the gate order
        fixed: list[np.ndarray] = []
        seq: list[tuple[str, int]] = []
        for name, qs, mat in ops:
            if name == "ry":
                seq.append(("ry", sum(1 for kind, _ in seq if kind == "ry")))
            elif seq and seq[-1][0] == "fixed":
                fixed[-1] = embed(mat, qs, m) @ fixed[-1]
            else:
                seq.append(("fixed", len(fixed)))
                fixed.append(embed(mat, qs, m))
        order = [i if kind == "fixed" else len(fixed) + i for kind, i in seq]  # into [fixed | rot]
        gens = [np.kron(np.kron(np.eye(d >> (q + 1)), _KY), np.eye(1 << q)) for _, (q,), _ in rot]
        self._np = {
            "node_map": node_map,
            "fixed": np.stack(fixed) if fixed else np.zeros((0, d, d)),
            "gens": np.stack(gens) if gens else np.zeros((0, d, d)),
            "eye": np.eye(d),
            "diag": np.stack([self._diagonal(o, n) for o in hc.observables]),
            "gate_angles": _gate_angle_matrix(n) if start else None,
        }
        # index tensors travel with the constants (a Python list would be copied at every call)
        offset = 0 if self.per_sample else self.num_inputs  # without input angles: weights only
        self._index = {"rot_cols": np.array(rot_cols) - offset, "order": np.array(order)}
        self._cache: dict[tuple, dict[str, torch.Tensor | None]] = {}

    def _param_col(self, angle, where: str) -> int:
        if not isinstance(angle, Parameter) or angle not in self._col:
            raise ConfigError(f"{where}: angle {angle} is not one of the head's Parameters")
        return self._col[angle]

    def _compile_tree(self, data) -> np.ndarray:
        """``(num_inputs, 2^n - 1)`` matrix: node angles = inputs @ it (``alpha_l = M_l beta_l``)."""
        seq = tree_gate_sequence(self.num_qubits)
        if len(seq) != len(data):
            raise ConfigError("the circuit's amplitude tree does not match tree_gate_sequence")
        out = np.zeros((self.num_inputs, (1 << self.num_qubits) - 1))
        for (op, qs), (name, expected, level, step) in zip(data, seq, strict=True):
            if op.name != name or qs != expected:
                raise ConfigError(
                    f"amplitude tree: {op.name} on {qs}, expected {name} on {expected}"
                )
            if name == "ry":
                j = self._param_col(op.params[0], "amplitude tree")
                if j >= self.num_inputs:
                    raise ConfigError("amplitude tree: a gate angle is a weight, not an input")
                lo = (1 << level) - 1
                out[j, lo : lo + (1 << level)] += ucry_matrix(level)[:, step]
        return out

    def _compile_suffix(self, data) -> list[tuple[str, tuple[int, ...], object]]:
        """``("ry", (q,), column)`` or ``(name, qubits, real matrix)`` per gate, in order."""
        ops: list[tuple[str, tuple[int, ...], object]] = []
        for op, qs in data:
            if op.name in _SKIP:
                continue
            if op.name == "ry":
                ops.append(("ry", qs, self._param_col(op.params[0], "ry")))
                continue
            if any(getattr(p, "parameters", None) for p in op.params):
                raise ConfigError(f"{op.name}: parameterised gates other than RY are not simulated")
            try:
                mat = np.asarray(op.to_matrix(), dtype=complex)
            except Exception as e:  # measure, reset, ...: not a unitary gate
                raise ConfigError(f"{op.name}: not simulated ({e})") from None
            if not np.allclose(mat.imag, 0):
                raise ConfigError(f"{op.name}: complex gates are not simulated (real states only)")
            ops.append((op.name, qs, mat.real))
        return ops

    @staticmethod
    def _diagonal(op: SparsePauliOp, n: int) -> np.ndarray:
        if op.num_qubits != n or op.paulis.x.any() or not np.allclose(op.coeffs.imag, 0):
            raise ConfigError(
                f"observable {op}: only real diagonal (I/Z) observables are simulated"
            )
        return np.asarray(op.to_matrix(sparse=True).diagonal().real)

    def _consts(self, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor | None]:
        """The constant matrices on ``device`` in ``dtype``, made once per (device, dtype)."""
        key = (str(device), dtype)
        if key not in self._cache:
            consts = {
                k: None if v is None else torch.as_tensor(v, dtype=dtype, device=device)
                for k, v in self._np.items()
            }
            for k, v in self._index.items():
                consts[k] = torch.as_tensor(v, dtype=torch.long, device=device)
            self._cache[key] = consts
        return self._cache[key]

    def inputs(self, features: torch.Tensor, compress: torch.nn.Module | None) -> torch.Tensor:
        """The circuit's input values for ``features``, with torch ops on their device, in
        :func:`sim_dtype`: the tree's gate angles (the registered amplitude feature map computes
        them in numpy on the host), or the encoding's own (torch) feature map."""
        dtype = sim_dtype(features.device)
        if not self.tree_levels:
            return features_to_inputs(features, self.config, compress).to(dtype)
        x = features.to(dtype)
        leaves = ENCODINGS[self.config.encoding].tree_leaves
        if leaves is not None:
            x = leaves(x, self.config)
        b, f = x.shape
        if f != 1 << self.tree_levels:
            raise ConfigError(
                f"features: {f} columns, the amplitude head expects {1 << self.tree_levels}"
            )
        # sums[k]: the 2^(n-k) subtree sums of squares that are the children of level n-1-k
        sums = [x * x]
        for _ in range(self.tree_levels - 1):
            sums.append(sums[-1].view(b, -1, 2).sum(-1))
        norms = (torch.cat(sums[::-1], dim=1).view(b, f - 1, 2) + NORM_FLOOR_SQ).sqrt()
        alpha = 2.0 * torch.atan2(norms[..., 1], norms[..., 0])  # node angles, heap order
        return alpha @ self._consts(x.device, dtype)["gate_angles"]  # beta_l = alpha_l M_l / 2^l

    def __call__(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 2 or inputs.shape[1] != self.num_inputs:
            raise ConfigError(
                f"inputs: expected (batch, {self.num_inputs}), got {tuple(inputs.shape)}"
            )
        c = self._consts(inputs.device, inputs.dtype)
        b = inputs.shape[0]
        weights = weights.reshape(-1).to(inputs)  # differentiable: gradients reach the Parameter
        psi = self._prefix_state(inputs, c)  # (B, 2^n), real
        u = self._suffix_unitary(inputs, weights, c)  # (B or 1, d, d)
        psi = (psi.view(b, -1, 1 << self.m) @ u.transpose(-1, -2)).reshape(b, -1)
        return (psi * psi) @ c["diag"].T

    def _prefix_state(self, inputs: torch.Tensor, c: dict) -> torch.Tensor:
        b = inputs.shape[0]
        if not self.tree_levels:
            psi = inputs.new_zeros(b, 1 << self.num_qubits)
            psi[:, 0] = 1.0
            return psi
        half = 0.5 * (inputs @ c["node_map"])  # (B, 2^n - 1) half node angles
        cs = torch.stack((half.cos(), half.sin()), dim=-1)  # left child cos, right child sin
        # split, not slices: its backward is one cat, a slice's a zero-filled tensor per level
        levels = cs.split([1 << level for level in range(self.tree_levels)], dim=1)
        amp = inputs.new_ones(b, 1)
        for level_cs in levels:
            amp = (amp.unsqueeze(-1) * level_cs).reshape(b, -1)
        return amp

    def _suffix_unitary(self, inputs: torch.Tensor, weights: torch.Tensor, c: dict) -> torch.Tensor:
        """``U = G_last ... G_first`` on the ``m`` low qubits, per sample when an input angle
        enters a gate after the prefix (angle encoding), else once for the batch."""
        if self.per_sample:
            src = torch.cat([inputs, weights.expand(inputs.shape[0], -1)], dim=1)
        else:
            src = weights[None]
        half = 0.5 * src.index_select(1, c["rot_cols"])  # (B or 1, R)
        rots = half.cos()[..., None, None] * c["eye"] + half.sin()[..., None, None] * c["gens"]
        fixed = c["fixed"].expand(rots.shape[0], -1, -1, -1)
        # (B or 1, G, d, d) in circuit order
        mats = torch.cat([fixed, rots], dim=1).index_select(1, c["order"])
        p, d = mats.shape[0], 1 << self.m
        while mats.shape[1] > 1:  # pairwise products, later gate on the left
            if mats.shape[1] % 2:
                mats = torch.cat([mats, c["eye"].expand(p, 1, -1, -1)], dim=1)
            first, then = mats.view(p, -1, 2, d, d).unbind(2)  # unbind: backward is one stack
            mats = then @ first
        return mats[:, 0] if mats.shape[1] else c["eye"][None]
