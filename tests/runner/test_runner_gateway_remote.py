"""The remote branch of ``QiskitRuntimeGateway`` against qiskit-ibm-runtime's own classes.

Everything above HTTP is real: ``QiskitRuntimeService`` (built by the product's
``jobs.connect``), ``IBMBackend``, ``Batch``, ``EstimatorV2``, ``RuntimeJobV2``, the REST
adapters, ``RetrySession`` with its error mapping, IBM Cloud IAM token handling and the
runtime's JSON encoder/decoder. Only the transport is replaced: ``HTTPAdapter.send`` (the call
below every ``requests.Session``) is answered by :class:`IBMCloudAPI`, a small in-memory
emulator of the endpoints qiskit-ibm-runtime 0.51 calls. A request it does not know raises
:class:`UnexpectedRequest`, so nothing can reach the network.
"""

from __future__ import annotations

import base64
import http
import itertools
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests
from qiskit.primitives import StatevectorEstimator
from qiskit_ibm_runtime import QiskitRuntimeService, RuntimeDecoder, RuntimeEncoder
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from qsdaqec.errors import JobError
from qsdaqec.runner import jobs as J
from qsdaqec.runner import records as R
from qsdaqec.runner.fake_runtime import tiny_problem

DEVICE = "ibm_manila"
BACKEND = f"ibm:{DEVICE}"
# Obviously fake credentials: the emulator checks that exactly these travel through IAM.
API_KEY = "qsdaqecFAKEapikey_0000000000000000000000000000"
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/0000fakeaccount:0000-fake-instance::"
PLAN_ID = "fake-plan-open"

IAM = "https://iam.cloud.ibm.com"
SEARCH = "https://api.global-search-tagging.cloud.ibm.com"
CATALOG = "https://globalcatalog.cloud.ibm.com/api/v1"
QUANTUM = "https://quantum.cloud.ibm.com/api/v1"


class UnexpectedRequest(BaseException):
    """A request the emulator does not serve. A BaseException: qiskit-ibm-runtime and the jobs
    layer catch ``Exception`` in places (IAM fallback, retries), and this must not be absorbed."""


class Crash(BaseException):
    """The submitting process dies (like SIGKILL: nothing after it runs to completion)."""


def _jwt(claims: dict[str, Any]) -> str:
    # ibm-cloud-sdk-core reads exp/iat from the token without checking the signature
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = json.dumps({"alg": "RS256", "typ": "JWT"}).encode()
    return f"{part(header)}.{part(json.dumps(claims).encode())}.{part(b'not-signed')}"


