"""The torch simulation of the head (the exact head's path on a GPU), checked on the CPU:
values against Statevector, gradients and head outputs against the TorchConnector path."""

import numpy as np
import pytest
import torch
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from quantum_refs import sv_expectations
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from qsdaqec.errors import ConfigError
from qsdaqec.quantum import FastEstimator, FastEstimatorGradient, HeadConfig, QuantumHead
from qsdaqec.quantum.amplitude import amplitude_inputs
from qsdaqec.quantum.circuits import build_head_circuit
from qsdaqec.quantum.torch_sim import TorchHeadSim, sim_dtype
from qsdaqec.train.accel import Accel

ENCODINGS = ["amplitude", "angle", "schmidt"]


def _statevector(hc, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    out = []
    for row in inputs:
        values = dict(zip(hc.input_params, row, strict=True))
        values.update(zip(hc.weight_params, weights, strict=True))
        out.append(
            sv_expectations(hc.circuit, [values[p] for p in hc.circuit.parameters], hc.observables)
        )
    return np.array(out)


@pytest.mark.parametrize("entanglement", ["ring", "linear"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_values_match_statevector(encoding, entanglement, rng):
    hc = build_head_circuit(HeadConfig(encoding=encoding, entanglement=entanglement))
    sim = TorchHeadSim(hc)
    weights = rng.uniform(-np.pi, np.pi, len(hc.weight_params))
    # arbitrary circuit inputs, and the inputs the head computes from random features
    inputs = rng.uniform(-np.pi, np.pi, (2, len(hc.input_params)))
    if encoding == "amplitude":
        feats = torch.as_tensor(rng.random((2, 256)))
        feats[1, :128] = 0.0  # a zero subtree
        inputs = np.vstack([inputs, amplitude_inputs(feats).numpy()])
    ref = _statevector(hc, inputs, weights)
    for dtype, tol in [(torch.float64, 1e-10), (torch.float32, 1e-5)]:
        got = sim(torch.tensor(inputs, dtype=dtype), torch.tensor(weights, dtype=dtype))
        assert got.dtype == dtype and got.shape == ref.shape
        np.testing.assert_allclose(got.double().numpy(), ref, atol=tol)


@pytest.mark.parametrize(
    "cfg",
    [
        HeadConfig(num_features=64, ansatz_qubits=3, layers=3, entanglement="linear"),
        HeadConfig(num_features=16, ansatz_qubits=4, layers=0),
        HeadConfig(encoding="angle", ansatz_qubits=2, layers=1),
        HeadConfig(encoding="angle", ansatz_qubits=6, layers=2),
    ],
    ids=lambda cfg: cfg.name,
)
def test_other_head_configs_match_statevector(cfg, rng):
    """The simulation follows the circuit the config builds (widths, layers, entanglement)."""
    hc = build_head_circuit(cfg)
    inputs = rng.uniform(-np.pi, np.pi, (2, len(hc.input_params)))
    weights = rng.uniform(-np.pi, np.pi, len(hc.weight_params))
    got = TorchHeadSim(hc)(torch.tensor(inputs), torch.tensor(weights)).numpy()
    np.testing.assert_allclose(got, _statevector(hc, inputs, weights), atol=1e-10)


def test_amplitude_inputs_match_the_feature_map(rng):
    """The device-side feature map equals the head's (numpy forward, fused backward)."""
    sim = TorchHeadSim(build_head_circuit(HeadConfig()))
    feats = torch.as_tensor(rng.random((4, 256)) - 0.2)  # negative entries too
    feats[1, 64:192] = 0.0
    feats[2] = 0.0  # the all-zero vector (uniform state)
    g = torch.as_tensor(rng.standard_normal((4, 255)))
    grads = []
    for fn in (lambda f: sim.inputs(f, None), amplitude_inputs):
        f = feats.clone().requires_grad_(True)
        out = fn(f)
        (out * g).sum().backward()
        grads.append((out.detach(), f.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=0, atol=1e-12)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_gradients_match_the_connector(encoding, rng):
    """Gradients w.r.t. the circuit inputs and the connector's ``weight`` (the same Parameter)."""
    torch.manual_seed(3)
    head = QuantumHead(HeadConfig(encoding=encoding))
    n_in = head.cfg.num_inputs
    inputs = torch.as_tensor(rng.uniform(-np.pi, np.pi, (5, n_in)))
    g = torch.as_tensor(rng.standard_normal((5, head.cfg.ansatz_qubits)))
    out = []
    for run in (head.quantum, lambda x: head._sim(x, head.quantum.weight)):
        head.zero_grad()
        x = inputs.clone().requires_grad_(True)
        (run(x).double() * g).sum().backward()
        out.append((x.grad, head.quantum.weight.grad.clone()))
    (xc, wc), (xs, ws) = out
    torch.testing.assert_close(xs, xc, rtol=0, atol=1e-5)
    torch.testing.assert_close(ws.double(), wc.double(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_head_is_the_same_in_both_paths(encoding, monkeypatch):
    """One state dict, two paths (connector; torch simulation forced on the CPU): same logits and
    the same gradients for the features and every parameter; the state dict keys are unchanged."""
    torch.manual_seed(4)
    ref = QuantumHead(HeadConfig(encoding=encoding))
    torch.manual_seed(5)
    dev = QuantumHead(HeadConfig(encoding=encoding))
    dev.load_state_dict(ref.state_dict())
    monkeypatch.setattr(dev, "_sim_on_cpu", True)
    keys = {"quantum.weight", "quantum._weights", "readout.weight", "readout.bias"}
    if encoding == "angle":
        keys |= {"compress.weight", "compress.bias"}
    assert set(dev.state_dict()) == keys
    feats = torch.rand(6, 256)
    feats[0, :200] = 0.0
    target = torch.tensor([0, 1, 1, 0, 1, 0])
    results = []
    for head in (ref, dev):
        f = feats.clone().requires_grad_(True)
        logits = head(f)
        nn.functional.cross_entropy(logits, target).backward()
        grads = {n: p.grad for n, p in head.named_parameters()}
        results.append((logits.detach(), f.grad, grads))
    assert results[1][0].dtype == torch.float32
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-6)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=0, atol=1e-5)
    for name, g in results[0][2].items():
        torch.testing.assert_close(results[1][2][name], g, rtol=0, atol=1e-5, msg=name)


class _HostTensors(TorchDispatchMode):
    """Records every op that takes a host (CPU) tensor other than a 0-d scalar."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for a in tree_flatten((args, kwargs))[0]:
            if isinstance(a, torch.Tensor) and a.device.type == "cpu" and a.dim() > 0:
                self.ops.append(str(func))
        return func(*args, **kwargs)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_device_path_stays_on_the_device(encoding):
    """A head on a non-CPU device (``meta``: shapes only, and no copy back to the host is
    possible) takes the simulation, forward and backward; after the first call, which uploads
    the constant matrices, no op sees a host tensor."""
    head = QuantumHead(HeadConfig(encoding=encoding)).to("meta")
    feats = torch.rand(32, 256, device="meta", requires_grad=True)
    head(feats).sum().backward()  # uploads the constants
    with _HostTensors() as host:
        out = head(feats)
        out.sum().backward()
    assert host.ops == []
    assert (out.device.type, out.dtype, out.shape) == ("meta", torch.float32, (32, 2))
    assert feats.grad.device.type == head.quantum.weight.grad.device.type == "meta"


def test_only_exact_heads_get_the_simulation():
    assert QuantumHead().is_exact and QuantumHead()._sim is not None
    est = FastEstimator()
    runner = QuantumHead(estimator=est, gradient=FastEstimatorGradient(est))
    assert not runner.is_exact and runner._sim is None  # every runner backend: the connector
    # a circuit the simulation does not cover (gates on 7 qubits) keeps the connector, exact
    wide = QuantumHead(HeadConfig(encoding="angle", ansatz_qubits=7))
    assert wide.is_exact and wide._sim is None
    assert sim_dtype(torch.device("mps")) == torch.float32
    assert sim_dtype(torch.device("cuda")) == torch.float64


def test_unsupported_circuits_are_refused():
    hc = build_head_circuit(HeadConfig(encoding="angle"))
    hc.circuit.rz(0.3, 0)
    with pytest.raises(ConfigError, match="complex"):
        TorchHeadSim(hc)
    hc = build_head_circuit(HeadConfig(encoding="angle"))
    hc.observables[0] = SparsePauliOp("IIIX")
    with pytest.raises(ConfigError, match="diagonal"):
        TorchHeadSim(hc)
    hc = build_head_circuit(HeadConfig(encoding="amplitude", num_features=8, ansatz_qubits=2))
    data = list(hc.circuit.data)
    data[1], data[2] = data[2], data[1]  # tree gates out of order
    broken = QuantumCircuit(hc.circuit.num_qubits, metadata=hc.circuit.metadata)
    for inst in data:
        broken.append(inst)
    hc.circuit = broken
    with pytest.raises(ConfigError, match="amplitude tree"):
        TorchHeadSim(hc)


def test_accel_keeps_only_exact_quantum_heads_on_the_device():
    moved = []

    class Head(nn.Module):
        qnn = object()

        def __init__(self, exact: bool):
            super().__init__()
            self.is_exact = exact

        def to(self, *args, **kwargs):
            moved.append(args)
            return super().to(*args, **kwargs)

    class Model(nn.Module):
        def __init__(self, exact: bool):
            super().__init__()
            self.head = Head(exact)

    accel = Accel(torch.device("meta"))
    accel.model(Model(exact=True))
    assert moved == []
    accel.model(Model(exact=False))
    assert moved == [("cpu",)]
