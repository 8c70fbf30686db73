import warnings

import numpy as np
import pytest
import torch
from quantum_refs import sv_expectations

from qsdaqec.errors import ConfigError
from qsdaqec.quantum import (
    HeadConfig,
    QuantumHead,
    count_dense_parameters,
    count_head_parameters,
)


def _n_trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_parameter_counts():
    assert count_head_parameters().total == 18
    assert (count_head_parameters().quantum, count_head_parameters().readout) == (8, 10)
    assert count_dense_parameters() == 514
    assert _n_trainable(QuantumHead()) == 18
    angle = QuantumHead(HeadConfig(encoding="angle"))
    assert _n_trainable(angle) == count_head_parameters(angle.cfg).total == 8 + 10 + 1028


@pytest.mark.parametrize("encoding", ["amplitude", "angle", "schmidt"])
def test_forward_matches_statevector_and_backprop_reaches_upstream(encoding):
    torch.manual_seed(0)
    head = QuantumHead(HeadConfig(encoding=encoding))
    backbone = torch.nn.Sequential(torch.nn.Linear(12, 256), torch.nn.ReLU())
    x = torch.rand(5, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feats = backbone(x)
        logits = head(feats)
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1, 1])).backward()
    assert logits.shape == (5, 2)
    for name, p in [*backbone.named_parameters(), *head.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # expectation values against Statevector
    hc = head.head_circuit
    inputs = head.circuit_inputs(feats).detach().double().numpy()
    weights = head.quantum.weight.detach().double().numpy()
    z = head.expectation_values(feats).detach().double().numpy()
    values = dict(zip(hc.input_params, inputs[0], strict=True))
    values.update(zip(hc.weight_params, weights, strict=True))
    ordered = [values[p] for p in hc.circuit.parameters]
    ref = sv_expectations(hc.circuit, ordered, hc.observables)
    np.testing.assert_allclose(z[0], ref, atol=1e-6)  # TorchConnector returns float32


def test_input_gradient_matches_finite_differences():
    torch.manual_seed(1)
    head = QuantumHead()
    feats = torch.rand(2, 256, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, dtype=torch.float64)
    (head(feats).double() * w).sum().backward()
    g = feats.grad.clone()
    h = 1e-3
    with torch.no_grad():
        for j in [0, 17, 128, 255]:
            fp, fm = feats.detach().clone(), feats.detach().clone()
            fp[:, j] += h
            fm[:, j] -= h
            fd = ((head(fp).double() - head(fm).double()) * w).sum() / (2 * h)
            assert abs(float(fd) - float(g[:, j].sum())) < 2e-3


@pytest.mark.parametrize("batch", [1, 513])
def test_batch_sizes(batch):
    torch.manual_seed(2)
    head = QuantumHead()
    feats = torch.rand(batch, 256, requires_grad=True)
    out = head(feats)
    out.sum().backward()
    assert out.shape == (batch, 2)
    assert torch.isfinite(feats.grad).all()
    # each row is independent of the batch it was computed in
    torch.testing.assert_close(head(feats[:1].detach()), out[:1].detach(), atol=1e-6, rtol=0)


def test_all_zero_features_give_no_nan():
    torch.manual_seed(3)
    head = QuantumHead()
    feats = torch.zeros(4, 256, requires_grad=True)
    out = head(feats)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(feats.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_construction_is_deterministic_under_the_torch_seed():
    torch.manual_seed(7)
    a = QuantumHead(HeadConfig(encoding="angle"))
    torch.manual_seed(7)
    b = QuantumHead(HeadConfig(encoding="angle"))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_state_dict_round_trip():
    torch.manual_seed(8)
    a = QuantumHead()
    b = QuantumHead()
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 256)
    torch.testing.assert_close(a(x), b(x))


def test_bad_inputs_are_config_errors():
    head = QuantumHead()
    with pytest.raises(ConfigError, match="256"):
        head(torch.rand(2, 100))
    with pytest.raises(ConfigError, match="estimator"):
        from qsdaqec.quantum import FastEstimatorGradient

        QuantumHead(gradient=FastEstimatorGradient())


@pytest.mark.parametrize("encoding", ["amplitude", "angle", "schmidt"])
def test_fast_qnn_equals_plain_estimator_qnn(encoding):
    """FastEstimatorQNN's one-call path gives EstimatorQNN's generic (tiled) results."""
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    from qsdaqec.quantum import FastEstimator, FastEstimatorGradient, build_head_circuit
    from qsdaqec.quantum.qnn import FastEstimatorQNN

    hc = build_head_circuit(HeadConfig(encoding=encoding))
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, (7, len(hc.input_params)))
    w = rng.uniform(-1, 1, len(hc.weight_params))
    outs = []
    for cls in (FastEstimatorQNN, EstimatorQNN):
        for input_gradients in (True, False):
            est = FastEstimator()
            qnn = cls(
                circuit=hc.circuit,
                estimator=est,
                observables=hc.observables,
                input_params=hc.input_params,
                weight_params=hc.weight_params,
                gradient=FastEstimatorGradient(est),
                input_gradients=input_gradients,
            )
            gi, gw = qnn.backward(x, w)
            outs.append((qnn.forward(x, w), gi, gw))
    for fast, plain in zip(outs[:2], outs[2:], strict=True):
        np.testing.assert_allclose(fast[0], plain[0], atol=1e-12)
        assert (fast[1] is None) == (plain[1] is None)
        if fast[1] is not None:
            np.testing.assert_allclose(fast[1], plain[1], atol=1e-12)
        np.testing.assert_allclose(fast[2], plain[2], atol=1e-12)
    assert outs[0][0].shape == (7, 4) and outs[0][1].shape == (7, 4, len(hc.input_params))


