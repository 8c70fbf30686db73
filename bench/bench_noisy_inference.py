"""Noisy inference speed of the quantum head, per encoding: samples per second at N shots.

    python bench/bench_noisy_inference.py [--samples 64] [--backend fake_torino] [--shots 4096]

For each encoding (the paper's ``amplitude``, ``schmidt``, ``angle``), side by side in one run:

- ``aer_noisy``: the runner's ``aer_noisy:<backend>`` estimator with ``--shots`` (what
  ``qsdaqec evaluate --backend aer_noisy --shots N`` and stage 2 use): the ISA circuit's
  active qubits, the device's noise model on them, shot sampling with readout error;
- ``fake``: qiskit-ibm-runtime's ``EstimatorV2`` in local testing mode on the fake device (what
  ``qsdaqec jobs submit --backend fake:<backend>`` runs), on ``--fake-samples`` samples.

Inputs are the head's own feature map of non-negative random features (ReLU-like) with random
weights; speed does not depend on the values. The transpilation and noise-model set-up are done
by a warm-up call and reported apart. Also printed: the ISA depth and two-qubit count.
Target (issue 14): the hardware-viable head >= 20 samples/s on aer_noisy at 4096 shots on 2
cores. JSON to --out (default .benchmarks/noisy_inference.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsdaqec.quantum.circuits import (  # noqa: E402
    HeadConfig,
    build_head_circuit,
    features_to_inputs,
)
from qsdaqec.runner import RunnerConfig, fake_backend, make_estimator  # noqa: E402

TARGET = 20.0


def head_pub(encoding: str, n: int, seed: int = 0):
    """The head circuit, its observables, and ``(n, P)`` values in ``circuit.parameters`` order."""
    hc = build_head_circuit(HeadConfig(encoding=encoding))
    rng = np.random.default_rng(seed)
    feats = np.maximum(rng.normal(size=(n, 256)), 0.0)
    if encoding == "angle":  # a random Linear(256 -> 4), then pi * sigmoid
        z = feats @ rng.normal(0, 0.1, (256, 4))
        inputs = np.pi / (1 + np.exp(-z))
    else:
        inputs = features_to_inputs(feats, hc.config)
    weights = rng.uniform(-1, 1, len(hc.weight_params))
    named = dict(zip(hc.input_params, inputs.T, strict=True))
    named.update({p: np.full(n, w) for p, w in zip(hc.weight_params, weights, strict=True)})
    values = np.stack([named[p] for p in hc.circuit.parameters], axis=1)
    return hc.circuit, hc.observables, values


def time_aer(encoding: str, backend: str, shots: int, n: int) -> dict:
    qc, obs, values = head_pub(encoding, n)
    est = make_estimator(f"aer_noisy:{backend}", RunnerConfig(shots=shots, cache_dir=""))
    t0 = time.perf_counter()
    est.run([(qc, [[o] for o in obs], values[:1])]).result()  # transpile + noise model
    setup = time.perf_counter() - t0
    stats = est.prepare(qc).stats
    t0 = time.perf_counter()
    est.run([(qc, [[o] for o in obs], values)]).result()
    wall = time.perf_counter() - t0
    return {
        "setup_s": round(setup, 3),
        "seconds": round(wall, 3),
        "samples": n,
        "samples_per_s": round(n / wall, 2),
        "isa_depth": int(stats.get("depth", 0)),
        "two_qubit_gates": int(stats.get("two_qubit_gates", 0)),
    }


def time_fake(encoding: str, backend: str, shots: int, n: int) -> dict:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import EstimatorV2

    qc, obs, values = head_pub(encoding, n)
    device = fake_backend(backend)
    isa = generate_preset_pass_manager(2, backend=device, seed_transpiler=0).run(qc)
    mapped = [[o.apply_layout(isa.layout)] for o in obs]
    est = EstimatorV2(mode=device, options={"default_shots": shots})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.run([(isa, mapped, values)]).result()
        wall = time.perf_counter() - t0
    return {"seconds": round(wall, 3), "samples": n, "samples_per_s": round(n / wall, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--fake-samples", type=int, default=4)
    ap.add_argument("--backend", default="fake_torino")
    ap.add_argument("--shots", type=int, default=4096)
    ap.add_argument("--encodings", default="amplitude,schmidt,angle")
    ap.add_argument("--skip-fake", action="store_true", help="aer_noisy only")
    ap.add_argument("--out", default=".benchmarks/noisy_inference.json")
    args = ap.parse_args(argv)

    report: dict = {"backend": args.backend, "shots": args.shots, "encodings": {}}
    for enc in args.encodings.split(","):
        row = {"aer_noisy": time_aer(enc, args.backend, args.shots, args.samples)}
        if not args.skip_fake:
            row["fake"] = time_fake(enc, args.backend, args.shots, args.fake_samples)
        report["encodings"][enc] = row
        a = row["aer_noisy"]
        line = (
            f"{enc:<10} {a['two_qubit_gates']:>4} two-qubit gates, depth {a['isa_depth']:>5}; "
            f"aer_noisy {a['samples_per_s']:>8.1f} samples/s ({a['samples']} in {a['seconds']} s, "
            f"set-up {a['setup_s']} s)"
        )
        if "fake" in row:
            line += f"; fake: {row['fake']['samples_per_s']:.2f} samples/s"
        print(line, flush=True)
    rates = {e: r["aer_noisy"]["samples_per_s"] for e, r in report["encodings"].items()}
    if "amplitude" in rates:
        report["speedup_vs_amplitude"] = {
            e: round(r / rates["amplitude"], 1) for e, r in rates.items()
        }
        print("speed-up over amplitude:", report["speedup_vs_amplitude"])
    best = max((r for e, r in rates.items() if e != "amplitude"), default=0.0)
    report["target_samples_per_s"] = TARGET
    report["pass"] = best >= TARGET
    print(
        f"target >= {TARGET:g} samples/s for a hardware-viable head: "
        f"{'PASS' if report['pass'] else 'FAIL'} (best {best:.1f})"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
