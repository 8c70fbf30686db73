"""Faults: timeouts, dropped connections, failed/cancelled jobs, submit errors, crashes, secrets."""

from __future__ import annotations

import json
import logging

import pytest

from qsdaqec.errors import BackendError, CredentialsError, JobError
from qsdaqec.redaction import install_log_redaction
from qsdaqec.runner import faults as F
from qsdaqec.runner import jobs as J
from qsdaqec.runner import records as R
from qsdaqec.runner.fake_runtime import (
    AfterCreate,
    FakeRuntimeService,
    api_error,
    dropped,
    timeout,
    tiny_problem,
)
from qsdaqec.runner.jobs import gateway

BACKEND = "ibm:fake_manila"
TOKEN = "qsdaqecFAKEtoken_7f3a9c1e5b2d4f60a8c6e4b2d0f1a3c5"


@pytest.fixture(scope="module")
def prob():
    return tiny_problem(n=5, seed=2)


class Sleeps(list):
    def __call__(self, s):
        self.append(s)


def submit(prob, tmp_path, svc, sleep=None, **kw):
    kw.setdefault("limits", J.JobLimits(max_samples_per_job=2))  # parts 0-1, 2-3, 4
    return prob.submit(BACKEND, tmp_path, service=svc, sleep=sleep or Sleeps(), **kw)


# ---- classification and backoff ----------------------------------------------------------


def test_backoff_is_exponential_and_capped():
    assert F.RetryPolicy(attempts=6, base_delay=1, factor=2, max_delay=10).delays() == [
        1,
        2,
        4,
        8,
        10,
    ]


def test_call_with_retries_transient_then_ok():
    sleeps = Sleeps()
    calls = iter([dropped(), timeout(), api_error(503), "ok"])

    def fn():
        v = next(calls)
        if isinstance(v, BaseException):
            raise v
        return v

    assert F.call_with_retries(fn, "status", F.RetryPolicy(attempts=5), sleep=sleeps) == "ok"
    assert sleeps == [1, 2, 4]


def test_call_with_retries_gives_up_and_never_retries_permanent():
    sleeps = Sleeps()
    with pytest.raises(F.RetriesExhausted, match="failed 3 times"):
        F.call_with_retries(
            lambda: (_ for _ in ()).throw(dropped()), "x", F.RetryPolicy(attempts=3), sleep=sleeps
        )
    assert sleeps == [1, 2]
    sleeps.clear()
    with pytest.raises(Exception, match="401"):
        F.call_with_retries(
            lambda: (_ for _ in ()).throw(api_error(401, "Unauthorized")), "x", sleep=sleeps
        )
    assert sleeps == []


def test_wrapped_runtime_errors():
    from qiskit_ibm_runtime.exceptions import IBMRuntimeError, RuntimeJobNotFound

    assert F.is_transient(IBMRuntimeError("Failed to retrieve job: Connection reset by peer"))
    assert not F.is_transient(
        IBMRuntimeError("Failed to retrieve job: '401 Client Error: Unauthorized'")
    )
    assert not F.is_transient(RuntimeJobNotFound("Job not found: x"))
    assert not F.is_transient(ValueError("bad"))


@pytest.mark.parametrize(
    "exc, outcome",
    [
        (dropped(), "unknown"),
        (timeout(), "unknown"),
        (api_error(500), "unknown"),
        (api_error(408), "unknown"),
        (RuntimeError("surprise"), "unknown"),
        (api_error(400, "Bad Request"), "rejected"),
        (api_error(429, "Too Many Requests"), "rejected"),
        (ValueError("invalid pub"), "rejected"),
    ],
)
def test_submit_outcome(exc, outcome):
    assert F.submit_outcome(exc) == outcome


# ---- status and result queries ------------------------------------------------------------


def test_status_and_result_survive_dropped_connections(prob, tmp_path):
    svc = FakeRuntimeService(
        steps=1,
        faults={"status": [dropped(), timeout(), None], "result": [api_error(502), None]},
    )
    rec = submit(prob, tmp_path, svc)
    sleeps = Sleeps()
    s = J.fetch(rec, service=svc, wait=True, poll_interval=0, sleep=sleeps)
    assert s.record.status == "complete"
    assert sleeps.count(1.0) >= 2 and 2.0 in sleeps  # backoff on the failing queries
    assert svc.submit_calls == 3  # queries retried, submits never


