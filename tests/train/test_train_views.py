"""Test-time views in a trained run: every scoring path averages the backbone's features over
the run's views (so evaluate, predict and hardware inputs agree with the fit's own test), runs
saved before the option score one view, and the paper's preset uses one."""

from __future__ import annotations

import json

import torch
from cli_helpers import handled_error
from click.testing import CliRunner
from train_helpers import tiny_cfg

from qsdaqec.cli import cli
from qsdaqec.models import dihedral_views
from qsdaqec.train import FitConfig, evaluate, fit, load_run
from qsdaqec.train.presets import preset_config


def test_scoring_paths_average_the_same_views(tiny_data, tmp_path):
    run_dir = fit(tiny_cfg(tiny_data, tmp_path / "r", test_views=8), log=lambda m: None)
    run = load_run(run_dir, "cpu")
    assert run.cfg.test_views == 8
    images, _, _ = run.data().part("test")
    run.model.eval()
    with torch.no_grad():
        want = torch.stack([run.model.features(v) for v in dihedral_views(images, 8)]).mean(0)
        single = run.model.features(images)
    got = run.features(images)
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, single, atol=1e-3)
    # the fit's test and a later evaluate score the same features: the same metrics
    m = json.loads((run_dir / "metrics.json").read_text())["test"]
    again = evaluate(run_dir, "statevector", out=tmp_path / "ev", log=lambda m: None)["test"]
    assert again["auc"] == m["auc"] and again["accuracy"] == m["accuracy"]


def test_runs_saved_before_views_score_one_and_the_paper_preset_too():
    assert FitConfig.from_dict({"epochs": 3}).test_views == 1
    assert FitConfig.from_dict({"test_views": 4}).test_views == 4
    assert FitConfig().test_views == 8
    assert preset_config("paper").test_views == 1


def test_bad_views_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["fit", "--test-views", "3", "--out", str(tmp_path / "r")])
    handled_error(r, "test_views=3", "1, 2, 4, 8")
    assert not (tmp_path / "r").exists()
