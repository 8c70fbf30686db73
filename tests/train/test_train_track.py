"""fit --tracker: every epoch of both stages, the config, the test scores and the figures reach
TensorBoard and MLflow as the run's own files have them, and tracking changes nothing the fit
computes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import handled_error
from click.testing import CliRunner
from tracking_helpers import mlflow_artifacts, mlflow_history, mlflow_runs, tb_events, tb_scalars
from train_helpers import tiny_cfg

from qsdaqec.cli import cli
from qsdaqec.tracking import TrackingConfig
from qsdaqec.train import fit

TINY = [
    "--image-size",
    "32",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--weights",
    "none",
    "--val-frac",
    "0.25",
    "--test-frac",
    "0.25",
    "--no-progress",
    "--num-threads",
    "1",
]


def _read(run, name):
    return json.loads((run / name).read_text())


def test_two_stage_fit_to_tensorboard(tiny_data, tmp_path):
    lines = []
    cfg = tiny_cfg(tiny_data, tmp_path / "run", head="quantum", backend="aer", epochs=1)
    fit(cfg, log=lines.append, tracking=TrackingConfig("tensorboard"))
    run = Path(cfg.out)
    logdir = run / "tensorboard"
    assert f"tracking: tensorboard, {logdir}" in lines
    scalars = tb_scalars(logdir)
    history = _read(run, "history.json")
    assert [(r["stage"], r["epoch"]) for r in history] == [(1, 1), (2, 0), (2, 1)]
    for row in history:  # every epoch of both stages, at its epoch
        for col in ("val_loss", "val_auc", "val_balanced_accuracy", "lr", "seconds"):
            tag = f"stage{row['stage']}/{col}"
            assert (row["epoch"], pytest.approx(row[col], rel=1e-6)) in scalars[tag], tag
    metrics = _read(run, "metrics.json")
    for part in ("test", "test_exact", "test_before_stage2"):
        for name in ("auc", "balanced_accuracy", "sensitivity"):
            assert scalars[f"{part}/{name}"] == [(0, pytest.approx(metrics[part][name], rel=1e-6))]
    acc = tb_events(logdir)
    assert {"roc", "confusion", "curves"} <= set(acc.Tags()["images"])
    params = acc.Tensors("params/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| backend | aer |" in params and "| seed | 0 |" in params


def test_fit_to_mlflow_from_the_cli_computes_what_an_untracked_fit_does(
    tiny_data, tmp_path, mlflow_uri
):
    plain, tracked = tmp_path / "plain", tmp_path / "tracked"
    common = ["fit", "--data", str(tiny_data), "--head", "classical", *TINY]
    r = CliRunner().invoke(cli, [*common, "--out", str(plain)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        cli,
        [*common, "--out", str(tracked), "--tracker", "mlflow", "--tracking-uri", mlflow_uri],
    )
    assert r.exit_code == 0, r.output
    assert f"tracking: mlflow, {mlflow_uri}" in r.output
    a = torch.load(plain / "model.pt", weights_only=True)["model"]
    b = torch.load(tracked / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _read(plain, "metrics.json")["test"] == _read(tracked, "metrics.json")["test"]

    (run,) = mlflow_runs(mlflow_uri, "qsdaqec fit")
    assert run.info.run_name == "tracked" and run.info.status == "FINISHED"
    assert run.data.tags["qsdaqec.run"] == str(tracked.absolute())
    config = _read(tracked, "config.json")
    for key in ("seed", "epochs", "head", "lr", "image_size"):
        assert run.data.params[key] == str(config[key])
    history = _read(tracked, "history.json")
    assert [r["epoch"] for r in history] == [1, 2]
    assert mlflow_history(mlflow_uri, run.info.run_id, "stage1/val_loss") == [
        (r["epoch"], pytest.approx(r["val_loss"])) for r in history
    ]
    test = _read(tracked, "metrics.json")["test"]
    assert run.data.metrics["test/auc"] == pytest.approx(test["auc"])
    assert run.data.metrics["test/accuracy"] == pytest.approx(test["accuracy"])
    assert {"roc.png", "confusion.png", "curves.png", "metrics.json"} <= set(
        mlflow_artifacts(mlflow_uri, run.info.run_id)
    )


def test_missing_tracker_package_is_one_line_before_the_run_directory(
    tiny_data, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # not installed
    out = tmp_path / "run"
    r = CliRunner().invoke(
        cli, ["fit", "--data", str(tiny_data), "--out", str(out), "--tracker", "tensorboard", *TINY]
    )
    handled_error(r, "--tracker tensorboard needs tensorboard", "pip install 'qsdaqec[tracking]'")
    assert not out.exists()
