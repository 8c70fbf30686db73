"""Ray for real (integration): a local cluster, `ray.init(num_cpus=2)`, runs a tiny spec's fits
as Ray tasks and a noise report's points; tables and points equal those of a local run, and a
task whose worker is killed is reported while the others finish."""

from __future__ import annotations

import csv
import json
import threading

import pytest
from click.testing import CliRunner
from exp_helpers import KILL_SPEC, TINY, kill_when_training, make_folder, write_spec

from qsdaqec.cli import cli
from qsdaqec.experiments import fit_state, load_spec

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _table(path):
    cols = ("variant", "seed", "test_set", "accuracy", "auc", "sensitivity")
    return [tuple(r[c] for c in cols) for r in csv.DictReader(path.open())]


def test_ray_fits_and_points_equal_local_ones(tmp_path, cluster):
    data = make_folder(tmp_path / "data")
    spec = write_spec(tmp_path, TINY.format(data=data))
    runs = {}
    for kind in ("local", "ray"):
        out = tmp_path / kind
        r = CliRunner().invoke(
            cli,
            ["run", str(spec), "--out", str(out), "--fits", str(tmp_path / f"fits-{kind}")]
            + ["--executor", kind, "--quiet"],
        )
        assert r.exit_code == 0, r.output
        assert "fits: 4 ran" in r.output
        runs[kind] = _table(out / "runs.csv")
    assert runs["ray"] == runs["local"] and len(runs["ray"]) == 8
    assert "ray: cluster with 2 CPU(s)" in r.output and "4 fit(s) to ray" in r.output

    quantum = next((tmp_path / "fits-ray").glob("sdaqec-quantum-s0-*"))
    reports = {}
    for kind in ("local", "ray"):
        out = tmp_path / f"noise-{kind}"
        r = CliRunner().invoke(
            cli,
            ["noise-report", "--run", str(quantum), "--out", str(out), "--executor", kind]
            + ["--noise-scales", "0,1", "--shots", "64,256", "--mitigation", "none"]
            + ["--backends", "aer_noisy:fake_guadalupe", "--no-progress"],
        )
        assert r.exit_code == 0, r.output
        pts = json.loads((out / "results.json").read_text())["points"]
        reports[kind] = {p["key"]: (p.get("metrics"), p.get("ev_mae")) for p in pts}
    assert reports["ray"] == reports["local"] and len(reports["ray"]) == 6  # 4 points + 2 refs


def test_killed_ray_worker_is_reported_and_resumed(tmp_path, cluster):
    data = make_folder(tmp_path / "data")
    spec_path = write_spec(tmp_path, KILL_SPEC.format(data=data))
    quick, slow = (tmp_path / "fits" / p.dirname for p in load_spec(spec_path).fits())
    killed: list[int] = []
    log = tmp_path / "fits" / "logs" / f"{slow.name}.log"
    killer = threading.Thread(target=kill_when_training, args=(log, killed))
    killer.start()
    args = ["run", str(spec_path), "--out", str(tmp_path / "res"), "--fits", str(tmp_path / "fits")]
    r = CliRunner().invoke(cli, [*args, "--executor", "ray", "--quiet"])
    killer.join()
    assert killed and r.exit_code == 1, r.output
    assert f"FAILED (fit {slow.name})" in r.output and "1 ran" in r.output
    assert fit_state(quick) == "finished" and fit_state(slow) == "interrupted"
    again = CliRunner().invoke(cli, [*args, "--executor", "ray", "--quiet"])
    assert again.exit_code == 0 and "1 resumed, 1 already finished" in again.output
