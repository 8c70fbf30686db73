"""The README's main command at tiny size, in the default suite: `qsdaqec fit --backend
aer_noisy` trains stage 1 exactly, then fine-tunes the head (the hardware-viable schmidt
encoding by default there) on Aer with FakeTorino's noise at 4096 shots (device transpilation,
parameter-shift gradients), and scores the test split on that backend, exactly, and before stage
2 (~30-40 s on 2 CPU cores)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from train_helpers import make_folder

from qsdaqec.cli import cli


def test_fit_on_aer_noisy_runs_both_stages(tmp_path):
    data = make_folder(tmp_path / "data", n_normal=10, n_stenosis=6)
    out = tmp_path / "run"
    args = ["fit", "--backend", "aer_noisy", "--data", str(data), "--out", str(out),
            "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--weights", "none",
            "--val-frac", "0.25", "--test-frac", "0.25", "--num-threads", "1",
            "--noisy-epochs", "1", "--noisy-subset", "2", "--no-progress"]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "test on aer_noisy:" in r.output and "test exact (same weights):" in r.output
    info = json.loads((out / "run.json").read_text())
    stage1, stage2 = info["stages"]
    assert stage1["backend"] == "exact (fast path)" and stage1["status"] == "done"
    assert stage2["backend_resolved"] == "aer_noisy:fake_torino" and stage2["status"] == "done"
    assert stage2["gradient"] == "parameter-shift (runner)" and stage2["samples_per_epoch"] == 2
    assert info["head"]["config"]["encoding"] == "schmidt"
    assert stage2["runner_config"]["shots"] == 4096  # what hardware returns, not exact values
    assert json.loads((out / "config.json").read_text())["shots"] == 4096
    hist = json.loads((out / "history.json").read_text())
    assert [(h["stage"], h["epoch"]) for h in hist] == [(1, 1), (2, 0), (2, 1)]
    m = json.loads((out / "metrics.json").read_text())
    assert m["test_backend"] == "aer_noisy" and m["test"]["n"] == m["test_exact"]["n"] == 4
    # device noise shrinks the expectation values: the noisy and exact scores are computed apart
    assert m["test"]["loss"] != m["test_exact"]["loss"]
    # the stage-1 head as it was, on the same backend: what stage 2 changed
    assert m["test_before_stage2"]["n"] == 4 and "before stage 2:" in r.output
    assert m["test_before_stage2"]["loss"] != m["test"]["loss"]  # the output layer was refit
