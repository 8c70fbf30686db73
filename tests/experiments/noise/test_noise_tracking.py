"""noise-report --tracker: every point of results.json (references, computed and reused points)
is a sub-run with its settings and scores, beside the report's settings and files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from report_helpers import DampedEstimator
from tracking_helpers import mlflow_artifacts, mlflow_runs, tb_events, tb_hparams, tb_scalars

from qsdaqec.cli import cli
from qsdaqec.tracking import slug


@pytest.fixture
def damped(monkeypatch):
    from qsdaqec.experiments.noise import report

    monkeypatch.setattr(report, "make_estimator", lambda s, c: DampedEstimator(s, c))


def _report(run, out, *extra):
    args = [
        "noise-report",
        "--run",
        str(run),
        "--out",
        str(out),
        "--backends",
        "aer_noisy:fake_manila",
        "--noise-scales",
        "0,1",
        "--shots",
        "exact,512",
        "--mitigation",
        "none",
        "--no-progress",
        *extra,
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return json.loads((out / "results.json").read_text())["points"]


def test_points_to_mlflow_child_runs(angle_run, tmp_path, mlflow_uri, damped):
    out = tmp_path / "o"
    points = _report(angle_run, out, "--tracker", "mlflow", "--tracking-uri", mlflow_uri)
    runs = mlflow_runs(mlflow_uri, "qsdaqec noise-report")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.run_name == "o" and parent.info.status == "FINISHED"
    assert parent.data.params["backends"] == "['aer_noisy:fake_manila']"
    assert parent.data.params["n_test"] == "10"  # make_run's test split
    children = {r.info.run_name: r for r in runs if r is not parent}
    assert set(children) == {p["key"] for p in points} and len(points) == 5  # 3 + 2 references
    for p in points:
        child = children[p["key"]]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params["kind"] == p["kind"]
        assert child.data.params["backend"] == str(p["backend"])
        if p["kind"] == "simulation":
            assert float(child.data.params["noise_scale"]) == p["noise_scale"]
            assert child.data.params["shots"] == str(p["shots"] or "exact")
        for name in ("balanced_accuracy", "auc", "agree_exact"):
            if p.get(name) is not None:
                assert child.data.metrics[name] == pytest.approx(p[name], nan_ok=True), name
    files = mlflow_artifacts(mlflow_uri, parent.info.run_id)
    assert {"report.html", "results.json", "results.csv", "plots"} <= set(files)
    assert mlflow_artifacts(mlflow_uri, parent.info.run_id, "plots")


def test_points_to_tensorboard_sessions_also_when_reused(angle_run, tmp_path, damped):
    out = tmp_path / "o"
    _report(angle_run, out)  # computed untracked; the tracked call reuses every point
    points = _report(angle_run, out, "--tracker", "tensorboard")
    logdir = out / "tensorboard"
    for p in points:
        point = logdir / slug(p["key"])
        assert tb_scalars(point)["balanced_accuracy"] == [
            (0, pytest.approx(p["balanced_accuracy"], nan_ok=True))
        ]
        params = tb_hparams(point)
        assert params["kind"] == p["kind"]
        if p["kind"] == "simulation":
            assert params["noise_scale"] == p["noise_scale"]
    images = tb_events(logdir).Tags()["images"]
    assert images and all(tag.startswith("plots/") for tag in images)