class IBMCloudAPI:
    """In-memory IBM Cloud (IAM, Global Search, Global Catalog) and IBM Quantum Platform API.

    Server-side state (jobs, sessions) lives here, so a "new process" (a new
    ``QiskitRuntimeService``) sees the jobs an earlier one created. Jobs stay ``Queued`` until
    :meth:`run_jobs`; their results are computed exactly (``StatevectorEstimator``) from the
    PUBs decoded out of the POST body, and sent back encoded with ``RuntimeEncoder``.
    """

    def __init__(self) -> None:
        now = int(time.time())
        self.token = _jwt({"iat": now, "exp": now + 3600, "sub": "qsdaqec-test"})
        base = FakeManilaV2()  # the device's data: manila's own server-format JSON files
        folder = Path(base.dirname)
        self.configuration = json.loads((folder / base.conf_filename).read_text())
        self.configuration["backend_name"] = DEVICE
        self.properties = json.loads((folder / base.props_filename).read_text())
        self.jobs: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, dict[str, list[str]]]] = []  # (method, url, query)
        self.submitted: list[dict[str, Any]] = []  # POST /jobs bodies, as sent
        self.fail_submit: tuple[int, str] | None = None  # (status, message) for POST /jobs
        self.drop_reply_after_create = False  # POST /jobs: job created, then connection lost
        self.unexpected: list[str] = []  # checked after each test, in case one was absorbed
        self._ids = itertools.count(1)

    # -- transport
    def send(self, request: requests.PreparedRequest) -> requests.Response:
        parts = urlsplit(request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        path = parts.path
        query = parse_qs(parts.query)
        method = request.method.upper()
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.log.append((method, f"{origin}{path}", query))
        if origin == IAM and method == "POST" and path == "/identity/token":
            return self._iam(request, parse_qs(body or ""))
        if origin == SEARCH and method == "POST" and path == "/v3/resources/search":
            return self._cloud_authorized(request) or self._search(request)
        if f"{origin}{path}" == f"{CATALOG}/{PLAN_ID}" and method == "GET":
            return self._cloud_authorized(request) or _json(request, 200, self._plan())
        if f"{origin}{path}".startswith(QUANTUM + "/"):
            denied = self._quantum_authorized(request)
            if denied is not None:
                return denied
            route = f"{origin}{path}"[len(QUANTUM) :]
            return self._quantum(request, method, route, query, body)
        return self._unexpected(method, request.url)

    def _unexpected(self, method: str, url: str):
        self.unexpected.append(f"{method} {url}")
        raise UnexpectedRequest(f"{method} {url}")

    # -- IBM Cloud
    def _iam(self, request, form: dict[str, list[str]]) -> requests.Response:
        if form.get("apikey") != [API_KEY] or form.get("grant_type") != [
            "urn:ibm:params:oauth:grant-type:apikey"
        ]:
            return _json(request, 400, {"errorCode": "BXNIM0415E", "errorMessage": "bad key"})
        now = int(time.time())
        return _json(
            request,
            200,
            {
                "access_token": self.token,
                "refresh_token": "not-used",
                "token_type": "Bearer",
                "expires_in": 3600,
                "expiration": now + 3600,
            },
        )

    def _cloud_authorized(self, request) -> requests.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(request, 401, {"errors": [{"code": "unauthorized"}]})
        return None

    def _search(self, request) -> requests.Response:
        item = {
            "crn": CRN,
            "service_plan_unique_id": PLAN_ID,
            "name": "qsdaqec-test-instance",
            "doc": {"extensions": {"quantum_computing": {"allocation": "open"}}},
            "tags": [],
        }
        return _json(request, 200, {"items": [item], "limit": 100})

    @staticmethod
    def _plan() -> dict[str, Any]:
        return {
            "overview_ui": {"en": {"display_name": "Open"}},
            "metadata": {"pricing": {"type": "free"}},
        }

    # -- IBM Quantum Platform
    def _quantum_authorized(self, request) -> requests.Response | None:
        auth_ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        if not auth_ok or request.headers.get("Service-CRN") != CRN:
            return _json(request, 401, {"errors": [{"code": 1001, "message": "unauthorized"}]})
        return None

    def _quantum(self, request, method, route, query, body) -> requests.Response:
        backend = f"/backends/{DEVICE}"
        if (method, route) == ("GET", "/backends"):
            device = {
                "name": DEVICE,
                "status": {"name": "online", "reason": ""},
                "qubits": self.configuration["n_qubits"],
                "queue_length": 0,
            }
            return _json(request, 200, {"devices": [device]})
        if (method, route) == ("GET", f"{backend}/configuration"):
            return _json(request, 200, self.configuration)
        if (method, route) == ("GET", f"{backend}/properties"):
            return _json(request, 200, self.properties)
        if (method, route) == ("GET", f"{backend}/status"):
            status = {"state": True, "status": "active", "length_queue": 0}
            return _json(request, 200, {**status, "backend_version": "1.0.0"})
        if (method, route) == ("GET", "/instances/usage"):
            return _json(request, 200, {"instance_id": CRN, "usage_limit_reached": False})
        if (method, route) == ("POST", "/sessions"):
            session_id = f"session{next(self._ids):04d}"
            self.sessions[session_id] = {**json.loads(body), "accepting_jobs": True}
            return _json(request, 200, {"id": session_id, **self.sessions[session_id]})
        if method == "PATCH" and route.startswith("/sessions/"):
            self.sessions[route.rsplit("/", 1)[1]].update(json.loads(body))
            return _json(request, 204, None)
        if (method, route) == ("POST", "/jobs"):
            return self._create_job(request, json.loads(body))
        if (method, route) == ("GET", "/jobs"):
            return self._list_jobs(request, query)
        if route.startswith("/jobs/"):
            job_id, _, action = route[len("/jobs/") :].partition("/")
            job = self.jobs.get(job_id)
            if job is None:
                error = {"code": 1291, "message": f"Job not found. Job ID: {job_id}"}
                return _json(request, 404, {"errors": [error], "status_code": 404})
            if (method, action) == ("GET", ""):
                return _json(request, 200, self._job_json(job))
            if (method, action) == ("GET", "results"):
                return _text(request, 200, self._result(job))
            if (method, action) == ("POST", "cancel"):
                if job["status"] != "Queued" and job["status"] != "Running":
                    return _json(request, 409, {"errors": [{"message": "job is final"}]})
                job["status"] = "Cancelled"
                return _json(request, 204, None)
        return self._unexpected(method, f"{QUANTUM}{route}")

    def _create_job(self, request, payload: dict[str, Any]) -> requests.Response:
        self.submitted.append(payload)
        if self.fail_submit is not None:
            status, message = self.fail_submit
            error = {"code": 1517, "message": message}
            return _json(request, status, {"errors": [error], "status_code": status})
        # the server decodes the params the way the client encoded them: RuntimeDecoder
        params = json.loads(json.dumps(payload["params"]), cls=RuntimeDecoder)
        job_id = f"d0fake{next(self._ids):014d}"
        self.jobs[job_id] = {
            "id": job_id,
            "backend": payload["backend"],
            "session_id": payload.get("session_id"),
            "tags": list(payload.get("tags", [])),
            "program": {"id": payload["program_id"]},
            "created": datetime.now(timezone.utc).isoformat(),
            "status": "Queued",
            "pubs": [tuple(pub) for pub in params["pubs"]],
            "result": None,
        }
        if self.drop_reply_after_create:
            self.drop_reply_after_create = False
            raise requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected")
        return _json(request, 200, {"id": job_id, "backend": payload["backend"]})

    def _list_jobs(self, request, query: dict[str, list[str]]) -> requests.Response:
        wanted = set(query.get("tags", []))
        found = [j for j in self.jobs.values() if wanted <= set(j["tags"])]
        found.sort(key=lambda j: j["created"], reverse=query.get("sort") != ["ASC"])
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["20"])[0])
        page = [self._job_json(j) for j in found[offset : offset + limit]]
        return _json(request, 200, {"jobs": page, "count": len(found), "offset": offset})

    @staticmethod
    def _job_json(job: dict[str, Any]) -> dict[str, Any]:
        public = {k: v for k, v in job.items() if k not in ("pubs", "result")}
        return {**public, "state": {"status": job["status"]}, "runtime": "", "private": False}

    def _result(self, job: dict[str, Any]) -> str:
        if job["result"] is None:
            result = StatevectorEstimator().run(job["pubs"]).result()
            job["result"] = json.dumps(result, cls=RuntimeEncoder)
        return job["result"]

    # -- what the device does meanwhile
    def run_jobs(self) -> None:
        for job in self.jobs.values():
            if job["status"] in ("Queued", "Running"):
                job["status"] = "Completed"

    def calls(self, method: str, route: str) -> list[dict[str, list[str]]]:
        """The query of every ``method`` request to ``route`` of the Quantum API, in order."""
        return [q for m, url, q in self.log if m == method and url == f"{QUANTUM}{route}"]


