"""A fit killed with SIGKILL (a real process, no cleanup) in stage 1 or stage 2, then resumed,
ends exactly where an uninterrupted fit ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import tiny_cfg

from qsdaqec.train import fit

HELPERS = str(Path(__file__).parent)

SCRIPT = """
import json, os, signal, sys
sys.path.insert(0, sys.argv[1])
from train_helpers import tiny_cfg
from qsdaqec.train import fit

data, out, stage, epoch, kw = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]

def hook(s, e, row):
    if (s, e) == (stage, epoch):  # right after that epoch's checkpoint
        os.kill(os.getpid(), signal.SIGKILL)

fit(tiny_cfg(data, out, **json.loads(kw)), log=lambda m: None, on_epoch_end=hook)
"""

CASES = {
    "stage 1": ((1, 1), dict(head="quantum", epochs=3, patience=0)),
    "stage 1, vessel input, adamw, one-cycle, EMA, affine views": (
        (1, 1),
        dict(
            head="classical",
            epochs=3,
            patience=0,
            input="vessel",
            optimizer="adamw",
            schedule="onecycle",
            ema=0.9,
            label_smoothing=0.1,
            rot90=True,
            affine_degrees=10.0,
            affine_scale=0.1,
            affine_shift=0.05,
            weight_decay=0.02,
        ),
    ),  # fmt: skip
    "stage 2": ((2, 1), dict(head="quantum", epochs=1, backend="aer", noisy_epochs=2)),
    # shot noise and device noise: the runner's own random generator draws the shots, so a
    # resume must restore it too (issue 29, item 4)
    "stage 2 on aer_noisy": (
        (2, 1),
        dict(head="quantum", epochs=1, backend="aer_noisy", noisy_epochs=2, shots=256),
    ),
}


def _strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def _read(run, name):
    return json.loads((Path(run) / name).read_text())


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("case", list(CASES))
def test_killed_fit_resumes_to_the_uninterrupted_result(case, tiny_data, tmp_path):
    (stage, epoch), kw = CASES[case]
    cut = tmp_path / "cut"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, HELPERS, str(tiny_data), str(cut), str(stage), str(epoch),
         json.dumps(kw)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]  # killed, not finished
    assert (cut / "checkpoint.pt").is_file() and not (cut / "model.pt").exists()
    rows = _read(cut, "history.json")  # complete JSON: every write is atomic
    assert (rows[-1]["stage"], rows[-1]["epoch"]) == (stage, epoch)
    assert _read(cut, "run.json")["status"] == "running"

    # resumed as `qsdaqec fit --out DIR --resume`: the saved config, not the options, applies
    fit(tiny_cfg(tiny_data, cut, resume=True), log=lambda m: None)
    full = fit(tiny_cfg(tiny_data, tmp_path / "full", **kw), log=lambda m: None)
    assert _strip(_read(cut, "history.json")) == _strip(_read(full, "history.json"))
    assert _read(cut, "metrics.json")["test"] == _read(full, "metrics.json")["test"]
    assert not (cut / "checkpoint.pt").exists()
