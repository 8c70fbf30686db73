"""Hardware jobs per N samples: the runner's PUB batching vs naive one-PUB-per-sample.

Nothing is sent anywhere: the bench counts what *would* be submitted for inference of N
samples through the quantum head (default ``HeadConfig``: amplitude encoding, 4 observables
Z_i) under the default service limits (``qsdaqec.runner.ServiceLimits``) and the default
shots of ``qsdaqec jobs submit`` (``JobOptions().shots``):

* runner (jobs)   ``qsdaqec.runner.jobs.plan_parts``: what ``qsdaqec jobs submit`` sends; one
                  PUB carries many samples (parameter array ``(n, 1, P)`` broadcast against the
                  ``(1, 4)`` observables), jobs are cut only where a limit forces it;
* runner (est.)   ``RunnerEstimator.plan`` on ``fake:<backend>`` (transpiled locally, nothing
                  run): what ``fit``/``evaluate`` use for ``fake:``/``ibm:``; a cross-check;
* naive, 1 job/sample   ``EstimatorV2.run([pub])`` in a loop over samples: N jobs;
* naive, packed   one PUB per sample, as many PUBs per job as the limits allow (at most
                  ``max_pubs_per_job``).

    python bench/bench_jobs.py                       # N = 1, 32, 1000, 10000, 100000
    python bench/bench_jobs.py --shots 1024 --no-estimator
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

NS = (1, 32, 1000, 10_000, 100_000)


def naive_packed_jobs(n: int, n_obs: int, shots: int, lim) -> int:
    """One PUB per sample; a job holds as many PUBs as every limit allows."""
    per_job = min(
        lim.max_pubs_per_job,
        lim.max_params_per_job // n_obs,
        lim.max_shots_per_job // (n_obs * shots),
    )
    return math.ceil(n / max(1, per_job))


def estimator_counts(
    ns, circuit, observables, shots: int, backend: str
) -> dict[int, tuple[int, int]]:
    """(jobs, PUBs) the runner's estimator would submit for one PUB of N samples."""
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    from qsdaqec.runner import RunnerConfig, make_estimator

    est = make_estimator(backend, RunnerConfig(shots=shots, cache_dir=""))
    rng = np.random.default_rng(0)
    out = {}
    for n in ns:
        values = rng.uniform(0, np.pi, size=(n, 1, circuit.num_parameters))
        pub = EstimatorPub.coerce((circuit, [observables], values))
        plan = est.plan([pub])
        out[n] = (len(plan.jobs), sum(len(j) for j in plan.jobs))
    return out


def main(argv: list[str] | None = None) -> int:
    from qsdaqec.quantum import HeadConfig, build_head_circuit
    from qsdaqec.runner.jobs import JobLimits, JobOptions, plan_parts

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", default=",".join(map(str, NS)), help="sample counts, comma separated")
    ap.add_argument("--shots", type=int, default=JobOptions().shots)
    ap.add_argument("--encoding", choices=("amplitude", "angle"), default=HeadConfig().encoding)
    ap.add_argument(
        "--backend", default="fake:fake_fez", help="backend of the estimator cross-check"
    )
    ap.add_argument(
        "--no-estimator", action="store_true", help="skip the RunnerEstimator cross-check"
    )
    args = ap.parse_args(argv)
    ns = [int(x) for x in args.ns.split(",") if x.strip()]

    hc = build_head_circuit(HeadConfig(encoding=args.encoding))
    n_obs = len(hc.observables)
    limits = JobLimits()
    lim = limits.service
    est = {}
    est_note = ""
    if not args.no_estimator:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = estimator_counts(ns, hc.circuit, hc.observables, args.shots, args.backend)
            est_note = f"RunnerEstimator.plan on {args.backend}: {time.perf_counter() - t0:.1f}s (transpile once + plan)"
        except Exception as e:  # the cross-check must not hide the main table
            est_note = f"RunnerEstimator cross-check skipped: {type(e).__name__}: {e}"

    print(
        f"{args.encoding} head: {hc.circuit.num_qubits} qubits, {hc.circuit.num_parameters} parameters, "
        f"{n_obs} observables; {args.shots} shots; limits: {lim.max_pubs_per_job} PUBs/job, "
        f"{lim.max_params_per_pub:,} parameter sets/PUB, {lim.max_params_per_job:,} parameter sets/job, "
        f"{lim.max_shots_per_job:,} shots/job"
    )
    head = (
        f"{'N':>8} | {'runner jobs':>11} {'PUBs':>5} {'samples/PUB':>11} | {'est. jobs':>9} {'PUBs':>5} | "
        f"{'naive 1 job/sample':>18} | {'naive packed jobs':>17} | {'ratio naive/runner':>18}"
    )
    print(head)
    print("-" * len(head))
    for n in ns:
        parts = plan_parts(n, n_obs, args.shots, limits)
        jobs = len(parts)
        pubs = sum(len(p.pubs) for p in parts)
        per_pub = max(b - a for p in parts for a, b in p.pubs)
        ej, ep = est.get(n, (None, None))
        packed = naive_packed_jobs(n, n_obs, args.shots, lim)
        print(
            f"{n:>8,} | {jobs:>11,} {pubs:>5,} {per_pub:>11,} | "
            f"{(f'{ej:,}' if ej is not None else '-'):>9} {(f'{ep:,}' if ep is not None else '-'):>5} | "
            f"{n:>18,} | {packed:>17,} | {n / jobs:>9,.0f}x / {packed / jobs:,.0f}x"
        )
    if est_note:
        print(est_note)
    print("ratio: naive jobs / runner jobs (1 job per sample / packed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
