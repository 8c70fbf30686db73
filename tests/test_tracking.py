"""The tracker abstraction (qsdaqec.tracking): no tracker is a no-op, missing packages and bad
stores are one line, and each backend writes what its own tools read back."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tracking_helpers import mlflow_artifacts, mlflow_history, mlflow_runs, tb_hparams, tb_scalars

from qsdaqec.errors import ConfigError
from qsdaqec.tracking import (
    NullTracker,
    TrackingConfig,
    flatten,
    numeric,
    open_tracker,
    slug,
)


def _png(path: Path, h: int = 12, w: int = 20) -> Path:
    Image.fromarray((np.arange(h * w * 3) % 251).astype(np.uint8).reshape(h, w, 3)).save(path)
    return path


def _send(tracker, png: Path) -> None:
    """What a command sends: parameters, two epochs, final numbers, a figure, a point."""
    tracker.log_params({"lr": 0.004, "model": {"head": "quantum"}, "views": [1, 2], "data": None})
    tracker.log_metrics({"stage1/val_auc": 0.5, "stage1/best": True, "note": "text"}, step=1)
    tracker.log_metrics({"stage1/val_auc": 0.75}, step=2)
    tracker.log_metrics({"test/auc": 0.8, "test/warnings": ["x"]})
    tracker.log_file(png)
    tracker.log_point("noise 1 | shots 512", {"noise_scale": 1.0, "shots": 512}, {"auc": 0.6})


def test_no_tracker_sends_nothing_and_writes_nothing(tmp_path):
    assert TrackingConfig().validate().tracker is None
    t = open_tracker(None, folder=tmp_path / "run", experiment="x", name="run")
    assert isinstance(t, NullTracker)
    with open_tracker(TrackingConfig(), folder=tmp_path / "run", experiment="x", name="r") as t:
        _send(t, _png(tmp_path / "roc.png"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "cfg, message",
    [
        (TrackingConfig("wandb"), "--tracker 'wandb': use one of tensorboard, mlflow"),
        (TrackingConfig(None, "sqlite:///x.db"), "--tracking-uri is MLflow's"),
        (TrackingConfig("tensorboard", "sqlite:///x.db"), "--tracking-uri is MLflow's"),
    ],
)
def test_bad_settings_are_config_errors(cfg, message):
    with pytest.raises(ConfigError, match=message):
        cfg.validate()


@pytest.mark.parametrize("tracker", ["tensorboard", "mlflow"])
def test_a_missing_package_names_the_extra(tracker, monkeypatch):
    monkeypatch.setitem(sys.modules, tracker, None)  # import fails as if not installed
    with pytest.raises(ConfigError) as e:
        TrackingConfig(tracker).validate()
    assert str(e.value) == (
        f"--tracker {tracker} needs {tracker}, which is not installed: install "
        "qsdaqec[tracking] (pip install 'qsdaqec[tracking]')"
    )


def test_mlflow_default_store_without_sqlalchemy_says_what_to_install(monkeypatch):
    import mlflow  # noqa: F401 - imported first: its store registry looks for SQLAlchemy once

    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # mlflow-skinny alone
    for cfg in (TrackingConfig("mlflow"), TrackingConfig("mlflow", "sqlite:///runs/m.db")):
        with pytest.raises(ConfigError, match=r"needs sqlalchemy \(not installed\): install"):
            cfg.validate()
    TrackingConfig("mlflow", "http://127.0.0.1:1").validate()  # a server needs neither


def test_values_flattened_and_numbers_kept():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": (1, 2)}) == {
        "a.b": 1,
        "a.c.d": None,
        "e": "[1, 2]",
    }
    assert flatten({"note": "token=abcdef123456"})["note"] == "token=<redacted>"
    assert numeric({"a": 1, "b": True, "c": "x", "d": None, "e": np.float32(0.5)}) == {
        "a": 1.0,
        "b": 1.0,
        "e": 0.5,
    }
    assert (
        slug("schmidt | aer_noisy:fake_torino | noise 1") == "schmidt_aer_noisy_fake_torino_noise_1"
    )


def test_tensorboard_event_files_read_back(tmp_path):
    lines = []
    cfg = TrackingConfig("tensorboard")
    with open_tracker(
        cfg, folder=tmp_path / "run", experiment="x", name="r", log=lines.append
    ) as t:
        _send(t, _png(tmp_path / "roc.png"))
    logdir = tmp_path / "run" / "tensorboard"
    assert lines == [f"tracking: tensorboard, {logdir}"]
    scalars = tb_scalars(logdir)
    assert scalars["stage1/val_auc"] == [(1, 0.5), (2, 0.75)]
    assert scalars["stage1/best"] == [(1, 1.0)] and "note" not in scalars
    assert scalars["test/auc"] == [(0, pytest.approx(0.8))]  # the final numbers
    assert tb_hparams(logdir) == {
        "lr": pytest.approx(0.004),
        "model.head": "quantum",
        "views": "[1, 2]",
    }
    from tracking_helpers import tb_events

    image = tb_events(logdir).Images("roc")[0]
    assert (image.width, image.height) == (20, 12)
    point = logdir / "noise_1_shots_512"
    assert tb_scalars(point) == {"auc": [(0, pytest.approx(0.6))]}
    assert tb_hparams(point) == {"noise_scale": 1.0, "shots": 512.0}


def test_tensorboard_failed_run_has_no_final_session(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with open_tracker(
            TrackingConfig("tensorboard"), folder=tmp_path, experiment="x", name="r"
        ) as t:
            t.log_params({"lr": 0.1})
            t.log_metrics({"stage1/val_auc": 0.5}, step=1)
            t.log_metrics({"test/auc": 0.8})
            raise KeyboardInterrupt
    scalars = tb_scalars(tmp_path / "tensorboard")
    assert scalars == {"stage1/val_auc": [(1, 0.5)]}


def test_mlflow_store_read_back_through_its_client(tmp_path, mlflow_uri):
    lines = []
    cfg = TrackingConfig("mlflow", mlflow_uri)
    tags = {"seed": 3}
    with open_tracker(
        cfg, folder=tmp_path, experiment="qsdaqec test", name="run-a", tags=tags, log=lines.append
    ) as t:
        _send(t, _png(tmp_path / "roc.png"))
    assert lines == [f"tracking: mlflow, {mlflow_uri}"]
    runs = mlflow_runs(mlflow_uri, "qsdaqec test")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (child,) = [r for r in runs if r is not parent]
    assert parent.info.run_name == "run-a" and parent.info.status == "FINISHED"
    assert parent.data.params == {
        "lr": "0.004",
        "model.head": "quantum",
        "views": "[1, 2]",
        "data": "None",
    }
    assert parent.data.tags["seed"] == "3"
    run_id = parent.info.run_id
    assert mlflow_history(mlflow_uri, run_id, "stage1/val_auc") == [(1, 0.5), (2, 0.75)]
    assert parent.data.metrics["test/auc"] == 0.8 and "note" not in parent.data.metrics
    assert mlflow_artifacts(mlflow_uri, run_id) == ["roc.png"]
    assert child.info.run_name == "noise 1 | shots 512"
    assert child.data.tags["mlflow.parentRunId"] == run_id
    assert child.data.params == {"noise_scale": "1.0", "shots": "512"}
    assert child.data.metrics == {"auc": 0.6}


def test_mlflow_env_vars_name_the_store_and_experiment(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mine")
    with pytest.raises(RuntimeError):
        with open_tracker(TrackingConfig("mlflow"), folder=tmp_path, experiment="x", name="r") as t:
            t.log_metrics({"stage1/val_auc": 0.5}, step=1)
            raise RuntimeError("stopped")
    (run,) = mlflow_runs(mlflow_uri, "mine")
    assert run.info.status == "FAILED" and run.data.metrics == {"stage1/val_auc": 0.5}


def test_mlflow_store_that_cannot_open_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    cfg = TrackingConfig("mlflow", f"sqlite:///{tmp_path}/a-file/m.db")
    with pytest.raises(ConfigError, match="--tracker mlflow: cannot open the store sqlite:///"):
        open_tracker(cfg, folder=tmp_path, experiment="x", name="r")
