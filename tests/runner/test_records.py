"""Job records: round trip, states, lookup, locking, result storage."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from qsdaqec.errors import JobError, RunError, WriteError
from qsdaqec.runner import records as R


def make_record(tmp_path, states=("pending",)) -> R.JobRecord:
    parts = [
        R.Part(index=i, start=2 * i, stop=2 * i + 2, pubs=[[2 * i, 2 * i + 2]], state=s)
        for i, s in enumerate(states)
    ]
    rec = R.JobRecord(
        record_id=R.new_record_id("ibm:ibm_fez"),
        backend="ibm:ibm_fez",
        local_mode=False,
        created=R.now_iso(),
        circuit={"hash": "h"},
        options={"shots": 100},
        limits={},
        samples={
            "count": 2 * len(parts),
            "ids": [f"s{i}" for i in range(2 * len(parts))],
            "labels": None,
            "classes": ["a", "b"],
            "positive": 1,
        },
        output_layer=None,
        source={},
        parts=parts,
    )
    rec.path = R.record_path(tmp_path, rec.record_id)
    rec.save()
    return rec


def test_round_trip_and_no_temp_files(tmp_path):
    rec = make_record(tmp_path, ["queued", "fetched"])
    rec.parts[0].job_id = "abc"
    rec.log("hello")
    assert rec.save() == rec.path
    back = R.load_record(rec.path)
    assert back.to_json() == rec.to_json()
    assert back.parts[0].job_id == "abc" and back.events[-1]["message"] == "hello"
    assert [p.name for p in rec.path.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    "states, word",
    [
        (["fetched", "fetched"], "complete"),
        (["fetched", "running"], "running"),
        (["queued", "done"], "queued"),
        (["done", "fetched"], "done"),
        (["fetched", "failed"], "partial"),
        (["failed", "cancelled"], "failed"),
        (["fetched", "submitting"], "submitting"),
        (["unknown", "submitting"], "unknown"),
        (["unknown", "running"], "unknown"),
        (["pending", "pending"], "pending"),
        (["lost"], "lost"),
    ],
)
def test_status_word(tmp_path, states, word):
    assert make_record(tmp_path, states).status == word


def test_archive_keeps_history(tmp_path):
    rec = make_record(tmp_path, ["failed"])
    p = rec.parts[0]
    p.job_id, p.attempt, p.error = "j1", 1, "boom"
    p.archive()
    assert p.state == R.PENDING and p.job_id is None and p.error is None
    assert p.history == [
        {
            "attempt": 1,
            "state": "failed",
            "job_id": "j1",
            "tag": None,
            "submitted_at": None,
            "finished_at": None,
            "error": "boom",
        }
    ]


def test_find_by_path_id_and_prefix(tmp_path):
    a = make_record(tmp_path)
    assert R.find_record(str(a.path)).record_id == a.record_id
    assert R.find_record(a.record_id, tmp_path).record_id == a.record_id
    assert R.find_record(a.record_id[:-3], tmp_path).record_id == a.record_id
    make_record(tmp_path)
    with pytest.raises(JobError, match="ambiguous"):
        R.find_record(a.record_id[:8], tmp_path)
    with pytest.raises(JobError, match="no job record"):
        R.find_record("nope", tmp_path)
    with pytest.raises(JobError, match="--run"):
        R.find_record("nope")
    with pytest.raises(JobError, match="no such job record"):  # a mistyped path, not an id
        R.find_record(str(R.jobs_dir(tmp_path) / "nope.json"))


def test_unreadable_records_are_named_damaged_and_schema_is_checked(tmp_path):
    a = make_record(tmp_path)
    (R.jobs_dir(tmp_path) / "broken.json").write_text("{not json")
    other = R.jobs_dir(tmp_path) / "other.json"
    other.write_text(json.dumps({"schema": "something/else"}))
    partless = R.jobs_dir(tmp_path) / "partless.json"
    partless.write_text(json.dumps({"schema": R.SCHEMA}))
    good, damaged = R.scan_records(tmp_path)
    assert (
        [r.record_id for r in good]
        == [a.record_id]
        == [r.record_id for r in R.list_records(tmp_path)]
    )
    reasons = {d.record_id: d.reason for d in damaged}
    assert set(reasons) == {"broken", "other", "partless"}
    assert reasons["broken"].startswith("not valid JSON")
    assert reasons["other"].startswith("not a qsdaqec job record")
    assert "KeyError" in reasons["partless"]
    with pytest.raises(RunError, match="not a qsdaqec job record"):
        R.load_record(other)
    with pytest.raises(JobError, match=r"damaged job record .*submit again with --yes"):
        R.check_damaged(tmp_path)
    R.check_damaged(tmp_path, yes=True)


# ---- item 9 of issue 29: a record (and everything beside it) is replaced, never rewritten --


def _no_space(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_record_saves_replace_the_file_and_a_failed_save_keeps_the_last_one(tmp_path, monkeypatch):
    """A record rewritten in place (``open(path, "w")``) keeps its inode and, if the process
    dies or the disk fills mid-write, is left truncated: the paid jobs it names are lost."""
    rec = make_record(tmp_path, ["queued"])
    for i in range(3):
        inode = rec.path.stat().st_ino
        rec.log(f"change {i}")
        rec.save()
        assert rec.path.stat().st_ino != inode  # a new file renamed over the old one
    last = rec.path.read_bytes()
    monkeypatch.setattr(os, "fsync", _no_space)  # the disk fills during the next save
    rec.parts[0].job_id = "job-that-ran"
    with pytest.raises(WriteError, match=f"{re.escape(str(rec.path))}: cannot write"):
        rec.save()
    assert (
        rec.path.read_bytes() == last
        and R.load_record(rec.path).events[-1]["message"] == "change 2"
    )
    assert [p.name for p in rec.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_every_file_of_a_submission_arrives_by_rename(tmp_path, monkeypatch):
    """The record, its parameters, its ISA circuit and each stored result: written to a temp
    file and renamed into place, so no reader (or crash) ever sees half of one."""
    from qsdaqec.runner.fake_runtime import FakeRuntimeService, tiny_problem
    from qsdaqec.runner.jobs import fetch

    renamed: set[Path] = set()
    real_replace = os.replace

    def spy(src, dst, *a, **k):
        renamed.add(Path(dst))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", spy)
    service = FakeRuntimeService(steps=1)
    rec = tiny_problem(n=4, seed=2).submit(
        "ibm:fake_manila", tmp_path, service=service, sleep=lambda s: None
    )
    fetch(rec, service=service, sleep=lambda s: None, wait=True, poll_interval=0)
    written = {p for p in R.jobs_dir(tmp_path).rglob("*") if p.is_file() and p.suffix != ".lock"}
    assert rec.path in written and any(p.suffix == ".npz" for p in written)
    assert written <= renamed, sorted(map(str, written - renamed))


def test_lock_is_exclusive(tmp_path):
    rec = make_record(tmp_path)
    assert not R.is_locked(rec)
    with R.locked(rec):
        assert R.is_locked(rec)
        with pytest.raises(JobError, match="another qsdaqec command"):
            with R.locked(rec):
                pass
    assert not R.is_locked(rec)
    fds = Path("/proc/self/fd")
    if fds.is_dir():  # checking a lock leaves no file descriptor open (a long fetch checks often)
        before = len(list(fds.iterdir()))
        for _ in range(5):
            R.is_locked(rec)
        assert len(list(fds.iterdir())) == before


def test_store_result_atomic_and_checked(tmp_path):
    rec = make_record(tmp_path, ["done"])
    part = rec.parts[0]
    part.job_id = "job/1"
    evs = np.arange(8.0).reshape(2, 4)
    path = R.store_result(rec, part, evs, evs / 10, {"job_id": "job/1"})
    assert part.state == R.FETCHED and part.result_file == "results/part0000-job_1.npz"
    assert path == rec.folder / part.result_file and path.is_file()
    assert part.finished_at and part.updated_at >= part.finished_at
    got, stds = R.load_result(rec, part)
    np.testing.assert_array_equal(got, evs)
    np.testing.assert_array_equal(stds, evs / 10)
    with pytest.raises(JobError, match="does not belong"):
        R.store_result(rec, part, np.zeros((3, 4)), np.zeros((3, 4)), {})
    (rec.folder / part.result_file).unlink()
    with pytest.raises(JobError, match="fetch"):
        R.load_result(rec, part)


def test_errors_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "supersecrettoken123")
    rec = make_record(tmp_path)
    rec.parts[0].set_error("failed with token supersecrettoken123")
    rec.log("Authorization: Bearer abc.def")
    rec.save()
    text = rec.path.read_text()
    assert "supersecrettoken123" not in text and "abc.def" not in text


def test_record_ids_sort_in_creation_order_within_one_second():
    import time

    ids = []
    for _ in range(20):  # 1 ms apart: mostly within one second, never within one microsecond
        ids.append(R.new_record_id("fake:fake_manila"))
        time.sleep(0.001)
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)
    # the device name, never the provider prefix: records are listed by device
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-fake_manila-\d{6}[0-9a-f]{6}", i) for i in ids)
    assert "-ibm_fez-" in R.new_record_id("ibm_fez")


def test_part_counts_and_arrays_never_pickled(tmp_path):
    rec = make_record(tmp_path, ["queued", "fetched", "queued"])
    assert rec.counts() == {"queued": 2, "fetched": 1}
    R.save_array(tmp_path / "a.npy", np.arange(3.0))
    with pytest.raises(ValueError):  # an object array would need pickle to load
        R.save_array(tmp_path / "b.npy", np.array([{"x": 1}], dtype=object))
    assert not (tmp_path / "b.npy").exists()
