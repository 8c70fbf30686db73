import numpy as np
import pytest
from runner_helpers import exact, run_all, small_circuit

from qsdaqec.runner import RunnerConfig, ServiceLimits, make_estimator, make_gradient

RNG = np.random.default_rng(3)
VALS = RNG.uniform(0, np.pi, (5, 4))
SMALL_FAKE = "fake_manila"  # 5 qubits: quick to build and to simulate


@pytest.fixture(scope="module")
def circ():
    return small_circuit(2)


@pytest.fixture(scope="module")
def ref(circ):
    qc, obs = circ
    return exact(qc, obs, VALS)


@pytest.mark.parametrize("spec", ["statevector", "aer"])
def test_exact_backends(circ, ref, spec):
    qc, obs = circ
    evs, stds = run_all(make_estimator(spec, RunnerConfig(cache_dir="")), qc, obs, VALS)
    np.testing.assert_allclose(evs, ref, atol=1e-10)
    assert np.all(stds == 0)


def test_aer_shots_within_shot_noise(circ, ref):
    qc, obs = circ
    est = make_estimator("aer", RunnerConfig(shots=2000, seed=11, cache_dir=""))
    evs, stds = run_all(est, qc, obs, VALS)
    assert np.all(stds > 0)
    assert np.all(np.abs(evs - ref) <= 5 * stds + 1e-9)
    assert np.abs(evs - ref).max() > 0  # really sampled


def test_noise_scale_zero_equals_ideal(circ, ref):
    qc, obs = circ
    est = make_estimator(f"aer_noisy:{SMALL_FAKE}", RunnerConfig(noise_scale=0, cache_dir=""))
    evs, _ = run_all(est, qc, obs, VALS)
    np.testing.assert_allclose(evs, ref, atol=1e-12)


def test_noise_grows_with_scale(circ, ref):
    qc, obs = circ
    errs = []
    for scale in (0.5, 1.0, 3.0):
        est = make_estimator(
            f"aer_noisy:{SMALL_FAKE}", RunnerConfig(noise_scale=scale, cache_dir="")
        )
        evs, _ = run_all(est, qc, obs, VALS)
        errs.append(np.abs(evs - ref).mean())
    assert 0 < errs[0] < errs[1] < errs[2]


def test_aer_noisy_shots_agree_with_exact(circ):
    qc, obs = circ
    spec = f"aer_noisy:{SMALL_FAKE}"
    ex, _ = run_all(make_estimator(spec, RunnerConfig(cache_dir="")), qc, obs, VALS)
    evs, stds = run_all(
        make_estimator(spec, RunnerConfig(shots=3000, seed=5, cache_dir="")), qc, obs, VALS
    )
    assert np.all(np.abs(evs - ex) <= 5 * stds + 1e-9)


def test_readout_mitigation_moves_toward_exact(circ, ref):
    qc, obs = circ
    spec = f"aer_noisy:{SMALL_FAKE}"
    plain, _ = run_all(make_estimator(spec, RunnerConfig(cache_dir="")), qc, obs, VALS)
    mitig, _ = run_all(
        make_estimator(spec, RunnerConfig(mitigation="readout", cache_dir="")), qc, obs, VALS
    )
    no_ro, _ = run_all(
        make_estimator(spec, RunnerConfig(readout_error=False, cache_dir="")), qc, obs, VALS
    )
    # exact calibration: mitigation removes the readout error completely
    np.testing.assert_allclose(mitig, no_ro, atol=1e-9)
    assert np.abs(mitig - ref).mean() < np.abs(plain - ref).mean()
    shots, _ = run_all(
        make_estimator(spec, RunnerConfig(mitigation="readout", shots=20000, seed=2, cache_dir="")),
        qc,
        obs,
        VALS,
    )
    assert np.abs(shots - ref).mean() < np.abs(plain - ref).mean()


