import warnings

import numpy as np
import pytest
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.neural_networks import EstimatorQNN
from quantum_refs import sv_expectations, sv_param_shift

from qsdaqec.quantum.amplitude import node_to_gate_angles, tree_angles
from qsdaqec.quantum.circuits import HeadConfig, build_head_circuit, features_to_inputs
from qsdaqec.quantum.fast import FastEstimator, FastEstimatorGradient
from qsdaqec.quantum.plan import CircuitPlan


def _head_values(hc, rng, batch):
    """Parameter rows in circuit.parameters order: realistic inputs, random weights per row."""
    cfg = hc.config
    if cfg.encoding == "amplitude":
        feats = rng.random((batch, cfg.num_features))
        feats[0, :64] = 0.0
        inputs = node_to_gate_angles(tree_angles(feats))
    elif cfg.encoding == "schmidt":
        inputs = features_to_inputs(rng.random((batch, cfg.num_features)), cfg)
    else:
        inputs = rng.uniform(0, np.pi, (batch, cfg.ansatz_qubits))
    weights = rng.uniform(-np.pi, np.pi, (batch, len(hc.weight_params)))
    pos = {p: i for i, p in enumerate(hc.circuit.parameters)}
    vals = np.zeros((batch, hc.circuit.num_parameters))
    for j, p in enumerate(hc.input_params):
        vals[:, pos[p]] = inputs[:, j]
    for j, p in enumerate(hc.weight_params):
        vals[:, pos[p]] = weights[:, j]
    return vals


@pytest.mark.parametrize("encoding", ["amplitude", "angle", "schmidt"])
def test_values_and_gradients_match_statevector(encoding, rng):
    hc = build_head_circuit(HeadConfig(encoding=encoding))
    qc, obs = hc.circuit, hc.observables
    vals = _head_values(hc, rng, 2)
    est = FastEstimator()
    res = est.run([(qc, o, vals) for o in obs]).result()
    evs = np.array([r.data.evs for r in res])  # (K, B)
    ref = np.array([sv_expectations(qc, v, obs) for v in vals]).T
    np.testing.assert_allclose(evs, ref, atol=1e-10)

    grad = FastEstimatorGradient(est)
    n = len(vals)
    circuits = [qc] * (n * len(obs))
    observables = [o for o in obs for _ in range(n)]
    g = np.asarray(grad.run(circuits, observables, np.tile(vals, (len(obs), 1))).result().gradients)
    g = g.reshape(len(obs), n, -1)
    # inputs (every 32nd gate angle, all for angle encoding) and every weight
    pos = {p: i for i, p in enumerate(qc.parameters)}
    cols = sorted({pos[p] for p in hc.input_params[::32]} | {pos[p] for p in hc.weight_params})
    for b in range(n):
        ref_g = sv_param_shift(qc, vals[b], obs, cols)
        np.testing.assert_allclose(g[:, b, cols], ref_g, atol=1e-8)


@pytest.mark.parametrize("encoding", ["amplitude", "angle"])
def test_gradients_match_finite_differences(encoding, rng):
    hc = build_head_circuit(HeadConfig(encoding=encoding))
    plan = CircuitPlan(hc.circuit)
    from qsdaqec.quantum.observables import compile_observable

    obs = [compile_observable(o, hc.circuit.num_qubits) for o in hc.observables]
    vals = _head_values(hc, rng, 3)
    _, g = plan.run(vals, obs, gradient=True)
    h = 1e-6
    for j in range(0, plan.num_params, 7):
        vp, vm = vals.copy(), vals.copy()
        vp[:, j] += h
        vm[:, j] -= h
        fd = (plan.run(vp, obs)[0] - plan.run(vm, obs)[0]) / (2 * h)
        np.testing.assert_allclose(g[:, :, j], fd, atol=1e-7)


