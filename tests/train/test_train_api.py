"""The notebook API: ``qsdaqec.fit`` / ``qsdaqec.load_run`` return a ``Run`` that keeps its
model and predicts files, folders and images in memory alike; errors name arguments; the lines
go through ``logging``; run.json is versioned."""

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from train_helpers import tiny_cfg

import qsdaqec
from qsdaqec.errors import ConfigError, DataError, RunError
from qsdaqec.runs import RUN_SCHEMA
from qsdaqec.train import LoadedRun, Run


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return qsdaqec.fit(tiny_cfg(tiny_data, out, head="classical", epochs=1), log=lambda m: None)


def _probs(rows):
    return [(r["p_normal"], r["p_stenosis"], r["predicted"]) for r in rows]


def test_fit_returns_the_run_loaded(run):
    assert isinstance(run, Run) and not run.model.training
    assert run.metrics == json.loads((run.dir.metrics).read_text())  # metrics.json, read
    assert run.config.head == "classical" and run.classes == ["normal", "stenosis"]
    assert set(run.thresholds) <= {"youden", "sens90"}
    assert all(0 < v < 1 for v in run.thresholds.values())
    # it stands for its folder where the path used to: Path(run), run / name, str(run)
    assert (run / "model.pt").is_file() and str(run) == str(run.run_dir)
    assert run.record.schema == RUN_SCHEMA and run.record.status == "finished"
    assert json.loads(run.dir.info.read_text())["schema"] == RUN_SCHEMA
    assert run.dir.finished


def test_load_run_is_exported_from_the_package_and_loads_the_same_run(run):
    again = qsdaqec.load_run(run)  # a Run is a path too
    assert isinstance(again, Run) and again.run_dir == run.run_dir and again is not run
    assert again.metrics == run.metrics


def test_predict_takes_files_folders_arrays_tensors_and_pil_images_alike(run, tiny_data):
    files = sorted((tiny_data / "stenosis").glob("*.png"))[:3]
    by_folder = run.predict(tiny_data / "stenosis")
    by_files = run.predict(files)
    assert [r["image"] for r in by_files] == [str(f) for f in files]
    assert _probs(by_files) == _probs(by_folder[:3]) and by_files[0]["label"] == "stenosis"
    arrays = [np.asarray(Image.open(f)) for f in files]  # uint8 (H, W)
    tensor = torch.from_numpy(np.stack(arrays)[:, None] / 255.0).float()  # (N, 1, H, W)
    for given in (arrays, np.stack(arrays), tensor, [Image.open(f) for f in files]):
        rows = run.predict(given)
        assert [r["image"] for r in rows] == [0, 1, 2] and "label" not in rows[0]
        assert _probs(rows) == pytest.approx(_probs(by_files), abs=1e-6), type(given)
        assert rows[0].get("lesion_x") == by_files[0].get("lesion_x")  # pixels of the image
    one = run.predict(arrays[0])  # a single 2-D array is one image
    assert len(one) == 1 and _probs(one) == pytest.approx(_probs(by_files[:1]), abs=1e-6)


def test_predict_uses_the_loaded_model_without_reading_the_run_again(run, tiny_data, monkeypatch):
    def no_reload(*a, **k):
        raise AssertionError("the run was loaded again")

    monkeypatch.setattr(LoadedRun, "open", no_reload)
    assert len(run.predict(tiny_data / "normal")) == 12
    r = run.evaluate()
    fitted = dict(run.metrics["test"])
    fitted.pop("loss")
    assert r["test"] == fitted  # the fit's own test scores


def test_predict_refuses_a_mix_of_paths_and_arrays(run, tiny_data):
    with pytest.raises(DataError, match="neither a path nor an image in memory"):
        run.predict([tiny_data / "normal" / "000.png", np.zeros((32, 32))])


def test_errors_name_arguments_and_the_cli_names_options(run, tiny_data):
    with pytest.raises(ConfigError) as e:
        run.predict(tiny_data / "normal", threshold=1.5)
    assert str(e.value).startswith("threshold=1.5: a probability must lie in (0, 1)")
    assert e.value.for_cli().startswith("--threshold 1.5: a probability must lie in (0, 1)")
    from qsdaqec.cli import cli

    r = CliRunner().invoke(
        cli, ["predict", "--run", str(run), str(tiny_data / "normal"), "--threshold", "1.5"]
    )
    assert r.exit_code == 2 and "Error: --threshold 1.5: a probability must lie" in r.output


def test_lines_go_through_logging_and_a_notebook_sets_their_level(run, tiny_data, caplog):
    with caplog.at_level(logging.INFO, logger="qsdaqec"):
        run.evaluate("aer")  # a classical head: the backend is not used, and it says so
    said = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert ("qsdaqec.train.evaluation", logging.INFO) in {(n, lv) for n, lv, _ in said}
    assert any("not used by a classical model" in m for _, _, m in said)
    caplog.clear()
    logger = logging.getLogger("qsdaqec")
    level = logger.level
    try:
        logger.setLevel(logging.WARNING)
        run.evaluate("aer")
    finally:
        logger.setLevel(level)
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]


def test_log_argument_gets_the_call_s_lines(run):
    lines = []
    run_dir = run.run_dir
    qsdaqec.evaluate(run_dir, "statevector", log=lines.append)
    assert lines == [f"scoring {run.metrics['test']['n']} test image(s) with the head on classical"]


def test_fit_log_goes_to_the_qsdaqec_train_logger(tiny_data, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="qsdaqec"):
        r = qsdaqec.fit(tiny_cfg(tiny_data, tmp_path / "r", head="classical", epochs=1))
    mine = [x.getMessage() for x in caplog.records if x.name == "qsdaqec.train"]
    assert mine[-1] == f"{r.run_dir}: finished"


def test_an_older_run_json_loads_and_a_newer_one_is_one_clear_line(run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run.run_dir, old)
    info = json.loads((old / "run.json").read_text())
    del info["schema"]  # as runs made before run.json had a version
    (old / "run.json").write_text(json.dumps(info))
    loaded = qsdaqec.load_run(old)
    assert loaded.record.schema == 0 and loaded.classes == run.classes
    info["schema"] = RUN_SCHEMA + 1
    (old / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match=f"schema {RUN_SCHEMA + 1} is newer"):
        qsdaqec.load_run(old)
    from qsdaqec.cli import cli

    r = CliRunner().invoke(cli, ["evaluate", "--run", str(old)])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "is newer than" in r.output


def test_an_unfinished_run_is_refused_by_load_run(run, tmp_path):
    cut = tmp_path / "cut"
    shutil.copytree(run.run_dir, cut)
    info = json.loads((cut / "run.json").read_text())
    info["status"] = "running"  # model.pt written, the status not yet: not finished
    (cut / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match="not finished.*--resume"):
        qsdaqec.load_run(cut)


def test_import_qsdaqec_stays_light():
    code = "import sys, qsdaqec; qsdaqec.RunDir; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