def test_zne_on_aer_noisy_reduces_error(circ, ref):
    qc, obs = circ
    spec = f"aer_noisy:{SMALL_FAKE}"
    cfg = RunnerConfig(readout_error=False, cache_dir="")
    plain, _ = run_all(make_estimator(spec, cfg), qc, obs, VALS)
    zne, _ = run_all(make_estimator(spec, cfg.replace(mitigation="zne")), qc, obs, VALS)
    assert np.abs(zne - ref).mean() < np.abs(plain - ref).mean()


@pytest.mark.parametrize("spec", ["aer", f"aer_noisy:{SMALL_FAKE}"])
def test_batching_equals_one_by_one(circ, spec):
    qc, obs = circ
    est = make_estimator(spec, RunnerConfig(cache_dir=""))
    together, _ = run_all(est, qc, obs, VALS)
    single = np.stack([run_all(est, qc, obs, VALS[i : i + 1])[0][0] for i in range(len(VALS))])
    np.testing.assert_allclose(together, single, atol=1e-12)
    # and one PUB per (sample, observable), as parameter-shift gradients send them
    res = est.run([(qc, o, v) for v in VALS for o in obs]).result()
    flat = np.array([float(r.data.evs) for r in res]).reshape(len(VALS), len(obs))
    np.testing.assert_allclose(flat, together, atol=1e-12)
    assert res[0].data.evs.shape == ()


def test_pubs_merge_into_one_task(circ):
    qc, obs = circ
    est = make_estimator("aer", RunnerConfig(cache_dir=""))
    pubs = [(qc, o, VALS) for o in obs] + [(qc, obs[0], VALS[:2])]
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    plan = est.plan([EstimatorPub.coerce(p) for p in pubs])
    assert len(plan.tasks) == 1
    assert plan.tasks[0].values.shape == (len(VALS), 4)  # duplicates removed
    assert len(plan.jobs) == 1 and len(plan.jobs[0]) == 1


def test_broadcast_shapes(circ, ref):
    qc, obs = circ
    est = make_estimator("aer", RunnerConfig(cache_dir=""))
    res = est.run([(qc, [[o] for o in obs], VALS)]).result()[0]
    assert res.data.evs.shape == (len(obs), len(VALS))
    np.testing.assert_allclose(res.data.evs.T, ref, atol=1e-10)


def test_job_splitting_preserves_order(circ, ref):
    qc, obs = circ
    q = 4  # distinct Pauli terms: IZ, ZI, XX, ZZ
    limits = ServiceLimits(max_params_per_pub=q * 2, max_pubs_per_job=2)
    est = make_estimator("aer", RunnerConfig(limits=limits, cache_dir=""))
    evs, _ = run_all(est, qc, obs, VALS)
    np.testing.assert_allclose(evs, ref, atol=1e-10)
    # 5 rows, 2 rows per PUB -> 3 PUBs; 2 PUBs per job -> 2 jobs
    assert [j["pubs"] for j in est.jobs_log] == [2, 1]
    assert sum(j["param_sets"] for j in est.jobs_log) == len(VALS) * q


def test_job_splitting_by_params_per_job(circ):
    qc, obs = circ
    limits = ServiceLimits(max_params_per_job=4)
    est = make_estimator("aer", RunnerConfig(limits=limits, cache_dir=""))
    run_all(est, qc, obs, VALS)
    assert len(est.jobs_log) == len(VALS)


def test_transpile_cache_memory_and_disk(circ, tmp_path):
    qc, obs = circ
    spec = f"aer_noisy:{SMALL_FAKE}"
    cfg = RunnerConfig(cache_dir=tmp_path)
    est = make_estimator(spec, cfg)
    first, _ = run_all(est, qc, obs, VALS)
    assert est.cache.stats["transpiled"] == 1
    assert len(list((tmp_path / "transpiled").glob("*.qpy"))) == 1
    run_all(est, qc, obs, VALS)
    assert est.cache.stats["transpiled"] == 1 and est.cache.stats["memory_hits"] >= 1
    est2 = make_estimator(spec, cfg)
    second, _ = run_all(est2, qc, obs, VALS)
    assert est2.cache.stats == {
        "transpiled": 0,
        "memory_hits": est2.cache.stats["memory_hits"],
        "disk_hits": 1,
    }
    np.testing.assert_allclose(first, second, atol=1e-12)
    # other options -> other entry
    est3 = make_estimator(spec, cfg.replace(optimization_level=0))
    run_all(est3, qc, obs, VALS)
    assert est3.cache.stats["transpiled"] == 1