def test_fast_qnn_falls_back_for_other_primitives():
    """Any other estimator/gradient takes EstimatorQNN's own path (same numbers)."""
    from qiskit.primitives import StatevectorEstimator
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

    from qsdaqec.quantum import build_head_circuit
    from qsdaqec.quantum.qnn import FastEstimatorQNN

    hc = build_head_circuit(HeadConfig(encoding="angle"))
    est = StatevectorEstimator()
    qnn = FastEstimatorQNN(
        circuit=hc.circuit,
        estimator=est,
        observables=hc.observables,
        input_params=hc.input_params,
        weight_params=hc.weight_params,
        gradient=ParamShiftEstimatorGradient(est),
        input_gradients=True,
        default_precision=0.0,
    )
    rng = np.random.default_rng(4)
    x, w = rng.uniform(0, 3, (2, 4)), rng.uniform(-1, 1, 8)
    fast = QuantumHead(HeadConfig(encoding="angle")).qnn
    np.testing.assert_allclose(qnn.forward(x, w), fast.forward(x, w), atol=1e-10)
    for a, b in zip(qnn.backward(x, w), fast.backward(x, w), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-8)


def test_noise_injection_only_in_training_mode():
    torch.manual_seed(0)
    head = QuantumHead(HeadConfig(encoding="schmidt"))
    feats = torch.rand(6, 256)
    head.train()
    clean = head(feats)
    torch.testing.assert_close(head(feats), clean)  # off by default: training is deterministic
    head.train_noise = 0.1
    noisy = [head(feats) for _ in range(2)]
    assert float((noisy[0] - clean).detach().abs().max()) > 1e-3
    assert float((noisy[0] - noisy[1]).detach().abs().max()) > 1e-3  # a new draw every call
    with torch.no_grad():  # the noise enters the expectation values, before the output layer
        w = head.readout.weight.clone()
        head.readout.weight.zero_()
        torch.testing.assert_close(head(feats), head.readout.bias.expand(6, 2))
        head.readout.weight.copy_(w)
    head.eval()
    torch.testing.assert_close(head(feats), clean)  # evaluation never sees it
    assert "train_noise" not in head.state_dict()
