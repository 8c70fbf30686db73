"""The schmidt encoding: the paper's amplitude state reduced to the measured qubits."""

import numpy as np
import pytest
import torch
from qiskit.quantum_info import DensityMatrix, Statevector, partial_trace
from quantum_refs import sv_expectations

from qsdaqec.errors import ConfigError
from qsdaqec.quantum import HeadConfig, QuantumHead
from qsdaqec.quantum.circuits import build_head_circuit, features_to_inputs
from qsdaqec.quantum.schmidt import leading_vector, schmidt_fidelity


def _reduced_state(x: np.ndarray, q: int) -> np.ndarray:
    """The exact reduced state of the measured qubits 0..q-1 of ``|x>/||x||``, from qiskit."""
    n = int(np.log2(x.size))
    psi = Statevector(x / np.linalg.norm(x))
    return np.asarray(partial_trace(DensityMatrix(psi), list(range(q, n))).data).real


def _head_evs(cfg: HeadConfig, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    hc = build_head_circuit(cfg)
    inputs = features_to_inputs(x[None], cfg)[0]
    values = dict(zip(hc.input_params, inputs, strict=True))
    values.update(zip(hc.weight_params, weights, strict=True))
    return sv_expectations(hc.circuit, [values[p] for p in hc.circuit.parameters], hc.observables)


def test_leading_vector_is_the_top_eigenvector_of_the_exact_reduced_state(rng):
    x = np.maximum(rng.normal(size=(3, 256)), 0.0)
    v = leading_vector(x, 4)
    fid = schmidt_fidelity(x, 4)
    for i in range(3):
        rho = _reduced_state(x[i], 4)
        w, u = np.linalg.eigh(rho)
        assert np.all(v[i] >= 0)
        np.testing.assert_allclose(v[i], np.abs(u[:, -1]), atol=1e-3)
        np.testing.assert_allclose(fid[i], v[i] @ rho @ v[i], atol=1e-12)
        assert fid[i] <= w[-1] + 1e-9  # never more than the best pure state
        assert fid[i] > w[-1] - 1e-6


def test_rank_one_features_give_the_papers_outputs_exactly(rng):
    """When the reduced state is pure, the 4-qubit circuit computes the 8-qubit circuit's values."""
    x = np.outer(rng.random(16), rng.random(16)).reshape(-1)
    weights = rng.uniform(-np.pi, np.pi, 8)
    paper = _head_evs(HeadConfig(), x, weights)
    schmidt = _head_evs(HeadConfig(encoding="schmidt"), x, weights)
    np.testing.assert_allclose(schmidt, paper, atol=1e-9)
    assert schmidt_fidelity(x[None], 4)[0] == pytest.approx(1.0, abs=1e-12)


def test_general_features_differ_by_what_the_truncation_drops(rng):
    x = np.maximum(rng.normal(size=256), 0.0)
    weights = rng.uniform(-np.pi, np.pi, 8)
    paper = _head_evs(HeadConfig(), x, weights)
    schmidt = _head_evs(HeadConfig(encoding="schmidt"), x, weights)
    assert np.abs(schmidt - paper).max() > 1e-3  # an approximation, not a renaming


def test_numpy_and_torch_agree_and_gradients_match_finite_differences(rng):
    cfg = HeadConfig(encoding="schmidt")
    x = np.maximum(rng.normal(size=(2, 256)), 0.0) + 0.05
    t = torch.tensor(x, requires_grad=True)
    got = features_to_inputs(t, cfg)
    np.testing.assert_allclose(got.detach().numpy(), features_to_inputs(x, cfg), atol=1e-12)
    w = torch.as_tensor(rng.standard_normal(got.shape))
    (got * w).sum().backward()
    h = 1e-6
    for j in (0, 17, 200):
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        fd = ((features_to_inputs(xp, cfg) - features_to_inputs(xm, cfg)) * w.numpy()).sum() / (
            2 * h
        )
        assert float(t.grad[:, j].sum()) == pytest.approx(fd, rel=1e-4, abs=1e-7)


def test_head_forward_matches_statevector_and_trains(rng):
    torch.manual_seed(0)
    head = QuantumHead(HeadConfig(encoding="schmidt"))
    feats = torch.relu(torch.randn(4, 256, dtype=torch.float64)).requires_grad_(True)
    z = head.expectation_values(feats)
    for i in range(2):
        ref = _head_evs(
            head.cfg, feats[i].detach().numpy(), head.quantum.weight.detach().double().numpy()
        )
        np.testing.assert_allclose(z[i].detach().double().numpy(), ref, atol=1e-6)
    head(feats.float()).sum().backward()
    assert head.quantum.weight.grad.abs().sum() > 0


def test_two_qubit_gates_and_config_errors():
    hc = build_head_circuit(HeadConfig(encoding="schmidt"))
    assert hc.circuit.num_qubits == 4 and len(hc.input_params) == 15
    assert hc.circuit.count_ops()["cx"] == 14 + 8  # tree (2^4 - 2) + two CNOT rings
    with pytest.raises(ConfigError, match="at most 4"):
        HeadConfig(encoding="schmidt", num_features=16, ansatz_qubits=5)


def test_zero_features_and_other_widths(rng):
    zero = np.zeros((1, 256))
    assert np.all(leading_vector(zero, 4) == 0) and np.isfinite(schmidt_fidelity(zero, 4)).all()
    x = np.maximum(rng.normal(size=(2, 64)), 0.0)  # 6 qubits: 4 x 16 blocks
    for i in range(2):
        rho = _reduced_state(x[i], 4)
        assert schmidt_fidelity(x, 4)[i] == pytest.approx(np.linalg.eigvalsh(rho)[-1], abs=1e-6)
    whole = np.maximum(rng.normal(size=(1, 16)), 0.0)  # all qubits measured: the state itself
    np.testing.assert_allclose(
        leading_vector(whole, 4)[0], whole[0] / np.linalg.norm(whole), atol=1e-9
    )
    assert schmidt_fidelity(whole, 4)[0] == pytest.approx(1.0)
