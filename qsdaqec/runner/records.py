"""Job records: what was sent to IBM Runtime, kept on disk so that nothing is ever lost.

A record lives under the run directory::

    RUN/jobs/<record-id>.json          the record (JSON, written atomically after every change)
    RUN/jobs/<record-id>.lock          held while a command changes the record (a file lock)
    RUN/jobs/<record-id>/params.npy    the parameter array sent (N samples x circuit parameters)
    RUN/jobs/<record-id>/isa.qpy       the transpiled (ISA) circuit, so a retry sends the same one
    RUN/jobs/<record-id>/results/      one .npz per finished job, written as soon as it is fetched
    RUN/jobs/<record-id>/predictions.csv|.json, metrics.json   written by ``jobs fetch``

The samples are cut into contiguous *parts* ``[start, stop)``; each part is sent as one job
(one or more PUBs). A part moves through these states::

    pending ──> submitting ──> queued / running ──> done ──> fetched
                    │                  │
                    │                  └──> failed | cancelled     (retry resubmits the part)
                    ├──> rejected   the service refused the submit: no job exists (retry is safe)
                    └──> unknown    the submit's outcome is unknown: a job may exist
                                    (never resubmitted silently; see ``jobs status`` / ``retry``)
    lost           a local-testing-mode job whose process ended before its result was stored

``submitting`` is written *before* each submit and replaced by the job id right after it. A
record found in ``submitting`` by a later command (the process died in between) is reported as
``unknown``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import secrets
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from ..errors import JobError, RunError
from ..io import atomic_write, atomic_write_bytes, atomic_write_json, read_json
from ..redaction import redact

SCHEMA = "qsdaqec.jobs/1"
JOBS_DIRNAME = "jobs"

PENDING = "pending"
SUBMITTING = "submitting"
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FETCHED = "fetched"
FAILED = "failed"
CANCELLED = "cancelled"
REJECTED = "rejected"
UNKNOWN = "unknown"
LOST = "lost"

STATES = (
    PENDING,
    SUBMITTING,
    QUEUED,
    RUNNING,
    DONE,
    FETCHED,
    FAILED,
    CANCELLED,
    REJECTED,
    UNKNOWN,
    LOST,
)
ACTIVE = frozenset({QUEUED, RUNNING, DONE})  # a job exists and its result may still come
RESUBMITTABLE = frozenset({PENDING, FAILED, CANCELLED, REJECTED, LOST})  # safe: no live job
FINAL = frozenset({FETCHED, FAILED, CANCELLED, REJECTED, LOST})


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass
class Part:
    """One contiguous slice of the samples, sent as one job."""

    index: int
    start: int
    stop: int
    pubs: list[list[int]]  # [[start, stop], ...] sample ranges of the PUBs of this job
    state: str = PENDING
    job_id: str | None = None
    tag: str | None = None  # job tag on the service: finds the job if its id was never recorded
    attempt: int = 0
    submitted_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    result_file: str | None = None  # relative to the record's folder
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        return self.stop - self.start

    def set_error(self, message: str | None) -> None:
        self.error = None if message is None else redact(message)

    def archive(self) -> None:
        """Move the current attempt into ``history`` and reset to ``pending`` (for a retry)."""
        self.history.append(
            {
                "attempt": self.attempt,
                "state": self.state,
                "job_id": self.job_id,
                "tag": self.tag,
                "submitted_at": self.submitted_at,
                "finished_at": self.finished_at,
                "error": self.error,
            }
        )
        self.state = PENDING
        self.job_id = None
        self.tag = None
        self.submitted_at = None
        self.finished_at = None
        self.error = None
        self.result_file = None
        self.updated_at = now_iso()


@dataclasses.dataclass
class JobRecord:
    """Everything needed to track, fetch, cancel and retry one inference submission."""

    record_id: str
    backend: str  # "ibm:<name>" or "fake:<name>"
    local_mode: bool
    created: str
    circuit: dict[str, Any]  # hash, isa_hash, parameters (column order), observables, layout...
    options: dict[str, Any]  # shots, mitigation, optimization_level, estimator options sent
    limits: dict[str, Any]
    samples: dict[str, Any]  # count, ids, labels (or None), classes, positive
    output_layer: dict[str, Any] | None  # {"weight": 2x4, "bias": 2}: probabilities at fetch
    source: dict[str, Any]  # where the samples came from (run, data, split)
    parts: list[Part]
    updated: str | None = None
    cost: dict[str, Any] | None = None  # the estimate made before submitting (jobs/cost.py)
    events: list[dict[str, str]] = dataclasses.field(default_factory=list)
    schema: str = SCHEMA
    path: Path | None = dataclasses.field(default=None, compare=False, repr=False)

    # ---- paths ----------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        if self.path is None:
            raise JobError(f"record {self.record_id}: not saved yet")
        return self.path.with_suffix("")

    @property
    def params_path(self) -> Path:
        return self.folder / "params.npy"

    @property
    def isa_path(self) -> Path:
        return self.folder / "isa.qpy"

    # ---- state ----------------------------------------------------------------------------
    def log(self, message: str) -> None:
        self.events.append({"time": now_iso(), "message": redact(message)})

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.parts:
            out[p.state] = out.get(p.state, 0) + 1
        return out

    @property
    def status(self) -> str:
        """One word for the whole record, in the order the user must act on it.

        ``unknown`` (a submit's outcome is unknown: check before resubmitting), ``submitting``
        (a submit in progress, or interrupted: ``jobs status`` tells which), ``complete``
        (every result stored), ``running``/``queued``/``done`` (jobs on the service; ``done``:
        results waiting for ``jobs fetch``), ``partial`` (some results stored, the rest failed,
        was cancelled, rejected, lost or never sent: ``jobs retry``), or the one state all
        parts share (``failed``, ``cancelled``, ``rejected``, ``lost``, ``pending``).
        """
        states = {p.state for p in self.parts}
        if UNKNOWN in states:
            return UNKNOWN
        if SUBMITTING in states:  # being submitted now, or interrupted (status tells which)
            return SUBMITTING
        if states == {FETCHED}:
            return "complete"
        for word in (RUNNING, QUEUED, DONE):
            if word in states:
                return word
        if FETCHED in states:
            return "partial"
        for word in (FAILED, CANCELLED, REJECTED, LOST, PENDING):
            if word in states:
                return word
        return PENDING

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("path", None)
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> JobRecord:
        if data.get("schema") != SCHEMA:
            raise RunError(
                f"{path}: not a qsdaqec job record (schema {data.get('schema')!r}, "
                f"expected {SCHEMA!r})"
            )
        fields = {f.name for f in dataclasses.fields(cls)} - {"path"}
        kw = {k: v for k, v in data.items() if k in fields}
        part_fields = {f.name for f in dataclasses.fields(Part)}
        kw["parts"] = [
            Part(**{k: v for k, v in p.items() if k in part_fields}) for p in data["parts"]
        ]
        return cls(**kw, path=path)

    def save(self) -> Path:
        if self.path is None:
            raise JobError(f"record {self.record_id}: no path to save to")
        self.updated = now_iso()
        atomic_write_json(self.path, self.to_json())
        return self.path


# ---- creation, lookup ---------------------------------------------------------------------


def jobs_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / JOBS_DIRNAME


def new_record_id(backend: str) -> str:
    """Sortable and unique: ``20261125T101500Z-ibm_fez-0421873f2a1c``.

    The suffix starts with the microseconds, so two submits to one backend within the same
    second still list in the order they were made."""
    now = datetime.now(timezone.utc)
    name = backend.split(":", 1)[-1].replace("/", "_") or "backend"
    return f"{now:%Y%m%dT%H%M%SZ}-{name}-{now.microsecond:06d}{secrets.token_hex(3)}"


def record_path(run_dir: str | os.PathLike, record_id: str) -> Path:
    return jobs_dir(run_dir) / f"{record_id}.json"


def load_record(path: str | os.PathLike) -> JobRecord:
    """Load a record from its ``.json`` path (or its folder)."""
    path = Path(path)
    if path.is_dir() and path.with_suffix(".json").is_file():
        path = path.with_suffix(".json")
    if not path.is_file():
        raise JobError(
            f"{path}: no such job record; list the records with `qsdaqec jobs list --run RUN`"
        )
    return JobRecord.from_json(read_json(path), path=path)


@dataclasses.dataclass(frozen=True)
class DamagedRecord:
    """A record file that cannot be read. It may name jobs that ran (and were paid for), so it
    is listed, never skipped, and a new submit on its run needs ``--yes``."""

    path: Path
    reason: str

    @property
    def record_id(self) -> str:
        return self.path.stem

    def line(self) -> str:
        """What ``jobs list``/``status``/``fetch`` print for it."""
        return (
            f"{self.path}  DAMAGED ({self.reason}); it may name jobs that ran: restore it from a "
            f"backup, or look for job tags qsdaqec-{self.record_id}-* in the IBM Quantum dashboard"
        )


def scan_records(run_dir: str | os.PathLike) -> tuple[list[JobRecord], list[DamagedRecord]]:
    """Every record of a run, oldest first, and the record files that cannot be read."""
    folder = jobs_dir(run_dir)
    if not folder.is_dir():
        return [], []
    good, damaged = [], []
    for p in sorted(folder.glob("*.json")):
        try:
            good.append(load_record(p))
        except (RunError, JobError) as e:
            damaged.append(DamagedRecord(p, _reason(e, p)))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            damaged.append(DamagedRecord(p, f"incomplete or malformed ({type(e).__name__}: {e})"))
    return good, damaged


def _reason(e: Exception, path: Path) -> str:
    return redact(str(e).removeprefix(f"{path}: "))


def list_records(run_dir: str | os.PathLike) -> list[JobRecord]:
    """Every readable record of a run, oldest first (:func:`scan_records` also names the
    damaged ones, which every command that chooses records must show)."""
    return scan_records(run_dir)[0]


def damaged_records(run_dir: str | os.PathLike) -> list[DamagedRecord]:
    return scan_records(run_dir)[1]


def check_damaged(run_dir: str | os.PathLike, yes: bool = False) -> None:
    """Refuse (``JobError``) a new submit on a run with damaged records unless ``yes``: they
    may name jobs that ran, and submitting the same samples again pays for them twice."""
    damaged = damaged_records(run_dir)
    if damaged and not yes:
        first = damaged[0]
        more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
        raise JobError(
            f"{first.path}{more}: damaged job record ({first.reason}); it may name jobs that "
            f"already ran. Check `qsdaqec jobs list --run {run_dir}` and the IBM Quantum "
            "dashboard, then submit again with --yes"
        )


def find_record(ref: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> JobRecord:
    """A record by path, by id inside ``run_dir``, or by a unique id prefix."""
    p = Path(ref)
    if p.suffix == ".json" or p.exists():
        return load_record(p)
    if run_dir is None:
        raise JobError(
            f"{ref}: not a record file; pass the path RUN/jobs/<id>.json, or --run RUN with an id"
        )
    exact = record_path(run_dir, str(ref))
    if exact.is_file():
        return load_record(exact)
    matches = sorted(jobs_dir(run_dir).glob(f"{ref}*.json"))
    if len(matches) == 1:
        return load_record(matches[0])
    if not matches:
        raise JobError(f"{ref}: no job record with that id in {jobs_dir(run_dir)}")
    raise JobError(f"{ref}: ambiguous; matches {', '.join(m.stem for m in matches)}")


# ---- locking ------------------------------------------------------------------------------
# filelock's FileLock: flock on POSIX, msvcrt on Windows; the OS drops a lock whose holder died,
# so a crash never leaves a record locked.


def _lock_of(record: JobRecord | Path) -> tuple[Path, FileLock]:
    path = record.path if isinstance(record, JobRecord) else Path(record)
    assert path is not None
    return path, FileLock(path.with_suffix(".lock"))


@contextlib.contextmanager
def _hold(lock: FileLock, busy: str) -> Iterator[None]:
    """Hold ``lock`` without waiting; ``JobError(busy)`` while another holds it."""
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise JobError(busy) from None
    try:
        yield
    finally:
        lock.release()


def _held_elsewhere(lock: FileLock) -> bool:
    """True while another holder has ``lock`` (probed by taking it without waiting)."""
    if not Path(lock.lock_file).exists():
        return False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def locked(record: JobRecord | Path) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on a record while changing it (one submitter/fetcher at a time).

    A second process gets a clear error instead of racing (two retries at once would submit
    the same part twice).
    """
    path, lock = _lock_of(record)
    busy = f"{path}: another qsdaqec command is working on this record; wait for it to end"
    return _hold(lock, busy)


SUBMIT_LOCK = ".submit.lock"


def _submit_lock(run_dir: str | os.PathLike) -> FileLock:
    return FileLock(jobs_dir(run_dir) / SUBMIT_LOCK)


def submit_lock(run_dir: str | os.PathLike) -> contextlib.AbstractContextManager[None]:
    """Held while a new submission of the run is written and sent: a second ``jobs submit`` on
    the same run refuses (``JobError``) instead of sending the samples twice."""
    return _hold(_submit_lock(run_dir), _busy_submit(run_dir))


def check_no_submit(run_dir: str | os.PathLike) -> None:
    """Refuse early (before features are computed) while another submit on the run is on."""
    if _held_elsewhere(_submit_lock(run_dir)):
        raise JobError(_busy_submit(run_dir))


def _busy_submit(run_dir: str | os.PathLike) -> str:
    return (
        f"{run_dir}: another `qsdaqec jobs submit` on this run is in progress; wait for it to "
        f"end, check what it sent with `qsdaqec jobs list --run {run_dir}`, then submit again "
        "only if needed"
    )


def is_locked(record: JobRecord) -> bool:
    """True while another process holds the record's lock (e.g. is submitting right now)."""
    return _held_elsewhere(_lock_of(record)[1])


# ---- arrays and results -------------------------------------------------------------------


def save_array(path: Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise JobError(f"{path}: missing; the record's folder is incomplete") from None


def result_filename(part: Part) -> str:
    job = "".join(c if c.isalnum() or c in "-_" else "_" for c in (part.job_id or "nojob"))
    return f"results/part{part.index:04d}-{job}.npz"


def store_result(
    record: JobRecord, part: Part, evs: np.ndarray, stds: np.ndarray, meta: dict[str, Any]
) -> Path:
    """Write one job's expectation values atomically, then mark the part ``fetched``."""
    evs = np.asarray(evs, dtype=np.float64)
    stds = np.asarray(stds, dtype=np.float64)
    if evs.shape[0] != part.size:
        raise JobError(
            f"job {part.job_id}: result has {evs.shape[0]} samples, part {part.index} has "
            f"{part.size}; the result does not belong to this record"
        )
    rel = result_filename(part)
    buf = io.BytesIO()
    np.savez(
        buf,
        evs=evs,
        stds=stds,
        start=np.int64(part.start),
        stop=np.int64(part.stop),
        meta=np.frombuffer(json.dumps(meta, sort_keys=True, default=str).encode(), dtype=np.uint8),
    )
    path = atomic_write(record.folder / rel, lambda f: f.write(buf.getvalue()))
    part.result_file = rel
    part.state = FETCHED
    part.finished_at = part.finished_at or now_iso()
    part.updated_at = now_iso()
    part.set_error(None)
    return path


def load_result(record: JobRecord, part: Part) -> tuple[np.ndarray, np.ndarray]:
    if not part.result_file:
        raise JobError(f"part {part.index}: no stored result")
    path = record.folder / part.result_file
    try:
        with np.load(path, allow_pickle=False) as z:
            return np.array(z["evs"]), np.array(z["stds"])
    except FileNotFoundError:
        raise JobError(
            f"{path}: stored result missing; run `qsdaqec jobs fetch` again to download it"
        ) from None
