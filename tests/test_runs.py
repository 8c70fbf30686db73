import dataclasses
import json
from pathlib import Path

import pytest

from qsdaqec.errors import RunError
from qsdaqec.runs import RUN_SCHEMA, RunDir, RunInfo, create_run_dir


@dataclasses.dataclass
class Cfg:
    lr: float = 0.1
    name: str = "x"


def test_create_run_dir_writes_config_and_environment(tmp_path):
    run = create_run_dir(tmp_path / "r1", Cfg(), seed=3)
    assert json.loads((run / "config.json").read_text()) == {"lr": 0.1, "name": "x"}
    env = json.loads((run / "environment.json").read_text())
    assert env["seed"] == 3
    assert env["packages"]["torch"]


def test_create_run_dir_refuses_to_overwrite(tmp_path):
    create_run_dir(tmp_path / "r1", Cfg())
    with pytest.raises(RunError, match="already exists"):
        create_run_dir(tmp_path / "r1", Cfg())
    create_run_dir(tmp_path / "r1", Cfg(lr=0.2), exist_ok=True)


def _run(tmp_path, info=None, model=False, config=True):
    """A run folder as ``fit`` leaves it at some point: config.json, run.json, model.pt."""
    d = tmp_path / "run"
    d.mkdir(exist_ok=True)
    if config:
        (d / "config.json").write_text("{}")
    if info is not None:
        (d / "run.json").write_text(json.dumps(info))
    if model:
        (d / "model.pt").write_bytes(b"")
    return RunDir(d)


def test_finished_means_run_json_says_so_and_model_pt_is_there(tmp_path):
    assert RunDir(tmp_path / "none").state() == "absent"
    assert _run(tmp_path).state() == "interrupted"  # config.json only: stopped before run.json
    running = _run(tmp_path, {"status": "running"}, model=True)  # model.pt before the status
    assert not running.finished and running.state() == "interrupted"
    lost = _run(tmp_path, {"status": "finished"})
    (lost.path / "model.pt").unlink()  # a finished run whose model was deleted: unusable
    assert not lost.finished and lost.state() == "interrupted"
    done = _run(tmp_path, {"status": "finished"}, model=True)
    assert done.finished and done.state() == "finished"
    (done.path / "run.json").write_text("{damaged")
    assert not done.finished  # unreadable: not finished (reading it says why)
    with pytest.raises(RunError, match="not valid JSON"):
        done.read_info()


def test_paths_are_named_in_one_place(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run.model == tmp_path / "r" / "model.pt" and run.metrics.name == "metrics.json"
    assert run.info.name == "run.json" and run.config.name == "config.json"
    assert run.split.name == "split.json" and run.checkpoint.name == "checkpoint.pt"
    assert Path(run) == run.path and run / "eval" == run.path / "eval" and str(run) == str(run.path)


def test_run_json_without_a_schema_reads_as_version_0(tmp_path):
    run = _run(tmp_path, {"status": "finished", "data": {"classes": ["a", "b"], "positive": 0}})
    info = run.read_info()
    assert (info.schema, info.status, info.classes, info.positive) == (0, "finished", ["a", "b"], 0)
    (run.path / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, "status": "running"}))
    assert run.read_info().schema == RUN_SCHEMA


def test_run_json_of_a_newer_schema_is_one_clear_error(tmp_path):
    run = _run(tmp_path, {"schema": RUN_SCHEMA + 1, "status": "finished"}, model=True)
    with pytest.raises(RunError) as e:
        run.read_info()
    msg = str(e.value)
    assert "\n" not in msg and f"schema {RUN_SCHEMA + 1} is newer" in msg and "upgrade" in msg
    with pytest.raises(RunError, match="is newer"):
        run.finished  # noqa: B018 - a newer run is not guessed to be finished or not
    with pytest.raises(RunError, match="not a run record"):
        RunInfo.from_dict(["not", "a", "dict"])


def test_create_run_dir_error_names_the_argument_and_the_cli_its_option(tmp_path):
    create_run_dir(tmp_path / "r1", Cfg())
    with pytest.raises(RunError) as e:
        create_run_dir(tmp_path / "r1", Cfg())
    assert "another out, or pass resume=True" in str(e.value)
    assert "another --out, or pass --resume to continue it" in e.value.for_cli()
