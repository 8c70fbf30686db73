"""Jobs layer against a remote-like fake service: submit, split, track, fetch, cancel, retry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qsdaqec.errors import BackendError, ConfigError, JobError
from qsdaqec.quantum.readout import readout_probabilities
from qsdaqec.runner import ServiceLimits, parse_backend
from qsdaqec.runner import jobs as J
from qsdaqec.runner import records as R
from qsdaqec.runner.fake_runtime import FakeRuntimeService, tiny_problem

BACKEND = "ibm:fake_manila"  # the hardware path, served by the fake service


@pytest.fixture(scope="module")
def prob():
    return tiny_problem(n=7, seed=1)


def submit(prob, tmp_path, svc, **kw):
    kw.setdefault("limits", J.JobLimits(max_samples_per_job=3))
    backend = kw.pop("backend", BACKEND)
    return prob.submit(backend, tmp_path, service=svc, sleep=lambda s: None, **kw)


def files_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_parts_respects_limits():
    lim = J.JobLimits(ServiceLimits(max_params_per_pub=8, max_shots_per_job=40_000))
    parts = J.plan_parts(25, 4, 1000, lim)  # 4 parameter sets per sample
    assert [p.size for p in parts] == [10, 10, 5]  # 10 samples x 4 x 1000 shots per job
    assert parts[0].pubs == [[0, 2], [2, 4], [4, 6], [6, 8], [8, 10]]  # 2 samples per PUB
    assert parts[-1].stop == 25
    # as few jobs as possible by default: one job for a test split
    assert len(J.plan_parts(500, 4, 4096)) == 1
    assert [p.size for p in J.plan_parts(7, 4, 100, J.JobLimits(max_samples_per_job=3))] == [
        3,
        3,
        1,
    ]
    with pytest.raises(ConfigError, match="lower --shots"):
        J.plan_parts(1, 4, 100, J.JobLimits(ServiceLimits(max_shots_per_job=10)))


def test_mitigation_options_follow_the_runner():
    o = J.estimator_options(J.JobOptions(mitigation="none"), tags=["t"])
    assert o["default_shots"] == 4096 and o["resilience_level"] == 0
    assert o["environment"]["job_tags"] == ["t"]
    o = J.estimator_options(J.JobOptions(mitigation="readout+dd"))
    assert o["resilience"]["measure_mitigation"] and o["dynamical_decoupling"]["enable"]
    o = J.estimator_options(J.JobOptions(mitigation="trex+zne"))
    assert o["resilience"]["zne_mitigation"] and o["resilience"]["measure_mitigation"]
    assert J.JobOptions(mitigation="dd+readout").mitigation == "dd+readout"
    assert J.JobOptions(mitigation="none").mitigation == "none"
    with pytest.raises(ConfigError, match="unknown"):
        J.JobOptions(mitigation="magic")


def test_submit_writes_record_before_returning_and_fetch_matches_exact(prob, tmp_path):
    svc = FakeRuntimeService()
    rec = submit(prob, tmp_path, svc)
    # one transpilation, 3 jobs (3+3+1) in one batch, ids recorded on disk
    assert svc.submit_calls == 3 and len(svc.batches) == 1 and svc.batches[0].closed
    on_disk = R.load_record(rec.path)
    assert [p.job_id for p in on_disk.parts] == svc.created
    assert [(p.start, p.stop) for p in on_disk.parts] == [(0, 3), (3, 6), (6, 7)]
    assert all(p.state == R.QUEUED for p in on_disk.parts)
    assert on_disk.samples["ids"] == prob.sample_ids
    assert on_disk.circuit["hash"] and on_disk.circuit["isa_num_qubits"] == 5
    assert on_disk.options["shots"] == 4096
    assert rec.params_path.is_file() and rec.isa_path.is_file()

    s = J.fetch(
        R.load_record(rec.path), service=svc, wait=True, poll_interval=0, sleep=lambda s: None
    )
    assert s.record.status == "complete" and sorted(s.fetched_now) == [0, 1, 2]
    pred = json.loads(s.predictions.read_text())
    assert pred["complete"] and pred["n_predicted"] == 7
    evs = np.array([[r[f"ev_{j}"] for j in range(4)] for r in pred["predictions"]])
    np.testing.assert_allclose(evs, prob.exact_evs, atol=1e-9)  # exact fake service
    w, b = np.asarray(prob.output_layer["weight"]), prob.output_layer["bias"]
    probs = readout_probabilities(prob.exact_evs, w, b)
    got = np.array([[r["p_normal"], r["p_stenosis"]] for r in pred["predictions"]])
    np.testing.assert_allclose(got, probs, atol=1e-9)
    metrics = json.loads((rec.folder / "metrics.json").read_text())
    assert metrics["n"] == 7 and metrics["complete"]
    csv = (rec.folder / "predictions.csv").read_text().splitlines()
    assert csv[0].startswith("sample_id,job_id,label,true_class,predicted")
    assert len(csv) == 8


def test_fetch_is_idempotent_and_never_redownloads(prob, tmp_path):
    svc = FakeRuntimeService(steps=0)
    rec = submit(prob, tmp_path, svc)
    J.fetch(rec, service=svc, sleep=lambda s: None)
    first = files_of(rec.folder)
    downloads = svc.downloads
    again = J.fetch(R.load_record(rec.path), service=svc, sleep=lambda s: None)
    assert again.fetched_now == [] and svc.downloads == downloads == 3
    assert files_of(rec.folder) == first
    # all stored: a later fetch needs no service at all (e.g. offline, no credentials)
    third = J.fetch(R.load_record(rec.path))
    assert third.record.status == "complete" and files_of(rec.folder) == first


def test_partial_results_kept_and_only_failed_part_retried(prob, tmp_path):
    svc = FakeRuntimeService(outcomes=["DONE", "ERROR", "CANCELLED"], steps=1)
    rec = submit(prob, tmp_path, svc)
    s = J.fetch(rec, service=svc, wait=True, poll_interval=0, sleep=lambda s: None)
    states = [p.state for p in s.record.parts]
    assert states == [R.FETCHED, R.FAILED, R.CANCELLED]
    assert s.record.status == "partial" and "1517" in s.record.parts[1].error
    pred = json.loads(s.predictions.read_text())
    assert not pred["complete"] and pred["n_predicted"] == 3
    assert pred["missing"] == prob.sample_ids[3:]
    kept = (rec.folder / s.record.parts[0].result_file).read_bytes()

    redone = J.retry(R.load_record(rec.path), service=svc, sleep=lambda s: None)
    assert redone == [1, 2] and svc.submit_calls == 5  # only the two failed parts
    rec2 = R.load_record(rec.path)
    assert rec2.parts[1].history[0]["state"] == R.FAILED and rec2.parts[1].attempt == 2
    s2 = J.fetch(rec2, service=svc, wait=True, poll_interval=0, sleep=lambda s: None)
    assert s2.record.status == "complete"
    assert (rec.folder / s2.record.parts[0].result_file).read_bytes() == kept
    evs = np.array(
        [
            [r[f"ev_{j}"] for j in range(4)]
            for r in json.loads(s2.predictions.read_text())["predictions"]
        ]
    )
    np.testing.assert_allclose(evs, prob.exact_evs, atol=1e-9)


def test_retry_with_nothing_to_do(prob, tmp_path):
    svc = FakeRuntimeService(steps=0)
    rec = submit(prob, tmp_path, svc)
    assert J.retry(rec, service=svc, sleep=lambda s: None) == []
    assert svc.submit_calls == 3


def test_cancel_live_jobs(prob, tmp_path):
    svc = FakeRuntimeService(steps=5)
    rec = submit(prob, tmp_path, svc)
    done = J.cancel(rec, service=svc, sleep=lambda s: None)
    assert done == [0, 1, 2]
    rec = R.load_record(rec.path)
    assert {p.state for p in rec.parts} == {R.CANCELLED}
    assert all(svc.jobs[j]._state == "CANCELLED" for j in svc.created)
    # cancel is safe to repeat
    assert J.cancel(rec, service=svc, sleep=lambda s: None) == []


def test_wait_times_out_with_injected_clock(prob, tmp_path):
    svc = FakeRuntimeService(steps=1000)
    rec = submit(prob, tmp_path, svc)
    now = [0.0]

    def sleep(s):
        now[0] += s

    s = J.fetch(
        rec,
        service=svc,
        wait=True,
        timeout=100,
        poll_interval=30,
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert s.record.status in (R.RUNNING, R.QUEUED) and s.predictions is None
    assert 100 <= now[0] <= 130


def test_bad_inputs(prob, tmp_path):
    import dataclasses

    svc = FakeRuntimeService()
    spec = J.job_backend(BACKEND)
    how = J.PlanOptions(service=svc)

    def send(problem=prob.problem, samples=prob.samples, backend=spec):
        return J.submit_inference(problem, samples, backend, how, run_dir=tmp_path)

    with pytest.raises(ConfigError, match="sample ids"):
        send(samples=J.Samples(prob.sample_ids[:2]))
    with pytest.raises(ConfigError, match="columns"):
        send(problem=dataclasses.replace(prob.problem, parameters=prob.problem.parameters[:3]))
    with pytest.raises(BackendError, match="ibm:<device>"):
        send(backend=parse_backend("aer"))  # the jobs layer checks a spec it is given
    with pytest.raises(BackendError, match="not available"):
        send(backend=J.job_backend("ibm:no_such_device"))
    assert svc.submit_calls == 0
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").glob("*.json"))


def test_record_lock_blocks_a_second_writer(prob, tmp_path):
    svc = FakeRuntimeService()
    rec = submit(prob, tmp_path, svc)
    with R.locked(rec):
        with pytest.raises(JobError, match="another qsdaqec command"):
            J.retry(R.load_record(rec.path), service=svc)
        # status only reads while another command holds the record
        assert J.status(R.load_record(rec.path), service=svc).status == R.QUEUED


def test_a_head_circuits_problem_is_sent_as_it_is(tmp_path):
    """A problem of the head's own circuit (``build_head_circuit``): every sample's exact
    expectation values come back from the service."""
    prob = tiny_problem(n=2, seed=9)
    svc = FakeRuntimeService(steps=0)
    rec = prob.submit(BACKEND, tmp_path, service=svc)
    s = J.fetch(rec, service=svc)
    evs = [
        [r[f"ev_{j}"] for j in range(4)]
        for r in json.loads(s.predictions.read_text())["predictions"]
    ]
    np.testing.assert_allclose(evs, prob.exact_evs, atol=1e-9)