def test_transpile_cache_survives_corrupt_file(circ, tmp_path):
    qc, obs = circ
    spec = f"aer_noisy:{SMALL_FAKE}"
    est = make_estimator(spec, RunnerConfig(cache_dir=tmp_path))
    run_all(est, qc, obs, VALS[:1])
    for f in (tmp_path / "transpiled").glob("*.qpy"):
        f.write_bytes(b"garbage")
    est2 = make_estimator(spec, RunnerConfig(cache_dir=tmp_path))
    run_all(est2, qc, obs, VALS[:1])
    assert est2.cache.stats["transpiled"] == 1


def test_active_qubit_compaction(circ):
    qc, obs = circ
    est = make_estimator("aer_noisy:fake_torino", RunnerConfig(cache_dir=""))
    prog = est.prepare(qc)
    assert prog.circuit.num_qubits == len(prog.active) <= 3
    assert all(0 <= p < 133 for p in prog.active)
    evs, _ = run_all(
        make_estimator("aer_noisy:fake_torino", RunnerConfig(noise_scale=0, cache_dir="")),
        qc,
        obs,
        VALS,
    )
    np.testing.assert_allclose(evs, exact(qc, obs, VALS), atol=1e-12)


def test_layout_options(circ):
    qc, obs = circ
    est = make_estimator(
        f"aer_noisy:{SMALL_FAKE}", RunnerConfig(initial_layout=(3, 4), noise_scale=0, cache_dir="")
    )
    prog = est.prepare(qc)
    assert set(prog.active) == {3, 4}
    evs, _ = run_all(est, qc, obs, VALS)
    np.testing.assert_allclose(evs, exact(qc, obs, VALS), atol=1e-12)


def test_fake_runtime_agrees_with_aer_noisy(circ):
    qc, obs = circ
    ex, _ = run_all(
        make_estimator(f"aer_noisy:{SMALL_FAKE}", RunnerConfig(cache_dir="")), qc, obs, VALS
    )
    est = make_estimator(f"fake:{SMALL_FAKE}", RunnerConfig(shots=4000, seed=3, cache_dir=""))
    evs, stds = run_all(est, qc, obs, VALS)
    assert np.all(stds > 0)
    assert np.all(np.abs(evs - ex) <= 5 * stds + 0.01)
    assert len(est.jobs_log) == 1 and est.jobs_log[0]["job_id"]


def test_fake_runtime_split_jobs_use_batch(circ, monkeypatch):
    qc, obs = circ
    import qiskit_ibm_runtime

    opened = []
    real = qiskit_ibm_runtime.Batch

    class SpyBatch(real):
        def __init__(self, *a, **k):
            opened.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(qiskit_ibm_runtime, "Batch", SpyBatch)
    limits = ServiceLimits(max_params_per_pub=4 * 2, max_pubs_per_job=1)
    est = make_estimator(
        f"fake:{SMALL_FAKE}", RunnerConfig(shots=500, limits=limits, seed=1, cache_dir="")
    )
    evs, _ = run_all(est, qc, obs, VALS)
    assert evs.shape == (len(VALS), len(obs))
    assert len(est.jobs_log) == 3 and opened == [1]


def test_runtime_options_mapping():
    from qiskit_ibm_runtime.options import EstimatorOptions

    from qsdaqec.runner import parse_backend
    from qsdaqec.runner.estimator import apply_runtime_options

    o = EstimatorOptions()
    apply_runtime_options(
        o, RunnerConfig(shots=1000, mitigation="trex+zne+twirling+dd"), parse_backend("ibm:ibm_x")
    )
    assert o.default_shots == 1000 and o.resilience_level == 0
    assert o.resilience.measure_mitigation and o.resilience.zne_mitigation
    assert o.twirling.enable_gates and o.dynamical_decoupling.enable