def _response(request, status: int, content: bytes, content_type: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = http.HTTPStatus(status).phrase
    response.headers = CaseInsensitiveDict({"Content-Type": content_type})
    response._content = content
    response.encoding = "utf-8"
    response.url, response.request = request.url, request
    return response


def _json(request, status: int, payload: Any) -> requests.Response:
    content = b"" if payload is None else json.dumps(payload).encode()
    return _response(request, status, content, "application/json")


def _text(request, status: int, text: str) -> requests.Response:
    return _response(request, status, text.encode(), "text/plain")


@pytest.fixture
def api(monkeypatch):
    """The emulated IBM Cloud, wired in below ``requests`` for the duration of a test."""
    emulator = IBMCloudAPI()

    def send(adapter, request, **kwargs):  # stream, timeout, verify...: nothing to do here
        return emulator.send(request)

    monkeypatch.setattr(HTTPAdapter, "send", send)
    # credentials the way a user provides them: environment variables read by the runtime
    monkeypatch.setenv("QISKIT_IBM_TOKEN", API_KEY)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", CRN)
    # qiskit-ibm-runtime walks the whole call stack (inspect.stack) on every request to name
    # the caller in a usage header; under pytest that is most of the test time. Its documented
    # opt-out only drops that header.
    monkeypatch.setenv("USAGE_DATA_OPT_OUT", "True")
    for name in (
        "QISKIT_IBM_URL",
        "QISKIT_IBM_CHANNEL",
        "IAM_URL",
        "QISKIT_FUNCTIONS_EXPERIMENTAL",
    ):
        monkeypatch.delenv(name, raising=False)
    yield emulator
    assert not emulator.unexpected, emulator.unexpected


@pytest.fixture(scope="module")
def prob():
    return tiny_problem(n=5, seed=3)


def submit(prob, tmp_path, service, **kw):
    kw.setdefault("limits", J.JobLimits(max_samples_per_job=2))  # parts 0-1, 2-3, 4
    return prob.submit(BACKEND, tmp_path, service=service, sleep=lambda s: None, **kw)


def the_record(tmp_path) -> R.JobRecord:
    """The record as a new process would read it from disk."""
    return R.load_record(next((tmp_path / "jobs").glob("*.json")))


# ---- tests --------------------------------------------------------------------------------


def test_the_emulator_refuses_unknown_requests(api):
    with pytest.raises(UnexpectedRequest):
        requests.get("https://example.com/anything", timeout=1)
    auth = {"Authorization": f"Bearer {api.token}", "Service-CRN": CRN}
    with pytest.raises(UnexpectedRequest):
        requests.get(f"{QUANTUM}/workloads", timeout=1, headers=auth)
    assert len(api.unexpected) == 2
    api.unexpected.clear()  # refused on purpose here; any other test fails at teardown


def test_connect_builds_the_real_service(api):
    gw = J.connect(BACKEND)
    assert isinstance(gw, J.QiskitRuntimeGateway) and not gw.is_local
    assert isinstance(gw.service, QiskitRuntimeService)
    assert gw.service.active_instance() == CRN
    backend = gw.backend(DEVICE)
    assert backend.name == DEVICE and backend.num_qubits == 5


def exact_evs_of(rec: R.JobRecord) -> np.ndarray:
    return np.concatenate([R.load_result(rec, p)[0] for p in rec.parts])


def test_submit_sends_tags_in_one_batch_and_fetch_decodes_the_results(api, prob, tmp_path):
    rec = submit(prob, tmp_path, J.connect(BACKEND))
    assert [p.state for p in rec.parts] == [R.QUEUED] * 3
    assert [p.job_id for p in rec.parts] == list(api.jobs)  # the ids the service gave
    # every POST /jobs carries the part's own tag: what recovery after a crash looks for
    assert [body["tags"] for body in api.submitted] == [["qsdaqec", p.tag] for p in rec.parts]
    assert {body["program_id"] for body in api.submitted} == {"estimator"}
    assert {body["backend"] for body in api.submitted} == {DEVICE}
    # all parts in one batch, closed once everything was sent
    ((session_id, session),) = api.sessions.items()
    assert {body["session_id"] for body in api.submitted} == {session_id}
    assert session["mode"] == "batch" and session["accepting_jobs"] is False

    # later, another process (service=None: it connects from the credentials itself)
    rec = J.status(the_record(tmp_path))
    assert [p.state for p in rec.parts] == [R.QUEUED] * 3
    api.run_jobs()
    summary = J.fetch(the_record(tmp_path))
    assert summary.record.status == "complete" and summary.fetched_now == [0, 1, 2]
    # the results went through RuntimeEncoder on the server and RuntimeDecoder here
    np.testing.assert_allclose(exact_evs_of(summary.record), prob.exact_evs, atol=1e-9)
    assert summary.predictions is not None and not summary.problems

    downloads = sum(len(api.calls("GET", f"/jobs/{p.job_id}/results")) for p in rec.parts)
    assert downloads == 3
    J.fetch(the_record(tmp_path))
    again = sum(len(api.calls("GET", f"/jobs/{p.job_id}/results")) for p in rec.parts)
    assert again == downloads  # stored results are never downloaded twice


def test_job_by_id_follows_the_service_and_a_404_is_not_found(api, prob, tmp_path):
    rec = submit(prob, tmp_path, J.connect(BACKEND))
    gw = J.connect(BACKEND)
    first = rec.parts[0].job_id
    job = gw.job(first)
    assert type(job).__name__ == "RuntimeJobV2" and job.job_id() == first
    assert J.normalize_status(job.status()) == R.QUEUED
    api.jobs[first]["status"] = "Running"
    assert J.normalize_status(gw.job(first).status()) == R.RUNNING
    api.jobs[first]["status"] = "Completed"
    assert J.normalize_status(gw.job(first).status()) == R.DONE

    with pytest.raises(J.JobNotFoundError, match="not found on the service"):
        gw.job("d0fakeNOSUCHJOB")
    assert len(api.calls("GET", "/jobs/d0fakeNOSUCHJOB")) == 1  # a 404 is final, not retried

    # a job the service no longer knows (e.g. deleted in the dashboard) keeps its state and
    # is reported; only local-mode jobs become "lost"
    gone = rec.parts[1].job_id
    del api.jobs[gone]
    messages: list[str] = []
    rec = J.status(the_record(tmp_path), echo=messages.append)
    assert [p.state for p in rec.parts] == [R.DONE, R.QUEUED, R.QUEUED]
    assert any(gone in m and "not found" in m for m in messages)


def test_jobs_by_tag_asks_the_service_for_that_tag_only(api, prob, tmp_path):
    rec = submit(prob, tmp_path, J.connect(BACKEND))
    gw = J.connect(BACKEND)
    for part in rec.parts:
        found = gw.jobs_by_tag(part.tag)
        assert [j.job_id() for j in found] == [part.job_id]
        assert type(found[0]).__name__ == "RuntimeJobV2"
    assert gw.jobs_by_tag(f"qsdaqec-{rec.record_id}-p0-a2") == []  # no such attempt
    queries = api.calls("GET", "/jobs")
    assert [q["tags"] for q in queries] == [[p.tag] for p in rec.parts] + [
        [f"qsdaqec-{rec.record_id}-p0-a2"]
    ]
    assert {q["limit"][0] for q in queries} == {"10"}


def test_crash_after_the_submit_before_the_record_update_is_recovered_by_tag(
    api, prob, tmp_path, monkeypatch
):
    """The service accepted part 1 (HTTP 200 with its id), then the process died while
    recording that id. A new process finds the job by its tag; nothing runs twice."""
    save = R.JobRecord.save

    def save_until_the_crash(record):
        if len(api.jobs) >= 2:  # job 2 exists on the service: the process dies now
            raise Crash()
        return save(record)

    with monkeypatch.context() as m:
        m.setattr(R.JobRecord, "save", save_until_the_crash)
        with pytest.raises(Crash):
            submit(prob, tmp_path, J.connect(BACKEND))
    disk = the_record(tmp_path)
    assert [p.state for p in disk.parts] == [R.QUEUED, R.SUBMITTING, R.PENDING]
    assert disk.parts[1].job_id is None and disk.parts[1].tag
    created = list(api.jobs)
    assert len(created) == 2  # the service holds the job whose id was never recorded

    rec = J.status(disk)  # a new process, a new QiskitRuntimeService
    assert rec.parts[1].job_id == created[1] and rec.parts[1].state == R.QUEUED
    assert any("after a crash" in e["message"] for e in rec.events)
    assert any(f"by its tag {disk.parts[1].tag}" in e["message"] for e in rec.events)
    assert api.calls("GET", "/jobs")[0]["tags"] == [disk.parts[1].tag]

    assert J.retry(R.load_record(rec.path)) == [2]  # only the part never sent
    api.run_jobs()
    summary = J.fetch(R.load_record(rec.path))
    assert summary.record.status == "complete"
    assert len(api.jobs) == len(api.submitted) == 3  # three parts, three jobs
    np.testing.assert_allclose(exact_evs_of(summary.record), prob.exact_evs, atol=1e-9)


def test_reply_lost_after_the_job_was_created_is_unknown_then_found_by_tag(api, prob, tmp_path):
    api.drop_reply_after_create = True
    with pytest.raises(JobError, match="outcome is unknown"):
        submit(prob, tmp_path, J.connect(BACKEND))
    disk = the_record(tmp_path)
    assert [p.state for p in disk.parts] == [R.UNKNOWN, R.PENDING, R.PENDING]
    (created,) = api.jobs
    rec = J.status(disk)
    assert rec.parts[0].job_id == created and rec.parts[0].state == R.QUEUED
    assert J.retry(R.load_record(rec.path)) == [1, 2]
    assert len(api.jobs) == 3


@pytest.mark.parametrize(
    "status, outcome",
    # qiskit-ibm-runtime re-raises these as IBMRuntimeError / RuntimeProgramNotFound /
    # IBMNotAuthorizedError without the status code; the gateway restores it
    [(400, R.REJECTED), (401, R.REJECTED), (404, R.REJECTED), (500, R.UNKNOWN)],
)
def test_an_error_answer_to_a_submit_is_classified_by_its_http_status(
    api, prob, tmp_path, status, outcome
):
    api.fail_submit = (status, "refused by the emulator")
    with pytest.raises(JobError):
        submit(prob, tmp_path, J.connect(BACKEND))
    part = the_record(tmp_path).parts[0]
    assert part.state == outcome and str(status) in part.error and not api.jobs


def test_refused_submit_is_rejected_and_safe_to_retry(api, prob, tmp_path):
    api.fail_submit = (400, "Invalid PUB: circuit is not ISA")
    with pytest.raises(JobError, match="refused by the service"):
        submit(prob, tmp_path, J.connect(BACKEND))
    disk = the_record(tmp_path)
    assert [p.state for p in disk.parts] == [R.REJECTED, R.PENDING, R.PENDING]
    assert "400" in disk.parts[0].error and not api.jobs
    api.fail_submit = None
    assert J.retry(disk) == [0, 1, 2]
    assert len(api.jobs) == 3


def test_cancel_reaches_the_service_for_live_jobs_only(api, prob, tmp_path):
    rec = submit(prob, tmp_path, J.connect(BACKEND))
    first = rec.parts[0].job_id
    api.jobs[first]["status"] = "Completed"  # finished before the user cancelled
    assert J.cancel(the_record(tmp_path)) == [1, 2]
    assert [j["status"] for j in api.jobs.values()] == ["Completed", "Cancelled", "Cancelled"]
    assert not api.calls("POST", f"/jobs/{first}/cancel")
    assert [p.state for p in the_record(tmp_path).parts] == [R.DONE, R.CANCELLED, R.CANCELLED]
