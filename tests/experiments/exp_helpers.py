"""Helpers of the experiment tests: spec text, and a fake ``fit`` that writes a finished run."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

SPEC = """
[experiment]
description = "test"
seeds = [0, 1]
test_sets = ["original"]
metrics = ["accuracy", "auc"]

[base]
image_size = 32
epochs = 1
weights = "none"

[[variants]]
name = "quantum"
head = "quantum"

[[variants]]
name = "dense"
head = "classical"
"""


#: A real tiny spec (4 fits of a few seconds each on ``make_folder`` data).
TINY = """
[experiment]
description = "tiny end-to-end"
seeds = [0, 1]
test_sets = ["original", "balanced"]
metrics = ["accuracy", "auc", "sensitivity", "fit_seconds"]

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
name = "quantum"
head = "quantum"

[[variants]]
name = "dense"
head = "classical"
"""


def write_spec(tmp_path: Path, text: str = SPEC, name: str = "exp.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


class FakeFit:
    """Stands in for ``qsdaqec.train.fit``: records calls, writes config/run/metrics JSON.

    Accuracy = 0.5 + 0.1 * seed (+ 0.05 for the classical head), AUC = 0.9 - 0.1 * seed.
    ``interrupt_on``: a set of (head, seed) whose first call leaves an unfinished run and raises.
    """

    def __init__(self, interrupt_on=()):
        self.calls = []
        self.interrupt_on = set(interrupt_on)

    def __call__(self, cfg, log=None, **kw):
        self.calls.append(cfg)
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict()))
        key = (cfg.head, cfg.seed)
        if key in self.interrupt_on:
            self.interrupt_on.discard(key)
            (out / "run.json").write_text(json.dumps({"status": "running", "stages": []}))
            raise KeyboardInterrupt
        acc = 0.5 + 0.1 * cfg.seed + (0.05 if cfg.head == "classical" else 0.0)
        test = {
            "accuracy": acc,
            "auc": 0.9 - 0.1 * cfg.seed,
            "f1": 0.5,
            "sensitivity": 0.5,
            "specificity": 0.5,
            "n": 10,
        }
        (out / "metrics.json").write_text(json.dumps({"test": test}))
        (out / "model.pt").write_bytes(b"")  # a finished run has its model (RunDir.finished)
        (out / "run.json").write_text(
            json.dumps(
                {
                    "status": "finished",
                    "stages": [{"stage": 1, "seconds": 2.0}],
                    "evaluation": {"seconds": 1.0},
                }
            )
        )
        return out


def make_folder(
    root: Path, n_normal: int = 12, n_stenosis: int = 8, size: int = 32, seed: int = 0
) -> Path:
    """A tiny ImageFolder: a dark vertical 'vessel'; stenosis images have a bright gap in it."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, n in (("normal", n_normal), ("stenosis", n_stenosis)):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = 0.7 + 0.1 * rng.standard_normal((size, size))
            c = size // 2 + int(rng.integers(-3, 4))
            img[:, c - 2 : c + 2] = 0.2
            if name == "stenosis":
                r = int(rng.integers(8, size - 8))
                img[r - 3 : r + 3, c - 2 : c + 2] = 0.65
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"{i:03d}.png")
    return root


#: Two fits: "slow" trains long enough to be killed mid-fit (kill_when_training).
KILL_SPEC = """
[experiment]
seeds = [0]
metrics = ["accuracy", "auc"]

[base]
data = "{data}"
image_size = 32
batch_size = 8
val_frac = 0.25
test_frac = 0.25
weights = "none"
head = "classical"
num_threads = 1  # as the jobs (one CPU each), so the local reference computes the same

[[variants]]
name = "quick"
epochs = 1

[[variants]]
name = "slow"
epochs = 40
"""


def kill_when_training(log, seen, timeout=120.0):
    """SIGKILL the worker whose log is ``log`` once its fit finished two epochs."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        text = log.read_text() if log.is_file() else ""
        pid = re.search(r"task on \S+ pid (\d+)", text)
        if pid and "epoch 2/40" in text:
            os.kill(int(pid.group(1)), signal.SIGKILL)
            seen.append(int(pid.group(1)))
            return
        time.sleep(0.05)


_HOLD = (
    "import sys, time, filelock\n"
    "lock = filelock.FileLock(sys.argv[1])\n"
    "lock.acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


class LockHolder:
    """Another process holding the file lock at ``path`` (``filelock.FileLock``, as a fit or a
    ``qsdaqec run`` does) until :meth:`kill` ends it the way a crash would: SIGKILL, no
    clean-up, the lock file left behind."""

    def __init__(self, path: Path):
        import subprocess
        import sys

        path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout.readline().strip() == "held"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.kill()
