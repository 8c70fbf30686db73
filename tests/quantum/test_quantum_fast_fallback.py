"""Any circuit runs through the fast primitives: decomposed into the fast gate set when it can
be, on qiskit's reference estimator (with one warning, at build time) when it cannot; circuits
without parameters, inputs or weights too. Values and gradients against qiskit's own
EstimatorQNN on StatevectorEstimator at 1e-6."""

import warnings

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import real_amplitudes, z_feature_map, zz_feature_map
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qsdaqec.quantum.decompose import FastPathFallbackWarning
from qsdaqec.quantum.fast import FastEstimator, FastEstimatorGradient
from qsdaqec.quantum.qnn import FastEstimatorQNN


def _qnns(circuit, observables, inputs, weights, **kw):
    """(fast QNN, stock EstimatorQNN, warnings raised while building the fast one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = FastEstimator()
        fast = FastEstimatorQNN(
            circuit=circuit,
            estimator=est,
            gradient=FastEstimatorGradient(est),
            observables=observables,
            input_params=inputs,
            weight_params=weights,
            **kw,
        )
    stock = EstimatorQNN(
        circuit=circuit,
        observables=observables,
        input_params=inputs,
        weight_params=weights,
        **kw,
    )
    return fast, stock, [w for w in caught if issubclass(w.category, FastPathFallbackWarning)]


def _agree(fast, stock, x, w):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FastPathFallbackWarning)  # warned once, at build only
        np.testing.assert_allclose(fast.forward(x, w), stock.forward(x, w), atol=1e-6)
        for a, b in zip(fast.backward(x, w), stock.backward(x, w), strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_circuit_without_parameters():
    qc = QuantumCircuit(1)
    qc.h(0)
    evs = FastEstimator().run([(qc, SparsePauliOp("X"))]).result()[0].data.evs
    assert float(evs) == pytest.approx(1.0, abs=1e-12)
    fast, stock, warned = _qnns(qc, [SparsePauliOp("X"), SparsePauliOp("Z")], [], [])
    assert not warned
    np.testing.assert_allclose(fast.forward(None, None), stock.forward(None, None), atol=1e-12)
    assert fast.backward(None, None) == stock.backward(None, None) == (None, None)


@pytest.mark.parametrize("which", ["inputs only", "weights only"])
def test_circuits_with_only_inputs_or_only_weights(which, rng):
    x = ParameterVector("x", 2)
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.cx(0, 1)
    qc.rx(x[1], 1)
    inputs, weights = (list(x), []) if which == "inputs only" else ([], list(x))
    fast, stock, warned = _qnns(qc, [SparsePauliOp("ZZ")], inputs, weights, input_gradients=True)
    assert not warned and fast._fast
    vals = rng.uniform(-2, 2, (3, 2)) if inputs else None
    w = rng.uniform(-2, 2, 2) if weights else None
    _agree(fast, stock, vals, w)


def test_p_gates_and_composite_instructions_are_decomposed_and_stay_fast(rng):
    fm = z_feature_map(3)  # p gates inside a composite instruction
    ans = real_amplitudes(3, reps=2)
    t = Parameter("t")
    sub = QuantumCircuit(2, name="opaque")
    sub.u(t, 0.3, -0.2, 0)
    sub.rzz(t, 0, 1)
    qc = fm.compose(ans)
    qc.append(sub.to_gate(), [0, 2])
    obs = [SparsePauliOp("ZZI"), SparsePauliOp("XIY")]
    fast, stock, warned = _qnns(
        qc, obs, list(fm.parameters), [*ans.parameters, t], input_gradients=True
    )
    assert not warned and fast._fast  # decomposed, on the fast path
    _agree(fast, stock, rng.uniform(0, 2, (4, 3)), rng.uniform(-2, 2, ans.num_parameters + 1))


def test_non_linear_angles_fall_back_with_one_warning_at_build(rng):
    fm = zz_feature_map(2)  # angle (pi - x0)(pi - x1): not linear
    ans = real_amplitudes(2, reps=1)
    qc = fm.compose(ans)
    fast, stock, warned = _qnns(
        qc, [SparsePauliOp("ZZ")], list(fm.parameters), list(ans.parameters), input_gradients=True
    )
    assert len(warned) == 1 and not fast._fast
    assert "not linear" in str(warned[0].message) and "StatevectorEstimator" in str(
        warned[0].message
    )
    _agree(fast, stock, rng.uniform(0, 2, (3, 2)), rng.uniform(-2, 2, ans.num_parameters))


def test_fallback_pubs_mix_with_fast_ones_in_one_run(rng):
    a = Parameter("a")
    square = QuantumCircuit(1)
    square.rx(a * a, 0)  # not linear
    line = QuantumCircuit(1)
    line.rx(a, 0)
    with pytest.warns(FastPathFallbackWarning, match="not linear"):
        res = FastEstimator().run([(square, "Z", [0.7]), (line, "Z", [0.7])]).result()
    assert float(res[0].data.evs) == pytest.approx(np.cos(0.49), abs=1e-12)
    assert float(res[1].data.evs) == pytest.approx(np.cos(0.7), abs=1e-12)
    grad = FastEstimatorGradient()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FastPathFallbackWarning)
        g = grad.run([square, line], [SparsePauliOp("Z")] * 2, [[0.7], [0.7]]).result().gradients
    assert float(g[0][0]) == pytest.approx(-2 * 0.7 * np.sin(0.49), abs=1e-6)
    assert float(g[1][0]) == pytest.approx(-np.sin(0.7), abs=1e-9)
    state = Statevector(line.assign_parameters([0.7]))
    assert float(res[1].data.evs) == pytest.approx(state.expectation_value(SparsePauliOp("Z")).real)
