"""qsdaqec run --tracker: each fit that runs becomes a tracked run of the spec's experiment
(seeds side by side, named by the fit folder, tagged with variant and seed); fits finished
earlier are not sent again."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from exp_helpers import make_folder, write_spec
from tracking_helpers import mlflow_history, mlflow_runs, tb_scalars

from qsdaqec.cli import cli

#: One fast variant, two seeds (two tiny real fits).
SEEDS = """
[experiment]
description = "tracked seeds"
seeds = [0, 1]
test_sets = ["original"]
metrics = ["accuracy", "auc"]

[base]
data = "{data}"
image_size = 32
epochs = 1
batch_size = 8
val_frac = 0.25
test_frac = 0.25
weights = "none"
num_threads = 1

[[variants]]
name = "dense"
head = "classical"
"""


def _run(spec: Path, out: Path, *extra: str):
    r = CliRunner().invoke(cli, ["run", str(spec), "--out", str(out), "--quiet", *extra])
    assert r.exit_code == 0, r.output
    return r


def test_seeds_are_runs_of_the_spec_experiment(tmp_path, mlflow_uri):
    spec = write_spec(tmp_path, SEEDS.format(data=make_folder(tmp_path / "data")), "seeds.toml")
    out = tmp_path / "res"
    _run(spec, out, "--tracker", "mlflow", "--tracking-uri", mlflow_uri)
    runs = mlflow_runs(mlflow_uri, "qsdaqec run seeds")
    table = {row["seed"]: row for row in csv.DictReader((out / "runs.csv").open())}
    assert sorted(r.data.tags["seed"] for r in runs) == ["0", "1"] == sorted(table)
    for run in runs:
        row = table[run.data.tags["seed"]]
        fit_dir = Path(row["run_dir"])
        assert run.info.run_name == fit_dir.name and run.info.status == "FINISHED"
        assert run.data.tags["qsdaqec.variant"] == "dense"
        assert run.data.tags["qsdaqec.experiment"] == "seeds"
        assert run.data.metrics["test/accuracy"] == pytest.approx(float(row["accuracy"]))
        history = json.loads((fit_dir / "history.json").read_text())
        assert mlflow_history(mlflow_uri, run.info.run_id, "stage1/val_auc") == [
            (1, pytest.approx(history[0]["val_auc"]))
        ]
    # finished fits are skipped, and not sent again
    _run(spec, out, "--tracker", "mlflow", "--tracking-uri", mlflow_uri)
    assert len(mlflow_runs(mlflow_uri, "qsdaqec run seeds")) == 2


def test_fits_to_tensorboard_in_their_folders(tmp_path):
    spec = write_spec(tmp_path, SEEDS.format(data=make_folder(tmp_path / "data")), "seeds.toml")
    out = tmp_path / "res"
    _run(spec, out, "--seeds", "0", "--tracker", "tensorboard")
    (row,) = csv.DictReader((out / "runs.csv").open())
    logdir = Path(row["run_dir"]) / "tensorboard"
    scalars = tb_scalars(logdir)
    assert scalars["test/accuracy"] == [(0, pytest.approx(float(row["accuracy"])))]
    assert [step for step, _ in scalars["stage1/val_loss"]] == [1]
