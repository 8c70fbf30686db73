import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qsdaqec.errors import ConfigError
from qsdaqec.quantum.amplitude import node_to_gate_angles, tree_angles, ucry_matrix
from qsdaqec.quantum.circuits import HeadConfig, build_head_circuit, features_to_inputs


def _encoded_state(x: np.ndarray) -> np.ndarray:
    cfg = HeadConfig(num_features=x.shape[-1], ansatz_qubits=1, layers=0)
    hc = build_head_circuit(cfg)
    beta = node_to_gate_angles(tree_angles(x[None]))[0]
    bound = hc.circuit.assign_parameters(dict(zip(hc.input_params, beta, strict=True)))
    return Statevector(bound).data


@pytest.mark.parametrize("f", [2, 4, 16, 256])
def test_amplitude_tree_prepares_the_normalised_vector(f, rng):
    x = rng.random(f)
    x[: f // 4] = 0.0  # a zero subtree
    np.testing.assert_allclose(_encoded_state(x), x / np.linalg.norm(x), atol=1e-12)


def test_all_zero_vector_is_the_uniform_state():
    np.testing.assert_allclose(_encoded_state(np.zeros(256)), np.full(256, 1 / 16), atol=1e-12)


def test_negative_entries_encode_their_magnitude(rng):
    x = rng.normal(size=16)
    np.testing.assert_allclose(_encoded_state(x), np.abs(x) / np.linalg.norm(x), atol=1e-12)


def test_ucry_matrix_is_orthogonal_up_to_scale():
    for k in range(6):
        m = ucry_matrix(k)
        np.testing.assert_array_equal(m.T @ m, (1 << k) * np.eye(1 << k))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_and_sparse_features_give_finite_values_and_gradients(dtype):
    cfg = HeadConfig()
    x = torch.zeros(3, 256, dtype=dtype)
    x[1, 5] = 2.0  # one non-zero entry: most subtrees empty
    x[2, :128] = torch.rand(128, dtype=dtype)
    x.requires_grad_(True)
    inputs = features_to_inputs(x, cfg)
    assert inputs.shape == (3, 255)
    assert torch.isfinite(inputs).all()
    (inputs * torch.linspace(-1, 1, 255, dtype=dtype)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_features_to_inputs_is_scale_invariant(rng):
    x = torch.as_tensor(rng.random((2, 256)))
    torch.testing.assert_close(
        features_to_inputs(x, HeadConfig()), features_to_inputs(7.5 * x, HeadConfig())
    )


def test_angle_inputs_need_compression_to_4():
    cfg = HeadConfig(encoding="angle")
    with pytest.raises(ConfigError, match="compress"):
        features_to_inputs(torch.rand(2, 256), cfg)
    out = features_to_inputs(torch.rand(2, 256), cfg, torch.nn.Linear(256, 4))
    assert out.shape == (2, 4) and bool(((out > 0) & (out < np.pi)).all())


def test_circuit_shapes_and_counts():
    amp = build_head_circuit(HeadConfig())
    assert amp.circuit.num_qubits == 8
    assert len(amp.input_params) == 255 and len(amp.weight_params) == 8
    assert [str(o.paulis[0]) for o in amp.observables] == [
        "IIIIIIIZ",
        "IIIIIIZI",
        "IIIIIZII",
        "IIIIZIII",
    ]
    ops = amp.circuit.count_ops()
    assert ops["ry"] == 255 + 8 and ops["cx"] == 254 + 8
    ang = build_head_circuit(HeadConfig(encoding="angle"))
    assert ang.circuit.num_qubits == 4 and len(ang.input_params) == 4
    deeper = build_head_circuit(HeadConfig(encoding="angle", layers=3, ansatz_qubits=3))
    assert len(deeper.weight_params) == 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encoding": "basis"},
        {"num_features": 100},
        {"ansatz_qubits": 9},
        {"entanglement": "star"},
        {"layers": -1},
    ],
)
def test_bad_configs_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        HeadConfig(**kwargs)