def test_result_download_failing_keeps_job_for_next_fetch(prob, tmp_path):
    svc = FakeRuntimeService(steps=0, faults={"result": [dropped()] * 3})
    rec = submit(prob, tmp_path, svc)
    messages = []
    s = J.fetch(
        rec,
        service=svc,
        sleep=Sleeps(),
        echo=messages.append,
        retry_policy=F.RetryPolicy(attempts=3),
    )
    assert [p.state for p in s.record.parts] == [R.DONE, R.FETCHED, R.FETCHED]
    assert any("fetch again later" in m for m in messages)
    s2 = J.fetch(R.load_record(rec.path), service=svc, sleep=Sleeps())
    assert s2.record.status == "complete" and s2.fetched_now == [0]


def test_failed_status_query_keeps_state(prob, tmp_path):
    svc = FakeRuntimeService(faults={"status": [dropped()] * 10})
    rec = submit(prob, tmp_path, svc)
    rec = J.status(rec, service=svc, sleep=Sleeps(), retry_policy=F.RetryPolicy(attempts=2))
    assert {p.state for p in rec.parts} == {R.QUEUED}


# ---- submit faults: never duplicate silently -----------------------------------------------


def test_submit_connection_drop_is_unknown_never_resubmitted_silently(prob, tmp_path):
    svc = FakeRuntimeService(steps=0, submit_faults=[None, dropped()])
    with pytest.raises(JobError) as err:
        submit(prob, tmp_path, svc)
    msg = str(err.value)
    assert "unknown" in msg and "--resubmit-unknown" in msg and "jobs status" in msg
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))
    assert [p.state for p in rec.parts] == [R.QUEUED, R.UNKNOWN, R.PENDING]
    assert rec.parts[1].tag and "ConnectionError" in rec.parts[1].error
    assert svc.submit_calls == 2

    # status: the tag is looked up, no job exists -> still unknown, with advice
    rec = J.status(rec, service=svc, sleep=Sleeps())
    assert rec.parts[1].state == R.UNKNOWN and "no job with tag" in rec.parts[1].error

    # plain retry: only the never-sent part; the unknown one is left alone
    assert J.retry(rec, service=svc, sleep=Sleeps()) == [2]
    assert svc.submit_calls == 3
    rec = R.load_record(rec.path)
    assert rec.parts[1].state == R.UNKNOWN
    with pytest.raises(JobError, match="--resubmit-unknown"):
        J.retry(rec, service=svc, sleep=Sleeps())
    # explicit: the user checked
    assert J.retry(rec, service=svc, resubmit_unknown=True, sleep=Sleeps()) == [1]
    s = J.fetch(R.load_record(rec.path), service=svc, sleep=Sleeps())
    assert s.record.status == "complete" and svc.submit_calls == 4


def test_submit_reply_lost_after_job_created_is_recovered_by_tag(prob, tmp_path):
    svc = FakeRuntimeService(steps=0, submit_faults=[AfterCreate(timeout())])
    with pytest.raises(JobError, match="outcome is unknown"):
        submit(prob, tmp_path, svc)
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))
    assert rec.parts[0].state == R.UNKNOWN and rec.parts[0].job_id is None
    assert len(svc.created) == 1  # the job exists on the service
    rec = J.status(rec, service=svc, sleep=Sleeps())
    assert rec.parts[0].job_id == svc.created[0] and rec.parts[0].state in (R.QUEUED, R.DONE)
    assert J.retry(rec, service=svc, sleep=Sleeps()) == [1, 2]  # the unsent parts only
    s = J.fetch(R.load_record(rec.path), service=svc, sleep=Sleeps())
    assert s.record.status == "complete"
    assert len(svc.created) == 3  # three parts, three jobs: nothing ran twice


