"""``qsdaqec jobs ...``: the commands a user types, against the fake service and local mode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from PIL import Image

from qsdaqec.cli import cli
from qsdaqec.errors import JobError
from qsdaqec.hardware import inference_inputs
from qsdaqec.runner import jobs as J
from qsdaqec.runner import records as R
from qsdaqec.runner.fake_runtime import FakeRuntimeService, dropped, tiny_problem
from qsdaqec.runner.jobs import gateway

TOKEN = "qsdaqecCLItoken_0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def invoke(*args):
    return CliRunner().invoke(cli, ["jobs", *map(str, args)])


def one_line_error(result):
    return handled_error(result)


@pytest.fixture
def svc(monkeypatch):
    """Every command connects to this fake 'IBM' service instead of the real one."""
    service = FakeRuntimeService(steps=1)
    monkeypatch.setattr(gateway, "connect", lambda spec: service)
    return service


def make_record(tmp_path, service, **kw):
    prob = tiny_problem(n=5, seed=4)
    limits = J.JobLimits(max_samples_per_job=2)
    return prob.submit(
        "ibm:fake_manila", tmp_path, service=service, sleep=lambda s: None, limits=limits, **kw
    )


def test_list_without_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("list")
    assert result.exit_code == 0 and "no job records" in result.output


def test_status_fetch_list_idempotent(tmp_path, svc):
    rec = make_record(tmp_path, svc)
    result = invoke("status", rec.path)
    assert result.exit_code == 0, result.output
    assert rec.record_id in result.output and "fakejob0001" in result.output

    result = invoke("fetch", rec.path, "--wait", "--poll", "0")
    assert result.exit_code == 0, result.output
    assert "complete" in result.output
    assert f"predictions: {rec.folder / 'predictions.csv'} (and predictions.json)" in result.output
    assert (rec.folder / "predictions.csv").is_file()
    assert "metrics: acc" in result.output
    files = {p: p.read_bytes() for p in rec.folder.rglob("*") if p.is_file()}
    downloads = svc.downloads

    again = invoke("fetch", rec.record_id, "--run", tmp_path)  # by id, second time
    assert again.exit_code == 0, again.output
    assert svc.downloads == downloads
    assert {p: p.read_bytes() for p in rec.folder.rglob("*") if p.is_file()} == files

    listed = invoke("list", "--run", tmp_path)
    assert listed.exit_code == 0 and rec.record_id in listed.output and "complete" in listed.output
    status_all = invoke("status", "--run", tmp_path)
    assert status_all.exit_code == 0 and "complete" in status_all.output


def test_cancel_then_retry(tmp_path, svc):
    svc.steps = 100
    rec = make_record(tmp_path, svc)
    result = invoke("cancel", rec.path)
    assert result.exit_code == 0, result.output
    assert "cancelled 3 part(s)" in result.output and "jobs retry" in result.output
    result = invoke("retry", rec.path)
    assert result.exit_code == 0, result.output
    assert "resubmitted 3 part(s)" in result.output
    assert svc.submit_calls == 6


def test_unknown_submit_is_reported_with_the_way_out(tmp_path, svc):
    svc.submit_faults = [None, dropped()]
    with pytest.raises(JobError):
        make_record(tmp_path, svc)
    path = next((tmp_path / "jobs").glob("*.json"))
    result = invoke("status", path)
    assert result.exit_code == 0, result.output
    assert "unknown" in result.output and "--resubmit-unknown" in result.output
    result = invoke("retry", path)  # sends the never-sent part only
    assert result.exit_code == 0 and "resubmitted 1 part(s): [2]" in result.output
    line = one_line_error(invoke("retry", path))
    assert "--resubmit-unknown" in line
    result = invoke("retry", path, "--resubmit-unknown")
    assert result.exit_code == 0 and "resubmitted 1 part(s): [1]" in result.output


def test_bad_record_reference(tmp_path):
    assert "no such job record" in one_line_error(invoke("fetch", tmp_path / "nope.json"))
    assert "no job record" in one_line_error(invoke("fetch", "nope", "--run", tmp_path))


def test_missing_credentials_one_line(tmp_path, monkeypatch):
    import qiskit_ibm_runtime
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    rec = make_record(tmp_path, FakeRuntimeService())  # live jobs: status needs the service

    def no_account(*a, **k):
        raise AccountNotFoundError("Unable to find account.")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", no_account)
    line = one_line_error(invoke("status", rec.path))
    assert "save_account" in line and "QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE" in line


def test_token_never_printed_or_written(tmp_path, monkeypatch):
    import qiskit_ibm_runtime

    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    rec = make_record(tmp_path, FakeRuntimeService())

    def rejected(*a, **k):
        raise RuntimeError(
            f"401 Client Error: Unauthorized for url: https://iam/token?apikey={TOKEN}"
        )

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", rejected)
    outputs = [invoke(cmd, rec.path) for cmd in ("status", "fetch", "cancel", "retry")]
    for result in outputs:
        assert result.exit_code == 2
        assert TOKEN not in result.output
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p


# ---- end to end from a trained run (fit -> jobs submit -> jobs fetch) ---------------------


def _image_folder(root, n=(10, 8), size=32, seed=0):
    rng = np.random.default_rng(seed)
    for name, count in zip(("normal", "stenosis"), n, strict=True):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img = 0.7 + 0.1 * rng.standard_normal((size, size))
            c = size // 2
            img[:, c - 2 : c + 2] = 0.2
            if name == "stenosis":
                r = int(rng.integers(8, size - 8))
                img[r - 3 : r + 3, c - 2 : c + 2] = 0.65
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def angle_run(tmp_path_factory):
    from qsdaqec.train import FitConfig, fit

    base = tmp_path_factory.mktemp("jobsrun")
    data = _image_folder(base / "data")
    cfg = FitConfig(
        data=str(data),
        out=str(base / "run"),
        image_size=32,
        epochs=1,
        batch_size=8,
        weights="none",
        val_frac=0.25,
        test_frac=0.3,
        progress=False,
        num_threads=1,
        head="quantum",
        encoding="angle",
        backend="statevector",
        augment=False,
    )
    return fit(cfg, log=lambda m: None), data


def test_submit_fetch_from_a_run_in_local_testing_mode(angle_run):
    run, data = angle_run
    result = invoke(
        "submit",
        "--run",
        run,
        "--backend",
        "fake:manila",
        "--shots",
        "2000",
        "--mitigation",
        "readout",
    )
    assert result.exit_code == 0, result.output
    assert "record:" in result.output and "complete" in result.output
    rec = R.list_records(run)[-1]
    split = json.loads((run / "split.json").read_text())
    assert rec.samples["ids"] == split["test"]["ids"]
    assert rec.source["split"] == "test" and rec.local_mode

    result = invoke("fetch", rec.path)
    assert result.exit_code == 0, result.output
    assert "vs exact simulation" in result.output
    pred = json.loads((rec.folder / "predictions.json").read_text())
    assert pred["complete"] and pred["n_predicted"] == len(split["test"]["ids"])
    metrics = json.loads((rec.folder / "metrics.json").read_text())
    assert metrics["vs_exact"]["ev_max_abs_error"] < 0.35  # device noise + shot noise only

    # --data: every image of a folder, with labels (class names match the run's)
    result = invoke(
        "submit",
        "--run",
        run,
        "--backend",
        "fake:fake_manila",
        "--data",
        data,
        "--limit",
        "3",
        "--shots",
        "500",
    )
    assert result.exit_code == 0, result.output
    rec2 = R.list_records(run)[-1]
    assert rec2.samples["count"] == 3 and rec2.samples["labels"] is not None
    assert sorted(set(rec2.samples["labels"])) == [0, 1]  # both classes, not the first 3 ids
    assert rec2.source["limit_seed"] == 0 and rec2.source["limit_sampling"] == "stratified by class"


def test_representative_subsets_keep_every_class():
    from qsdaqec.hardware.inputs import representative

    labels = [0] * 40 + [1] * 10  # sorted by class, as test ids often are
    for k in (2, 5, 10, 16):
        pick = representative(labels, 50, k, seed=3)
        got = [labels[i] for i in pick]
        assert len(pick) == k == len(set(pick)) and pick == sorted(pick)
        assert got.count(1) == max(1, round(k * 10 / 50))
    assert representative(labels, 50, 5, seed=3) == representative(labels, 50, 5, seed=3)
    assert representative(labels, 50, 5, seed=3) != representative(labels, 50, 5, seed=4)
    assert len(representative(None, 50, 7, seed=0)) == 7
    assert representative(labels, 50, 1, seed=0)  # fewer than the classes: still k samples


def test_submit_bad_backend_is_one_line(angle_run):
    run, _ = angle_run
    line = one_line_error(invoke("submit", "--run", run, "--backend", "aer_noisy"))
    assert "ibm:<device>" in line
    line = one_line_error(invoke("submit", "--run", run, "--backend", "fake:no_such_device"))
    assert "unknown fake backend" in line and "fake_manila" in line


def test_one_submit_parses_its_backend_once(angle_run, monkeypatch):
    """The backend string is parsed where the command starts; every layer below gets the
    parsed spec (the run's own training backend is another string, read from its config)."""
    from qsdaqec.runner import backends

    parsed, real = [], backends._parse
    monkeypatch.setattr(backends, "_parse", lambda text: parsed.append(text) or real(text))
    run, _ = angle_run
    result = invoke("submit", "--run", run, "--backend", "fake:fake_torino", "--limit", 2)
    assert result.exit_code == 0, result.output
    assert parsed.count("fake:fake_torino") == 1, parsed


def test_inference_inputs_reproduce_the_runs_exact_values(angle_run):
    """The parameter rows sent to the device give the trained head's own expectation values."""
    from qiskit.primitives import StatevectorEstimator

    run, _ = angle_run
    inp = inference_inputs(run)
    p = inp.problem
    assert [q.name for q in p.parameters] == [q.name for q in p.circuit.parameters]
    evs = StatevectorEstimator().run([p.pub()]).result()[0].data.evs
    np.testing.assert_allclose(evs, p.exact_evs, atol=1e-6)
    assert inp.output_layer["weight"].shape == (2, 4) and inp.labels is not None


def test_submit_without_credentials_fails_before_any_work(angle_run, monkeypatch):
    import qsdaqec.hardware.inputs as inputs_mod

    def no_features(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("features computed before the credentials were checked")

    monkeypatch.setattr(inputs_mod, "inference_inputs", no_features)
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(angle_run[0]))  # no saved account there
    line = one_line_error(invoke("submit", "--run", angle_run[0], "--backend", "ibm:ibm_fez"))
    assert "save_account" in line and "QISKIT_IBM_TOKEN" in line


def test_submit_plain_folder_without_labels(angle_run, tmp_path):
    run, data = angle_run
    flat = tmp_path / "new_cases"
    flat.mkdir()
    for i, src in enumerate(sorted((data / "stenosis").glob("*.png"))[:2]):
        (flat / f"case{i}.png").write_bytes(src.read_bytes())
    result = invoke(
        "submit", "--run", run, "--backend", "fake:fake_manila", "--data", flat, "--shots", "300"
    )
    assert result.exit_code == 0, result.output
    rec = R.list_records(run)[-1]
    assert rec.samples["ids"] == ["case0.png", "case1.png"] and rec.samples["labels"] is None
    result = invoke("fetch", rec.path)
    assert result.exit_code == 0 and "metrics:" not in result.output
    pred = json.loads((rec.folder / "predictions.json").read_text())
    assert pred["complete"] and "label" not in pred["predictions"][0]
    assert {"p_normal", "p_stenosis", "predicted_class"} <= set(pred["predictions"][0])
    assert not (rec.folder / "metrics.json").exists()


def test_fetch_without_a_record_takes_the_runs_latest(tmp_path, svc):
    first = make_record(tmp_path, svc)
    second = make_record(tmp_path, svc)
    result = invoke("fetch", "--run", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"latest record: {second.path}" in result.output and first.record_id not in result.output
    line = one_line_error(invoke("fetch", "--run", tmp_path / "empty"))
    assert "no job records; submit one with `qsdaqec jobs submit --run RUN`" in line


def test_next_step_after_a_local_submit_names_the_fetch(angle_run):
    run, _ = angle_run
    result = invoke("submit", "--run", run, "--backend", "fake:fake_manila", "--limit", "2")
    assert result.exit_code == 0, result.output
    rec = R.list_records(run)[-1]
    assert f"next: `qsdaqec jobs fetch {rec.path}` writes" in result.output
    assert not (rec.folder / "predictions.csv").exists()
    assert invoke("fetch", rec.path).exit_code == 0
    assert f"next: results in {rec.folder}/predictions.csv" in invoke("status", rec.path).output


def test_dry_run_prints_the_cost_and_sends_nothing(angle_run, svc):
    run, _ = angle_run
    before = len(R.list_records(run))
    result = invoke(
        "submit", "--run", run, "--backend", "ibm:fake_torino", "--limit", 4, "--dry-run"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4 samples on ibm:fake_torino: 1 job(s), 1 PUB(s), 16 parameter sets" in out
    assert "two-qubit gates" in out and "estimated QPU time: about" in out
    assert "dry run: nothing was submitted" in out
    assert svc.submit_calls == 0 and len(R.list_records(run)) == before


def test_budget_refuses_an_expensive_submit_unless_confirmed(angle_run, svc):
    run, _ = angle_run
    before = len(R.list_records(run))
    args = ["submit", "--run", run, "--backend", "ibm:fake_torino", "--limit", 4]
    handled_error(invoke(*args, "--max-qpu-seconds", 2), "over the budget of 2 s", "--yes")
    assert svc.submit_calls == 0 and len(R.list_records(run)) == before
    result = invoke(*args, "--max-qpu-seconds", 2, "--yes")
    assert result.exit_code == 0, result.output
    assert "estimated QPU time: about" in result.output and svc.submit_calls == 1
    assert R.list_records(run)[-1].cost["over_budget_confirmed"] is True


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--shots", "0"], "--shots"),
        (["--max-qpu-seconds", "-1"], "--max-qpu-seconds"),
    ],
)
def test_submit_bad_numbers_are_one_line(angle_run, extra, fragment):
    run, _ = angle_run
    handled_error(invoke("submit", "--run", run, "--backend", "fake:fake_manila", *extra), fragment)


def test_status_without_a_record_takes_the_runs_latest(tmp_path, svc):
    first = make_record(tmp_path, svc)
    second = make_record(tmp_path, svc)
    result = invoke("status", "--run", tmp_path)
    assert result.exit_code == 0, result.output
    assert second.record_id in result.output and first.record_id not in result.output
    both = invoke("status", "--run", tmp_path, "--all")
    assert first.record_id in both.output and second.record_id in both.output


def test_gate_budget_is_a_hard_limit(angle_run, svc):
    run, _ = angle_run
    args = ["submit", "--run", run, "--backend", "ibm:fake_torino", "--limit", 2]
    line = handled_error(invoke(*args, "--max-two-qubit-gates", 5, "--yes"), "the angle head has")
    assert "over --max-two-qubit-gates 5" in line and svc.submit_calls == 0
    dry = invoke(*args, "--max-two-qubit-gates", 5, "--dry-run")
    assert dry.exit_code == 0 and "a submit would be refused: the angle head has" in dry.output
    assert invoke(*args, "--max-two-qubit-gates", 60).exit_code == 0 and svc.submit_calls == 1


# ---- issue 29: damaged records are shown, never skipped; one submit per run at a time ------


def _damage(rec):
    """A record cut short (a crash or a full disk under a non-atomic writer, a bad copy)."""
    text = rec.path.read_text()
    rec.path.write_text(text[: len(text) // 2])


def test_a_damaged_record_is_listed_and_never_replaced_by_an_older_one(tmp_path, svc):
    older = make_record(tmp_path, svc)
    latest = make_record(tmp_path, svc)
    _damage(latest)
    listed = invoke("list", "--run", tmp_path)
    assert listed.exit_code == 0, listed.output
    assert f"{latest.path}  DAMAGED (not valid JSON" in listed.output
    assert older.record_id in listed.output and "no job records" not in listed.output
    for cmd in ("status", "fetch"):
        line = handled_error(invoke(cmd, "--run", tmp_path), str(latest.path))
        assert "the latest job record is damaged (not valid JSON" in line
    both = invoke("status", "--run", tmp_path, "--all")
    assert both.exit_code == 0 and "DAMAGED" in both.output and older.record_id in both.output
    handled_error(invoke("fetch", latest.path), str(latest.path), "not valid JSON")


def test_a_damaged_older_record_is_named_beside_the_latest(tmp_path, svc):
    older = make_record(tmp_path, svc)
    latest = make_record(tmp_path, svc)
    _damage(older)
    result = invoke("status", "--run", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"{older.path}  DAMAGED" in result.output and latest.record_id in result.output


def test_a_submit_beside_a_damaged_record_needs_yes(tmp_path, svc):
    rec = make_record(tmp_path, svc)
    _damage(rec)
    calls = svc.submit_calls
    with pytest.raises(JobError, match=r"damaged job record .*then submit again with --yes"):
        make_record(tmp_path, svc)
    assert svc.submit_calls == calls and len(list((tmp_path / "jobs").glob("*.json"))) == 1
    new = make_record(tmp_path, svc, yes=True)
    assert svc.submit_calls > calls
    assert "beside damaged record(s)" in " ".join(e["message"] for e in new.events)


def test_cli_submit_refuses_beside_a_damaged_record_until_yes(angle_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(angle_run[0], run, ignore=shutil.ignore_patterns("jobs"))
    (run / "jobs").mkdir()
    (run / "jobs" / "20260101T000000Z-ibm_fez-000000abcdef.json").write_text('{"schema": "qsd')
    args = ["submit", "--run", run, "--backend", "fake:fake_manila", "--limit", 2]
    handled_error(invoke(*args), "damaged job record (not valid JSON", "--yes")
    assert len(list((run / "jobs").glob("*.json"))) == 1
    dry = invoke(*args, "--dry-run")
    assert "a submit would be refused:" in dry.output and "damaged" in dry.output
    result = invoke(*args, "--yes")
    assert result.exit_code == 0, result.output
    assert len(list((run / "jobs").glob("*.json"))) == 2


def test_two_submits_at_once_on_one_run_the_second_refuses(tmp_path, svc):
    import threading

    inside, release = threading.Event(), threading.Event()
    real_submit = svc.submit

    def slow_submit(*a, **k):  # the first submit is on the wire while the second starts
        inside.set()
        release.wait(10)
        return real_submit(*a, **k)

    svc.submit = slow_submit
    first: list = []
    t = threading.Thread(target=lambda: first.append(make_record(tmp_path, svc)))
    t.start()
    try:
        assert inside.wait(30)
        with pytest.raises(JobError, match="another `qsdaqec jobs submit` on this run is in"):
            make_record(tmp_path, svc)
    finally:
        release.set()
        t.join(60)
    assert first and len(list((tmp_path / "jobs").glob("*.json"))) == 1


def test_cli_submit_refuses_while_another_submit_holds_the_run(angle_run, svc):
    run, _ = angle_run
    with R.submit_lock(run):
        line = handled_error(
            invoke("submit", "--run", run, "--backend", "ibm:fake_torino", "--limit", 2),
            "another `qsdaqec jobs submit` on this run is in progress",
        )
    assert f"qsdaqec jobs list --run {run}" in line and svc.submit_calls == 0
