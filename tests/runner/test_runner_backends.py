import pytest

from qsdaqec.errors import BackendError, ConfigError, CredentialsError
from qsdaqec.runner import (
    DEFAULT_FAKE,
    RunnerConfig,
    ServiceLimits,
    fake_backend_names,
    make_estimator,
    parse_backend,
    parse_mitigation,
)
from qsdaqec.runner import backends as B


@pytest.mark.parametrize(
    "text, kind, name",
    [
        ("statevector", "statevector", None),
        ("aer", "aer", None),
        ("AER", "aer", None),
        ("aer_noisy", "aer_noisy", DEFAULT_FAKE),
        ("aer_noisy:fake_fez", "aer_noisy", "fake_fez"),
        ("aer_noisy:FakeTorino", "aer_noisy", "fake_torino"),
        ("fake:fake_manila", "fake", "fake_manila"),
        ("fake:FakeManilaV2", "fake", "fake_manila"),
        ("fake:torino", "fake", "fake_torino"),
        ("FakeFez", "fake", "fake_fez"),
        ("fake_torino", "fake", "fake_torino"),  # a bare fake name means fake:<name>
        ("Fake-Torino", "fake", "fake_torino"),
        ("ibm:ibm_torino", "ibm", "ibm_torino"),
    ],
)
def test_parse(text, kind, name):
    spec = parse_backend(text)
    assert (spec.kind, spec.name) == (kind, name)
    assert parse_backend(str(spec)) == spec


@pytest.mark.parametrize(
    "text", ["", "qasm", "aer:x", "fake:", "fake:nowhere", "aer_noisy:fake_nope", "ibm:", "ibm:a b"]
)
def test_parse_errors(text):
    with pytest.raises(BackendError) as e:
        parse_backend(text)
    assert repr(text) in str(e.value) or "''" in str(e.value)


def test_unknown_lists_valid_names():
    msg = str(pytest.raises(BackendError, parse_backend, "fake:nowhere").value)
    assert "fake_torino" in msg and "fake_fez" in msg and "fake_manila" in msg
    msg = str(pytest.raises(BackendError, parse_backend, "qasm").value)
    assert "aer_noisy" in msg and "statevector" in msg and "fake_torino" in msg


def test_fake_names():
    names = fake_backend_names()
    assert "fake_torino" in names and "fake_fez" in names and len(names) > 30


def test_mitigation_parsing():
    assert parse_mitigation("none") == ()
    assert parse_mitigation("zne+trex") == ("trex", "zne")
    assert parse_mitigation("dd, twirling") == ("dd", "twirling")
    with pytest.raises(ConfigError, match="valid"):
        parse_mitigation("magic")
    assert RunnerConfig(mitigation="readout").mitigation == ("readout",)


@pytest.mark.parametrize(
    "kw",
    [
        {"shots": 0},
        {"shots": 1.5},
        {"precision": 0},
        {"optimization_level": 4},
        {"noise_scale": -1},
        {"noise_scale": float("inf")},
        {"layout_method": "magic"},
        {"mitigation": "nope"},
    ],
)
def test_config_errors(kw):
    with pytest.raises(ConfigError):
        RunnerConfig(**kw)


def test_limits_errors():
    with pytest.raises(ConfigError):
        ServiceLimits(max_pubs_per_job=0)


def test_shots_for():
    assert RunnerConfig(shots=100).shots_for(0.5) == 100
    assert RunnerConfig(precision=0.1).shots_for(0.5) == 100
    assert RunnerConfig().shots_for(1 / 64) == 4096
    assert RunnerConfig().shots_for(None) is None


def test_mitigation_not_for_noiseless():
    with pytest.raises(ConfigError):
        make_estimator("aer", RunnerConfig(mitigation="readout", cache_dir=""))
    with pytest.raises(ConfigError, match="fake:/ibm:"):
        make_estimator("aer_noisy:fake_manila", RunnerConfig(mitigation="dd", cache_dir=""))


def _no_account(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_URL"):
        monkeypatch.delenv(var, raising=False)


def test_ibm_without_credentials(monkeypatch, tmp_path):
    _no_account(monkeypatch, tmp_path)
    assert not B.has_credentials()
    with pytest.raises(CredentialsError) as e:
        make_estimator("ibm:ibm_torino", RunnerConfig(cache_dir=""))
    msg = str(e.value)
    assert "save_account" in msg and "\n" not in msg


def test_service_error_never_shows_token(monkeypatch, tmp_path):
    _no_account(monkeypatch, tmp_path)
    secret = "SECRET-token-1234567890abcdef"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", secret)
    import qiskit_ibm_runtime

    class Boom:
        def __init__(self, *a, **k):
            raise RuntimeError(f"401 unauthorized for token={secret} at https://x")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Boom)
    with pytest.raises(BackendError) as e:
        B.make_service()
    assert secret not in str(e.value) and "unauthorized" in str(e.value)


def test_injected_service_is_used(monkeypatch, tmp_path):
    _no_account(monkeypatch, tmp_path)
    from qsdaqec.runner import fake_backend

    class Service:
        calls = []

        def backend(self, name):
            self.calls.append(name)
            return fake_backend("fake_manila")

    svc = Service()
    est = make_estimator("ibm:ibm_fake", RunnerConfig(cache_dir=""), service=svc)
    assert svc.calls == ["ibm_fake"] and est.backend.name == "fake_manila"