def test_estimator_qnn_forward_backward(circ):
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    qc, obs = circ
    xs, ws = list(qc.parameters)[2:], list(qc.parameters)[:2]  # sorted: w[0], w[1], x[0], x[1]
    inputs = VALS[:3, :2]
    weights = np.array([0.3, -0.7])
    out = {}
    for spec in ("statevector", "aer"):
        est = make_estimator(spec, RunnerConfig(cache_dir=""))
        qnn = EstimatorQNN(
            circuit=qc,
            estimator=est,
            observables=obs,
            input_params=xs,
            weight_params=ws,
            gradient=make_gradient(spec, est),
            input_gradients=True,
        )
        fwd = qnn.forward(inputs, weights)
        gin, gw = qnn.backward(inputs, weights)
        out[spec] = (fwd, gin, gw)
    ref_est = make_estimator("aer", RunnerConfig(cache_dir=""))
    qnn = EstimatorQNN(
        circuit=qc, estimator=ref_est, observables=obs, input_params=xs, weight_params=ws
    )
    for fwd, gin, gw in out.values():
        np.testing.assert_allclose(fwd, qnn.forward(inputs, weights), atol=1e-9)
        assert gw.shape == (3, len(obs), 2) and gin.shape == (3, len(obs), 2)
    np.testing.assert_allclose(out["statevector"][2], out["aer"][2], atol=1e-8)
    np.testing.assert_allclose(out["statevector"][1], out["aer"][1], atol=1e-8)


def test_circuit_without_parameters():
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    for spec in ("aer", f"aer_noisy:{SMALL_FAKE}"):
        res = (
            make_estimator(spec, RunnerConfig(noise_scale=0, cache_dir=""))
            .run([(qc, [SparsePauliOp("ZZ"), SparsePauliOp("XX"), SparsePauliOp("ZI")])])
            .result()[0]
        )
        np.testing.assert_allclose(res.data.evs, [1, 1, 0], atol=1e-12)


def test_param_shift_gradient_on_noisy_model(circ):
    """Shift rule is exact for the noisy model too (noise channels do not depend on θ)."""
    qc, obs = circ
    est = make_estimator(f"aer_noisy:{SMALL_FAKE}", RunnerConfig(cache_dir=""))
    grad = make_gradient(f"aer_noisy:{SMALL_FAKE}", est)
    v = VALS[0]
    g = grad.run([qc], [obs[2]], [v]).result().gradients[0]
    h = 1e-4
    fd = []
    for i in range(len(v)):
        e = np.zeros_like(v)
        e[i] = h
        hi = est.run([(qc, obs[2], v + e)]).result()[0].data.evs
        lo = est.run([(qc, obs[2], v - e)]).result()[0].data.evs
        fd.append((hi - lo) / (2 * h))
    np.testing.assert_allclose(g, fd, atol=1e-6)
    assert est.jobs_log[0]["param_sets"] <= 2 * len(v) * 4  # all shifts in one task


def test_random_state_continues_exactly_in_a_new_estimator(circ):
    """What a training checkpoint keeps: a new estimator given the saved state draws the same
    shots as the one that went on (issue 29, item 4)."""
    qc, obs = circ
    cfg = RunnerConfig(shots=500, seed=5, cache_dir="", mitigation="readout")
    first = make_estimator(f"aer_noisy:{SMALL_FAKE}", cfg)
    run_all(first, qc, obs, VALS)
    state = first.rng_state()
    went_on, _ = run_all(first, qc, obs, VALS)
    resumed = make_estimator(f"aer_noisy:{SMALL_FAKE}", cfg)
    resumed.set_rng_state(state)
    again, _ = run_all(resumed, qc, obs, VALS)
    np.testing.assert_array_equal(again, went_on)
    fresh, _ = run_all(make_estimator(f"aer_noisy:{SMALL_FAKE}", cfg), qc, obs, VALS)
    assert not np.array_equal(fresh, went_on)  # a re-seeded one would draw other shots
