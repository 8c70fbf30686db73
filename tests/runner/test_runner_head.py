"""The runner on the real head circuits (qsdaqec.quantum)."""

import numpy as np
import pytest
from runner_helpers import run_all

from qsdaqec.quantum.circuits import HeadConfig, build_head_circuit
from qsdaqec.quantum.fast import FastEstimator
from qsdaqec.runner import RunnerConfig, make_estimator


def _values(head, n, seed=0):
    return np.random.default_rng(seed).uniform(0, np.pi, (n, head.circuit.num_parameters))


def test_angle_head_noise_scale_zero_and_shots():
    head = build_head_circuit(HeadConfig(encoding="angle"))
    qc, obs = head.circuit, head.observables
    vals = _values(head, 6)
    ref, _ = run_all(FastEstimator(), qc, obs, vals)
    ideal, _ = run_all(
        make_estimator("aer_noisy", RunnerConfig(noise_scale=0, cache_dir="")), qc, obs, vals
    )
    np.testing.assert_allclose(ideal, ref, atol=1e-10)
    est = make_estimator("aer_noisy", RunnerConfig(cache_dir=""))
    prog = est.prepare(qc)
    assert prog.circuit.num_qubits == len(prog.active) == 4
    noisy, _ = run_all(est, qc, obs, vals)
    assert 0 < np.abs(noisy - ref).max() < 0.3
    shots, stds = run_all(
        make_estimator("aer_noisy", RunnerConfig(shots=4000, cache_dir="")), qc, obs, vals
    )
    assert np.all(np.abs(shots - noisy) <= 5 * stds + 1e-9)


def test_angle_head_statevector_and_aer_match_fast():
    head = build_head_circuit(HeadConfig(encoding="angle"))
    vals = _values(head, 4, seed=1)
    ref, _ = run_all(FastEstimator(), head.circuit, head.observables, vals)
    for spec in ("statevector", "aer"):
        got, _ = run_all(
            make_estimator(spec, RunnerConfig(cache_dir="")), head.circuit, head.observables, vals
        )
        np.testing.assert_allclose(got, ref, atol=1e-10)


@pytest.mark.slow
def test_amplitude_head_on_torino():
    head = build_head_circuit(HeadConfig())
    qc, obs = head.circuit, head.observables
    vals = _values(head, 2, seed=2)
    ref, _ = run_all(FastEstimator(), qc, obs, vals)
    est0 = make_estimator("aer_noisy:fake_torino", RunnerConfig(noise_scale=0, cache_dir=""))
    ideal, _ = run_all(est0, qc, obs, vals)
    np.testing.assert_allclose(ideal, ref, atol=1e-9)
    assert len(est0.prepare(qc).active) == 8
    noisy, _ = run_all(
        make_estimator("aer_noisy:fake_torino", RunnerConfig(cache_dir="")), qc, obs, vals
    )
    assert np.abs(noisy - ref).max() > 1e-3
