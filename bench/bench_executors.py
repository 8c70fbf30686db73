"""Scale-out of `qsdaqec run` and `qsdaqec noise-report`: a small spec and a small noise grid,
side by side in one run, with ``--executor local`` and ``--executor ray`` (a local Ray cluster
on this machine's CPUs, one CPU per task), each into a fresh fit store.

    python bench/bench_executors.py [--n 300] [--image-size 96] [--epochs 10] [--out DIR]

Fits: 2 variants (quantum and dense head) x 2 seeds on ``qsdaqec data synth --n N``. ``local``
runs them one after another, each with torch's default threads (all cores); ``local-1t`` the
same with one torch thread per fit (``--num-threads 1``); ``ray`` runs one per CPU at once, each
with one torch thread (``--cpus-per-task 1``). ``ray`` against ``local-1t`` is the task-level
parallelism; against ``local`` what it adds on this machine, where one fit already uses every
core. Points: the first quantum fit's noise report on aer_noisy (4 points; not for local-1t).
Walls are of the whole command (process start, imports, Ray's start-up included). Prints a
table and writes JSON to ``OUT/executors.json``. Needs ``pip install 'qsdaqec[ray]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SPEC = """
[experiment]
name = "scaleout"
seeds = [0, 1]
metrics = ["accuracy", "auc"]

[base]
data = "{data}"
image_size = {size}
epochs = {epochs}
weights = "none"

[[variants]]
name = "quantum"
head = "quantum"

[[variants]]
name = "dense"
head = "classical"
"""


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return wall


def _row(name, kind, extra, spec, out, noise) -> dict:
    """One executor: the spec into a fresh fit store, then (``noise``) the noise report."""
    store = out / f"fits-{name}-{time.strftime('%H%M%S')}"
    cmd = ["qsdaqec", "run", str(spec), "--fits", str(store), "--quiet", *extra]
    cmd += ["--out", str(out / f"res-{name}"), "--executor", kind]
    row = {"executor": name, "fits_s": _timed(cmd), "noise_s": None}
    if noise:
        quantum = next(store.glob("sdaqec-quantum-s0-*"))
        cmd = ["qsdaqec", "noise-report", "--run", str(quantum), "--executor", kind]
        cmd += ["--out", str(store / "noise"), "--noise-scales", "0,1", "--shots", "1024,4096"]
        row["noise_s"] = _timed([*cmd, "--mitigation", "none", "--no-progress"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default=".benchmarks/executors")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    data = out / "data"
    if not data.is_dir():
        _timed(["qsdaqec", "data", "synth", "--out", str(data), "--n", str(a.n), "--size", "128"])
    spec = out / "scaleout.toml"
    spec.write_text(SPEC.format(data=data, size=a.image_size, epochs=a.epochs))
    rows = [
        _row("local", "local", [], spec, out, noise=True),
        _row("local-1t", "local", ["--num-threads", "1"], spec, out, noise=False),
        _row("ray", "ray", [], spec, out, noise=True),
    ]
    by = {r["executor"]: r for r in rows}
    result = {
        "cpus": os.cpu_count(),
        "fits": 4,
        "noise_points": 4,
        "settings": vars(a),
        "rows": rows,
        "speedup_fits_vs_local": by["local"]["fits_s"] / by["ray"]["fits_s"],
        "speedup_fits_vs_local_1t": by["local-1t"]["fits_s"] / by["ray"]["fits_s"],
        "speedup_noise": by["local"]["noise_s"] / by["ray"]["noise_s"],
    }
    print(
        f"{os.cpu_count()} CPUs; 4 fits ({a.image_size} px, {a.epochs} epochs, n={a.n}); 4 points"
    )
    print(f"{'executor':<10}{'run (s)':>10}{'noise-report (s)':>18}")
    for r in rows:
        noise = f"{r['noise_s']:.1f}" if r["noise_s"] is not None else "-"
        print(f"{r['executor']:<10}{r['fits_s']:>10.1f}{noise:>18}")
    print(
        f"ray speed-up: fits {result['speedup_fits_vs_local']:.2f}x over local, "
        f"{result['speedup_fits_vs_local_1t']:.2f}x over local-1t; "
        f"points {result['speedup_noise']:.2f}x over local"
    )
    (out / "executors.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
