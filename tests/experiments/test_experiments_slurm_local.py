"""The Slurm executor's code path for real, through submitit's local executor: each fit is
pickled into a job folder and run by a separate process; one job is killed mid-fit, the other
fit goes on, and the next `qsdaqec run` resumes the killed one without refitting the other."""

from __future__ import annotations

import csv
import threading

import pytest
from click.testing import CliRunner
from exp_helpers import KILL_SPEC, kill_when_training, make_folder, write_spec

from qsdaqec.cli import cli
from qsdaqec.experiments import fit_state, load_spec

pytest.importorskip("submitit")


def test_slurm_local_runs_fits_as_jobs_and_survives_a_killed_one(tmp_path):
    data = make_folder(tmp_path / "data")
    spec_path = write_spec(tmp_path, KILL_SPEC.format(data=data))
    spec = load_spec(spec_path)
    quick, slow = (tmp_path / "fits" / p.dirname for p in spec.fits())
    out = tmp_path / "res"
    killed: list[int] = []
    killer = threading.Thread(
        target=kill_when_training, args=(tmp_path / "fits" / "logs" / f"{slow.name}.log", killed)
    )
    killer.start()
    args = ["run", str(spec_path), "--out", str(out), "--fits", str(tmp_path / "fits")]
    r = CliRunner().invoke(cli, [*args, "--executor", "slurm", "--slurm-local", "--quiet"])
    killer.join()
    assert killed, r.output
    assert r.exit_code == 1, r.output
    assert f"FAILED (fit {slow.name}): Slurm job" in r.output
    assert f"logs/{slow.name}.log" in r.output and str(out / "slurm") in r.output
    assert "1 ran" in r.output and "1 failed" in r.output
    # the quick fit ran in a job of its own and is tabulated as a local run would
    assert fit_state(quick) == "finished" and fit_state(slow) == "interrupted"
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert [r_["variant"] for r_ in rows if r_["accuracy"]] == ["quick"]
    local = CliRunner().invoke(
        cli,
        [*args[:2], "--out", str(tmp_path / "local"), "--fits", str(tmp_path / "lf")]
        + ["--only", "quick", "--quiet"],
    )
    assert local.exit_code == 0, local.output
    ref = next(csv.DictReader((tmp_path / "local" / "runs.csv").open()))
    assert (rows[0]["accuracy"], rows[0]["auc"]) == (ref["accuracy"], ref["auc"])
    # the next run, here in this process, resumes the killed fit (its stale lock taken over)
    again = CliRunner().invoke(cli, [*args, "--quiet"])
    assert again.exit_code == 0, again.output
    assert "0 ran, 1 resumed, 1 already finished" in again.output
    assert fit_state(slow) == "finished"