def test_rejected_submit_is_safe_to_retry(prob, tmp_path):
    svc = FakeRuntimeService(steps=0, submit_faults=[api_error(400, "invalid PUB")])
    with pytest.raises(JobError, match="refused"):
        submit(prob, tmp_path, svc)
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))
    assert [p.state for p in rec.parts] == [R.REJECTED, R.PENDING, R.PENDING]
    assert J.retry(rec, service=svc, sleep=Sleeps()) == [0, 1, 2]
    assert J.fetch(R.load_record(rec.path), service=svc).record.status == "complete"


def test_crash_between_submit_and_recording_the_id(prob, tmp_path):
    """The process dies after the service accepted the job but before the id was saved."""

    class Crash(BaseException):
        pass

    svc = FakeRuntimeService(steps=0, submit_faults=[None, AfterCreate(Crash())])
    with pytest.raises(Crash):
        submit(prob, tmp_path, svc)
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))  # what a new process sees
    assert [p.state for p in rec.parts] == [R.QUEUED, R.SUBMITTING, R.PENDING]
    assert rec.parts[0].job_id == svc.created[0]
    rec = J.status(rec, service=svc, sleep=Sleeps())
    assert rec.parts[1].job_id == svc.created[1]  # found by its tag
    assert any("after a crash" in e["message"] for e in rec.events)
    J.retry(rec, service=svc, sleep=Sleeps())
    s = J.fetch(R.load_record(rec.path), service=svc, sleep=Sleeps())
    assert s.record.status == "complete" and len(svc.created) == 3


def test_batch_cannot_open_nothing_submitted(prob, tmp_path):
    svc = FakeRuntimeService(faults={"batch": [api_error(503)]})
    with pytest.raises(JobError, match="nothing was submitted"):
        submit(prob, tmp_path, svc)
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))
    assert {p.state for p in rec.parts} == {R.PENDING} and svc.submit_calls == 0
    assert J.retry(rec, service=svc, sleep=Sleeps()) == [0, 1, 2]


def test_failed_result_marks_part_failed(prob, tmp_path):
    svc = FakeRuntimeService(steps=0, outcomes=["ERROR"])
    rec = submit(prob, tmp_path, svc)
    s = J.fetch(rec, service=svc, sleep=Sleeps())
    assert s.record.parts[0].state == R.FAILED and s.problems == [0]


def test_local_mode_job_from_another_process_is_lost_then_retried(prob, tmp_path):
    local = J.connect("fake:fake_manila")
    two = tiny_problem(n=2, seed=1)
    rec = two.submit("fake:fake_manila", tmp_path, service=local, options=J.JobOptions(shots=200))
    assert rec.status == "complete"  # local mode: stored before returning
    # pretend a later process: a part marked queued whose job is not in this process
    rec.parts[0].state = R.QUEUED
    rec.parts[0].job_id = "not-in-this-process"
    rec.parts[0].result_file = None
    rec.save()
    rec = J.status(R.load_record(rec.path), service=local)
    assert rec.parts[0].state == R.LOST
    assert J.retry(rec, service=local) == [0]
    assert R.load_record(rec.path).status == "complete"


# ---- credentials and secrets --------------------------------------------------------------


def test_missing_credentials_is_one_clear_line(monkeypatch):
    import qiskit_ibm_runtime
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    def no_account(*a, **k):
        raise AccountNotFoundError("Unable to find account.")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", no_account)
    with pytest.raises(CredentialsError) as err:
        J.connect("ibm:ibm_fez")
    msg = str(err.value)
    assert "\n" not in msg and "save_account" in msg and "QISKIT_IBM_TOKEN" in msg


