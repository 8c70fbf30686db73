"""What a submission costs before it is sent: the plan, the QPU-time model, the budget."""

from __future__ import annotations

import pytest

from qsdaqec.errors import ConfigError
from qsdaqec.runner import jobs as J
from qsdaqec.runner.fake_runtime import FakeRuntimeService, tiny_problem
from qsdaqec.runner.jobs.cost import JOB_OVERHEAD_S, check_budget

BACKEND = "ibm:fake_torino"  # the hardware path, served by the fake service


@pytest.fixture(scope="module")
def prob():
    return tiny_problem(n=7, seed=1)


def plan(prob, svc, **kw):
    how = J.PlanOptions(service=svc, sleep=lambda s: None, **kw)
    return J.plan_inference(prob.problem, prob.samples, J.job_backend(BACKEND), how)


def test_plan_counts_and_the_time_model(prob):
    svc = FakeRuntimeService()
    p = plan(prob, svc, limits=J.JobLimits(max_samples_per_job=3))
    c = p.cost
    assert (c.samples, c.jobs, c.pubs, c.parameter_sets, c.executions) == (7, 3, 3, 28, 7)
    assert c.shots == 4096 and not c.local
    assert c.two_qubit_gates == p.isa.info["two_qubit_gates"] > 0
    assert c.rep_delay_us == pytest.approx(250.0)  # FakeTorino's default_rep_delay
    assert 1.0 < c.circuit_us < 100.0  # a few gates and a measurement, not the rep delay
    per_shot = (c.rep_delay_us + c.circuit_us) * 1e-6
    assert c.qpu_seconds == pytest.approx(3 * JOB_OVERHEAD_S + 7 * 4096 * per_shot, abs=0.1)
    assert svc.submit_calls == 0 and not svc.batches  # planning sends nothing


def test_mitigation_and_shots_scale_the_estimate(prob):
    svc = FakeRuntimeService()
    base = plan(prob, svc).cost
    half = plan(prob, svc, job=J.JobOptions(shots=2048)).cost
    zne = plan(prob, svc, job=J.JobOptions(mitigation="zne")).cost
    trex = plan(prob, svc, job=J.JobOptions(mitigation="readout")).cost
    work = base.qpu_seconds - JOB_OVERHEAD_S
    assert half.qpu_seconds - JOB_OVERHEAD_S == pytest.approx(work / 2, abs=0.1)
    assert zne.executions == 3 * base.executions
    assert zne.qpu_seconds > 3 * work  # three noise factors, stretched gates
    assert trex.executions == base.executions + 1  # one calibration block per job
    assert trex.qpu_seconds == pytest.approx(base.qpu_seconds + work / 7, abs=0.1)


def test_budget_refuses_unless_confirmed(prob, tmp_path):
    svc = FakeRuntimeService()
    cost = plan(prob, svc).cost  # about 9 s
    assert check_budget(cost, None) == J.DEFAULT_IBM_BUDGET_S  # under the default budget
    with pytest.raises(ConfigError, match=r"over the budget of 5 s; nothing was submitted"):
        prob.submit(BACKEND, tmp_path, service=svc, max_qpu_seconds=5)
    assert svc.submit_calls == 0 and not (tmp_path / "jobs").exists()  # nothing written
    rec = prob.submit(BACKEND, tmp_path, service=svc, max_qpu_seconds=5, yes=True)
    assert svc.submit_calls == 1
    assert rec.cost["qpu_seconds"] == cost.qpu_seconds and rec.cost["over_budget_confirmed"]
    assert rec.cost["budget_s"] == 5
    with pytest.raises(ConfigError, match="positive"):
        check_budget(cost, 0)


def test_local_testing_mode_has_no_default_budget(prob, tmp_path):
    cost = J.plan_inference(prob.problem, prob.samples, J.job_backend("fake:fake_torino")).cost
    assert cost.local and check_budget(cost, None) is None
    assert any("no QPU time is used" in line for line in cost.lines())
    with pytest.raises(ConfigError, match="over the budget"):  # an explicit one still applies
        check_budget(cost, 1)


def test_retry_checks_the_budget_of_the_parts_it_resubmits(prob, tmp_path):
    from qsdaqec.runner import records as R

    svc = FakeRuntimeService(outcomes=["DONE", "ERROR", "DONE"], steps=1)
    rec = prob.submit(
        BACKEND,
        tmp_path,
        service=svc,
        sleep=lambda s: None,
        limits=J.JobLimits(max_samples_per_job=3),
    )
    J.fetch(rec, service=svc, wait=True, poll_interval=0, sleep=lambda s: None)
    said = []
    before = R.load_record(rec.path)
    with pytest.raises(ConfigError, match="3 samples is over the budget of 1 s"):
        J.retry(before, service=svc, sleep=lambda s: None, max_qpu_seconds=1, echo=said.append)
    after = R.load_record(rec.path)
    assert svc.submit_calls == 3 and [p.state for p in after.parts] == [
        p.state for p in before.parts
    ]
    assert J.retry(after, service=svc, sleep=lambda s: None, echo=said.append) == [1]
    assert any("estimated QPU time: about" in line for line in said)  # 3 samples: ~5 s


def test_repetition_delay_in_seconds_or_microseconds_and_the_fallback():
    from types import SimpleNamespace

    from qsdaqec.runner.jobs.cost import FALLBACK_REP_DELAY_S, _circuit_s, _rep_delay_s

    class V1Config:  # an IBMBackend-like object: the delay only in its configuration, in us
        def configuration(self):
            return SimpleNamespace(default_rep_delay=500.0)

    assert _rep_delay_s(V1Config()) == pytest.approx(500e-6)
    assert _rep_delay_s(SimpleNamespace(default_rep_delay=1e-4)) == pytest.approx(1e-4)
    assert _rep_delay_s(SimpleNamespace(default_rep_delay=0)) == FALLBACK_REP_DELAY_S
    assert _rep_delay_s(object()) == FALLBACK_REP_DELAY_S
    assert _circuit_s(None, SimpleNamespace()) == 0.0  # no target: no durations known