def test_generic_gates_and_non_diagonal_observables(rng):
    a = ParameterVector("a", 5)
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.rx(a[0] + 0.3, 1)
    qc.cx(0, 2)
    qc.rz(2 * a[1] - a[2], 2)
    qc.s(1)
    qc.ry(a[3], 0)
    qc.cz(1, 2)
    qc.rx(a[4], 2)
    qc.swap(0, 1)
    qc.y(2)
    obs = [SparsePauliOp.from_list([("XYZ", 0.7), ("ZZI", 0.2)]), SparsePauliOp("IIZ")]
    vals = rng.uniform(-2, 2, (4, 5))
    res = FastEstimator().run([(qc, o, vals) for o in obs]).result()
    ref = np.array([sv_expectations(qc, v, obs) for v in vals]).T
    np.testing.assert_allclose(np.array([r.data.evs for r in res]), ref, atol=1e-10)
    grads = FastEstimatorGradient().run([qc] * 4, [obs[0]] * 4, vals).result().gradients
    h = 1e-6
    for j in range(5):
        vp, vm = vals.copy(), vals.copy()
        vp[:, j] += h
        vm[:, j] -= h
        fd = [
            (sv_expectations(qc, p, obs[:1])[0] - sv_expectations(qc, m, obs[:1])[0]) / (2 * h)
            for p, m in zip(vp, vm, strict=True)
        ]
        np.testing.assert_allclose(np.array(grads)[:, j], fd, atol=1e-6)


def test_pub_broadcasting_matches_statevector_estimator(rng):
    hc = build_head_circuit(HeadConfig(encoding="angle"))
    vals = _head_values(hc, rng, 3)
    obs = [[hc.observables[0]], [hc.observables[2]]]  # shape (2, 1) x values (3,) -> (2, 3)
    mine = FastEstimator().run([(hc.circuit, obs, vals)]).result()[0].data.evs
    ref = StatevectorEstimator().run([(hc.circuit, obs, vals)]).result()[0].data.evs
    assert mine.shape == (2, 3)
    np.testing.assert_allclose(mine, ref, atol=1e-10)


def test_gradient_of_a_parameter_subset(rng):
    hc = build_head_circuit(HeadConfig(encoding="angle"))
    vals = _head_values(hc, rng, 2)
    full = FastEstimatorGradient().run([hc.circuit] * 2, [hc.observables[1]] * 2, vals).result()
    sub = (
        FastEstimatorGradient()
        .run([hc.circuit] * 2, [hc.observables[1]] * 2, vals, parameters=[hc.weight_params] * 2)
        .result()
    )
    pos = {p: i for i, p in enumerate(hc.circuit.parameters)}
    cols = [pos[p] for p in hc.weight_params]
    np.testing.assert_allclose(np.array(sub.gradients), np.array(full.gradients)[:, cols])


def test_qnn_matches_default_estimator_qnn(rng):
    hc = build_head_circuit(HeadConfig(encoding="angle"))
    common = dict(
        circuit=hc.circuit,
        observables=hc.observables,
        input_params=hc.input_params,
        weight_params=hc.weight_params,
        input_gradients=True,
    )
    est = FastEstimator()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = EstimatorQNN(estimator=est, gradient=FastEstimatorGradient(est), **common)
        x = rng.uniform(0, np.pi, (3, 4))
        w = rng.uniform(-1, 1, 8)
        f_out = fast.forward(x, w)
        f_gi, f_gw = fast.backward(x, w)
    ref_est = StatevectorEstimator()
    ref = EstimatorQNN(
        estimator=ref_est,
        gradient=ParamShiftEstimatorGradient(ref_est),
        default_precision=0.0,
        **common,
    )
    r_gi, r_gw = ref.backward(x, w)
    np.testing.assert_allclose(f_out, ref.forward(x, w), atol=1e-10)
    np.testing.assert_allclose(f_gi, r_gi, atol=1e-10)
    np.testing.assert_allclose(f_gw, r_gw, atol=1e-10)


@pytest.mark.parametrize("high_observable", [False, True])
def test_product_prefix_gradients_match_statevector(high_observable, rng):
    """RY prefix on distinct qubits (not in qubit order, one qubit left out) + entangling gates;
    an observable on the top qubit forces the gate-by-gate path, else the reduced one."""
    a = ParameterVector("a", 5)
    qc = QuantumCircuit(4)
    qc.ry(a[0], 2)
    qc.ry(a[1], 0)
    qc.ry(a[2], 1)
    qc.cx(0, 1)
    qc.ry(a[3], 1)
    qc.cx(1, 2)
    qc.rz(a[4], 0)
    obs = [SparsePauliOp("IIZX"), SparsePauliOp("IZIZ")]
    if high_observable:
        obs.append(SparsePauliOp.from_list([("XIIZ", 0.5), ("ZIII", 0.25)]))
    vals = rng.uniform(-2, 2, (3, 5))
    grads = FastEstimatorGradient().run([qc] * 3, [obs[-1]] * 3, vals).result().gradients
    for v, g in zip(vals, grads, strict=True):
        np.testing.assert_allclose(g, sv_param_shift(qc, v, obs[-1:], range(5))[0], atol=1e-10)
