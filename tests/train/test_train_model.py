import pytest
import torch

from qsdaqec.errors import BackendError, ConfigError
from qsdaqec.models import DenseHead, SDAQECModel
from qsdaqec.quantum import QuantumHead
from qsdaqec.train import FitConfig
from qsdaqec.train.config import parse_fit_backend
from qsdaqec.train.model import (
    backend_head,
    build_head,
    build_network,
    runner_config,
    set_input_gradients,
)


def test_sdaqec_quantum_network():
    torch.manual_seed(0)
    model, used, _ = build_network(FitConfig(head="quantum", encoding="amplitude"), "none")
    assert isinstance(model, SDAQECModel) and isinstance(model.head, QuantumHead)
    assert used == "none"
    n_head = sum(p.numel() for p in model.head.parameters())
    assert n_head == 18  # 8 ansatz weights + Linear(4 -> 2)
    model.eval()
    out = model(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, 2) and torch.isfinite(out).all()
    out.sum().backward()  # gradients flow back into the backbone through the quantum head
    assert model.proj[0].weight.grad is not None and model.proj[0].weight.grad.abs().sum() > 0


def test_heads_by_name():
    assert isinstance(build_head("classical"), DenseHead)
    head = build_head("quantum", encoding="angle")
    assert isinstance(head, QuantumHead) and head.cfg.encoding == "angle"
    with pytest.raises(ConfigError, match="unknown head 'hybrid'"):
        build_head("hybrid")
    model, _, _ = build_network(FitConfig(model="resnet18"), "none")
    assert not isinstance(model, SDAQECModel)  # a baseline keeps its own linear head


def test_a_fits_backend_is_parsed_once_per_string(monkeypatch):
    from qsdaqec.runner import backends

    parsed, real = [], backends._parse
    monkeypatch.setattr(backends, "_parse", lambda text: parsed.append(text) or real(text))
    cfg = FitConfig(backend="aer_noisy").validate()
    spec = cfg.backend_spec
    assert cfg.backend_spec is spec and str(spec) == "aer_noisy:fake_torino"
    assert cfg.copy().backend_spec is spec  # fit's copy of the config keeps it
    assert parsed == ["aer_noisy"] and cfg.encoding == "schmidt"
    cfg.backend = "statevector"  # a new string: parsed again
    assert cfg.backend_spec.is_exact and parsed == ["aer_noisy", "statevector"]
    assert "_backend_parsed" not in cfg.to_dict() and cfg == FitConfig(
        backend="statevector", encoding="schmidt", shots=cfg.shots, noisy_subset=64
    )
    with pytest.raises(BackendError, match="training on IBM hardware"):
        _ = FitConfig(backend="ibm:ibm_fez").backend_spec


def test_fit_backend_refuses_hardware_and_runner_config_carries_seed():
    assert parse_fit_backend("aer_noisy").name == "fake_torino"
    with pytest.raises(BackendError, match="training on IBM hardware"):
        parse_fit_backend("ibm:ibm_fez")
    cfg = FitConfig(seed=7, shots=256)
    assert runner_config(cfg).seed == 7 and runner_config(cfg).shots == 256
    assert runner_config(cfg, shots=64).shots == 64


def test_backend_head_and_input_gradients():
    cfg = FitConfig(encoding="angle")
    exact, rcfg = backend_head(cfg, "statevector")
    assert rcfg is None and isinstance(exact, QuantumHead)
    noisy, rcfg = backend_head(cfg, "aer", shots=128)
    assert rcfg.shots == 128 and rcfg.seed == cfg.seed
    set_input_gradients(noisy, False)
    assert noisy.qnn.input_gradients is False
    set_input_gradients(noisy, True)
    assert noisy.qnn.input_gradients is True


def test_stage2_head_gradients_are_exact_parameter_shift_on_the_runner():
    """The head stage 2 trains on a backend: its weight gradients (parameter shift through the
    runner's estimator) equal central finite differences of the loss (exact values on aer)."""
    torch.manual_seed(0)
    cfg = FitConfig(encoding="angle", seed=3)
    head, _ = backend_head(cfg, "aer")
    set_input_gradients(head, False)
    x, y = torch.rand(3, 256), torch.tensor([0, 1, 1])

    def loss() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(head(x), y)

    head.zero_grad()
    loss().backward()
    got = head.quantum.weight.grad.clone()
    w, eps = head.quantum.weight.data, 1e-2  # float32 loss: a small eps drowns in rounding
    want = torch.zeros_like(w)
    with torch.no_grad():
        for i in range(w.numel()):
            w[i] += eps
            up = loss()
            w[i] -= 2 * eps
            down = loss()
            w[i] += eps
            want[i] = (up - down) / (2 * eps)
    assert torch.allclose(got.double(), want.double(), atol=1e-4), (got, want)
    assert got.abs().max() > 1e-3  # not trivially zero