def test_token_never_written_logged_or_raised(prob, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    import qiskit_ibm_runtime

    def bad_token(*a, **k):
        raise ValueError(f"Invalid token {TOKEN} for https://x/api?apikey={TOKEN}")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", bad_token)
    messages: list[str] = []
    with pytest.raises(BackendError) as err:
        J.connect("ibm:ibm_fez")
    messages.append(str(err.value))

    leak = f"401 Unauthorized for url https://api/jobs?apikey={TOKEN} (Bearer {TOKEN})"
    svc = FakeRuntimeService(
        steps=0,
        submit_faults=[None, dropped(leak)],
        faults={
            "status": [dropped(leak)] * 2,
            "result": [timeout(leak)] * 2,
            "jobs": [dropped(leak)],
        },
    )
    install_log_redaction()
    logging.getLogger("qiskit_ibm_runtime").warning("request failed: %s", leak)
    policy = F.RetryPolicy(attempts=2)
    with pytest.raises(JobError) as err:
        submit(prob, tmp_path, svc, echo=messages.append, retry_policy=policy)
    messages.append(str(err.value))
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))
    for call in (J.status, J.fetch):
        try:
            call(
                R.load_record(rec.path),
                service=svc,
                sleep=Sleeps(),
                echo=messages.append,
                retry_policy=policy,
            )
        except JobError as e:  # pragma: no cover - either way the message is checked
            messages.append(str(e))
    try:
        J.retry(
            R.load_record(rec.path),
            service=svc,
            sleep=Sleeps(),
            echo=messages.append,
            retry_policy=policy,
            resubmit_unknown=True,
        )
    except JobError as e:  # pragma: no cover
        messages.append(str(e))

    assert any("ConnectionError" in m or "unknown" in m for m in messages)
    for m in messages + [r.getMessage() for r in caplog.records]:
        assert TOKEN not in m, m
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    for p in written:
        assert TOKEN.encode() not in p.read_bytes(), p
    assert "<redacted>" in json.dumps(R.load_record(rec.path).to_json())


def test_fetch_without_service_still_writes_stored_results(prob, tmp_path, monkeypatch):
    svc = FakeRuntimeService(steps=0)
    rec = submit(prob, tmp_path, svc)
    J.fetch(rec, service=svc)
    rec = R.load_record(rec.path)
    rec.parts[2].state, rec.parts[2].result_file = R.QUEUED, None  # one job still out there
    rec.save()
    (rec.folder / "predictions.json").unlink()

    def no_service(spec):
        raise CredentialsError("no IBM Quantum account found")

    monkeypatch.setattr(gateway, "connect", no_service)
    with pytest.raises(CredentialsError):
        J.fetch(R.load_record(rec.path))
    pred = json.loads((rec.folder / "predictions.json").read_text())
    assert not pred["complete"] and pred["n_predicted"] == 4


CRASH_SCRIPT = """
import os, signal, sys
from qsdaqec.runner import jobs as J
from qsdaqec.runner.fake_runtime import tiny_problem

class CrashAfterSubmit:
    def __init__(self, inner):
        self.inner, self.is_local, self.n = inner, inner.is_local, 0
    def __getattr__(self, name):
        return getattr(self.inner, name)
    def submit(self, batch, pubs, options):
        job = self.inner.submit(batch, pubs, options)
        self.n += 1
        if self.n == 2:  # killed after the service took job 2, before its id was saved
            os.kill(os.getpid(), signal.SIGKILL)
        return job

prob = tiny_problem(n=4, seed=8)
prob.submit("fake:fake_manila", sys.argv[1],
            service=CrashAfterSubmit(J.connect("fake:fake_manila")),
            options=J.JobOptions(shots=100), limits=J.JobLimits(max_samples_per_job=2))
"""


def test_killed_process_right_after_a_submit(tmp_path):
    """A real process is killed (SIGKILL) right after a submit: the record on disk tells exactly
    what happened, and a new process recovers every sample (a fresh interpreter: ~5-15 s)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    rec = R.load_record(next((tmp_path / "jobs").glob("*.json")))  # valid JSON: writes are atomic
    assert [p.state for p in rec.parts] == [R.QUEUED, R.SUBMITTING]
    assert rec.parts[0].job_id and rec.parts[1].job_id is None and rec.parts[1].tag
    assert rec.params_path.is_file() and rec.isa_path.is_file()

    # a new process: local jobs died with their process -> lost, never silently resubmitted
    local = J.connect("fake:fake_manila")
    rec = J.status(rec, service=local)
    assert [p.state for p in rec.parts] == [R.LOST, R.LOST]
    assert any("after a crash" in e["message"] for e in rec.events)
    assert J.retry(rec, service=local) == [0, 1]
    assert R.load_record(rec.path).status == "complete"
    done = J.fetch(R.load_record(rec.path), service=local)  # every sample has its result
    assert done.predictions is not None and not done.problems and done.waiting == []
