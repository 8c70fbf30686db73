"""Noisy forward of the quantum head: naive Aer vs the runner's active-qubit simulation.

    python bench/bench_noisy_forward.py [--batch 32] [--backend fake_torino] [--shots 4096]

naive  = what EstimatorQNN sends (one PUB per observable, each with the whole batch) to
         ``qiskit_aer.primitives.EstimatorV2.from_backend(FakeTorino())``: the full 133-qubit
         device noise model on the transpiled 133-qubit ISA circuit (exact density-matrix
         expectations, no readout error: Aer's estimator saves expectation values).
single = the same naive estimator given ONE broadcast PUB (observables (4,1) x batch), i.e.
         the fairest use of the naive setup.
runner = ``make_estimator("aer_noisy:<backend>")`` given the same logical PUBs as naive:
         grouped into one parameter array, compacted to the active qubits, noise model of those
         qubits only; exact (density matrix) and with ``--shots`` (readout error included).

Both use the same ISA circuit (the runner's cached transpilation). Agreement is checked:
runner exact without readout error == naive exact; runner shots vs runner exact within 4 sigma.
Writes a JSON summary to --out (default .benchmarks/noisy_forward.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def timed(report: dict, name: str):
    """Wall (``<name>``) and process CPU time, all threads (``<name>_cpu``)."""
    w, c = time.perf_counter(), time.process_time()
    yield
    report[name] = time.perf_counter() - w
    report[name + "_cpu"] = time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--backend", default="fake_torino")
    ap.add_argument("--encoding", default="amplitude", choices=["amplitude", "angle"])
    ap.add_argument("--shots", type=int, default=4096)
    ap.add_argument("--opt-level", type=int, default=2)
    ap.add_argument("--skip-single", action="store_true", help="skip the single-PUB naive run")
    ap.add_argument("--out", default=".benchmarks/noisy_forward.json")
    args = ap.parse_args(argv)

    from qiskit_aer.primitives import EstimatorV2 as AerEstimator

    from qsdaqec.quantum.circuits import HeadConfig, build_head_circuit
    from qsdaqec.runner import RunnerConfig, fake_backend, make_estimator

    head = build_head_circuit(HeadConfig(encoding=args.encoding))
    qc, obs = head.circuit, head.observables
    rng = np.random.default_rng(7)
    vals = rng.uniform(0, np.pi, (args.batch, qc.num_parameters))
    spec = f"aer_noisy:{args.backend}"
    common = dict(optimization_level=args.opt_level, cache_dir="")
    report: dict = {"batch": args.batch, "backend": args.backend, "encoding": args.encoding}

    # ---- runner, exact (cold: includes transpile + noise model; warm: cached)
    est = make_estimator(spec, RunnerConfig(**common))
    with timed(report, "runner_setup_s"):
        est.run([(qc, o, vals[:1]) for o in obs]).result()
    prog = est.prepare(qc)
    isa = est.cache.memory[prog.key]
    report["isa"] = prog.stats | {
        "active_qubits": list(prog.active),
        "device_qubits": isa.num_qubits,
    }
    with timed(report, "runner_exact_s"):
        res = est.run([(qc, o, vals) for o in obs]).result()
    fast_exact = np.stack([r.data.evs for r in res], 1)

    est_nr = make_estimator(spec, RunnerConfig(readout_error=False, **common))
    est_nr.cache.memory.update(est.cache.memory)
    with timed(report, "runner_exact_no_readout_s"):
        res_nr = est_nr.run([(qc, o, vals) for o in obs]).result()
    fast_noro = np.stack([r.data.evs for r in res_nr], 1)

    est_s = make_estimator(spec, RunnerConfig(shots=args.shots, **common))
    est_s.cache.memory.update(est.cache.memory)
    with timed(report, "runner_shots_s"):
        res_s = est_s.run([(qc, o, vals) for o in obs]).result()
    fast_shots = np.stack([r.data.evs for r in res_s], 1)
    fast_stds = np.stack([r.data.stds for r in res_s], 1)
    print(
        f"runner: exact {report['runner_exact_s']:.2f} s, shots={args.shots} "
        f"{report['runner_shots_s']:.2f} s (active qubits {len(prog.active)})",
        flush=True,
    )

    # ---- naive: full device noise model on the 133-qubit ISA circuit
    device = fake_backend(args.backend)
    with timed(report, "naive_setup_s"):
        naive = AerEstimator.from_backend(device)
    mapped = [o.apply_layout(isa.layout) for o in obs]
    with timed(report, "naive_qnn_s"):
        res_n = naive.run([(isa, m, vals) for m in mapped]).result()
    naive_exact = np.stack([r.data.evs for r in res_n], 1)
    print(f"naive (EstimatorQNN-style, {len(obs)} PUBs): {report['naive_qnn_s']:.2f} s", flush=True)
    if not args.skip_single:
        with timed(report, "naive_single_pub_s"):
            naive.run([(isa, [[m] for m in mapped], vals)]).result()
        print(f"naive (one broadcast PUB): {report['naive_single_pub_s']:.2f} s", flush=True)

    for base in ("naive_qnn_s", "naive_single_pub_s"):
        if base in report:
            tag = base[:-2]
            report[f"speedup_vs_{tag}"] = report[base] / report["runner_exact_s"]
            report[f"speedup_vs_{tag}_cpu"] = report[base + "_cpu"] / report["runner_exact_s_cpu"]
    report["max_abs_diff_exact_vs_naive"] = float(np.abs(fast_noro - naive_exact).max())
    z = np.abs(fast_shots - fast_exact) / np.maximum(fast_stds, 1e-12)
    report["shots_max_sigma"] = float(z.max())
    report["readout_shift_mean"] = float(np.abs(fast_exact - fast_noro).mean())
    ok = report["max_abs_diff_exact_vs_naive"] < 1e-6 and report["shots_max_sigma"] < 5
    report["agree"] = bool(ok)
    print(json.dumps({k: v for k, v in report.items() if k != "isa"}, indent=1, default=float))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
