"""CLI: ``qsdaqec noise-report`` (a thin wrapper of :mod:`qsdaqec.experiments.noise`) and
``qsdaqec report`` (one run's page: :mod:`qsdaqec.experiments.run_report`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..experiments.noise.config import (
    NoiseReportConfig,
    parse_backends,
    parse_encodings,
    parse_mitigations,
    parse_noise_scales,
    parse_shots,
)
from ..io import atomic_write_text
from ._executor import executor_options, pop_executor
from ._output import err
from ._tracking import pop_tracking, tracking_options
from .train import _threshold_option

_D = NoiseReportConfig()


def _join(values) -> str:
    return ",".join(
        "exact" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values
    )


@click.command("noise-report")
@click.option(
    "--run",
    "runs",
    multiple=True,
    required=True,
    metavar="DIR",
    help="Run trained with the quantum head (repeat: one run per encoding, same data "
    "and seed; the first is the primary run).",
)
@click.option(
    "--backends",
    default=",".join(_D.backends),
    show_default=True,
    help="Comma-separated: aer_noisy[:<fake>] (noise scalable), fake:<fake> (runtime "
    "local testing mode, the device's own noise), aer (noiseless, shots only).",
)
@click.option(
    "--noise-scales",
    default=_join(_D.noise_scales),
    show_default=True,
    help="Factors on the device noise model (0 = noiseless, 1 = the device).",
)
@click.option(
    "--shots",
    default=_join(_D.shots),
    show_default=True,
    help="Shot counts of the shots sweep ('exact' = exact expectation values).",
)
@click.option(
    "--mitigation",
    default=",".join(_D.mitigation),
    show_default=True,
    help="Mitigation settings to compare: none, readout, zne, or a combination like readout+zne.",
)
@click.option(
    "--encodings",
    default=None,
    help="Encodings to report, each needs a --run trained with it [default: those of the runs].",
)
@click.option(
    "--classical-run",
    default=None,
    metavar="DIR",
    help="Run trained with --head classical on the same data: the classical reference "
    "[default: a logistic regression on the quantum run's frozen features].",
)
@click.option(
    "--design",
    type=click.Choice(["sweep", "full"]),
    default=_D.design,
    show_default=True,
    help="sweep: one axis at a time around the centre; full: noise x shots x mitigation.",
)
@click.option(
    "--center-noise",
    type=float,
    default=_D.center_noise,
    show_default=True,
    help="Noise scale of the centre point (shots and mitigation sweeps).",
)
@click.option(
    "--center-shots",
    default=None,
    help="Shots of the centre point [default: exact expectation values where the "
    "backend allows (aer, aer_noisy), else the largest --shots].",
)
@click.option(
    "--optimization-level",
    type=int,
    default=_D.optimization_level,
    show_default=True,
    help="Transpiler optimisation level (0-3).",
)
@click.option(
    "--seed",
    type=int,
    default=_D.seed,
    show_default=True,
    help="Seed of shot sampling and transpilation.",
)
@click.option(
    "--tolerance",
    type=float,
    default=_D.tolerance,
    show_default=True,
    help="'Stays within' tolerance of the conclusion, in balanced accuracy (0.01 = 1 point).",
)
@click.option(
    "--min-job-samples",
    type=click.IntRange(1),
    default=_D.min_job_samples,
    show_default=True,
    help="Fetched hardware jobs with fewer samples (or one class only) are shown apart and "
    "not compared.",
)
@click.option(
    "--no-jobs",
    is_flag=True,
    default=False,
    help="Leave out fetched hardware-job results found under RUN/jobs/.",
)
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    help="Report folder: report.html, results.json, results.csv, points/, plots/.",
)
@click.option(
    "--device",
    default=_D.device,
    show_default=True,
    help="Where a run's backbone computes test features it did not cache: auto | cpu | "
    "cuda[:N] | mps.",
)
@click.option("--no-progress", is_flag=True, default=False, help="No progress bar.")
@executor_options
@tracking_options
def noise_report_cmd(
    runs,
    backends,
    noise_scales,
    shots,
    mitigation,
    encodings,
    classical_run,
    design,
    center_noise,
    center_shots,
    optimization_level,
    seed,
    tolerance,
    min_job_samples,
    no_jobs,
    out,
    device,
    no_progress,
    **option_kw,
) -> None:
    """How the trained quantum head holds up under device noise, shots, mitigation and encoding.

    For every point of the grid the run's test split goes through the head on the backend:
    balanced accuracy, AUC, sensitivity, specificity (and accuracy, F1), the error of the 4
    expectation values against the exact ones (mean, max), and the transpiled width / depth /
    2-qubit gates per backend; with the exact quantum head and a classical head as references.
    The conclusion at the top of report.html is computed from the points, judged by balanced
    accuracy and AUC (a head that predicts one class scores 0.5 there, and is flagged).

    \b
    The grid (--design sweep, the default), per encoding and backend, around the centre
    (noise --center-noise, shots --center-shots, no mitigation):
      noise sweep       every --noise-scales value (aer_noisy backends only)
      shots sweep       every --shots value
      mitigation sweep  every --mitigation value
    Shared points run once: the defaults (one aer_noisy backend, 5 noise scales, 3 shot
    counts, 2 mitigations) are 9 points per encoding. Cost grows with the test split and the
    circuit: one noisy point of the 8-qubit amplitude head on the built-in data's 150 test
    images took 97 s on 2 CPU cores (2026-11-30), so about 15 minutes for the defaults; the
    4-qubit angle head is far cheaper. zne costs 3 points. fake: backends run
    qiskit-ibm-runtime's local testing mode on the whole device and are much slower.
    --design full crosses the three axes (many more points).

    Resumable: each finished point is stored in OUT/points/ and reused when the command runs
    again; changed settings compute only the new points. With --executor ray or slurm each
    point is a task of its own, run side by side; OUT must be on a filesystem the workers share. Fetched hardware jobs
    (qsdaqec jobs fetch) under RUN/jobs/ are added as points. With --tracker, every point
    (computed or reused) also goes to TensorBoard (OUT/tensorboard/, a session per point) or
    MLflow (a child run per point), with the report's files.

    \b
    Examples:
      qsdaqec noise-report --run runs/tour --out reports/noise-default
      qsdaqec noise-report --run runs/tour --run runs/angle --classical-run runs/dense \\
          --backends aer_noisy:fake_torino,aer_noisy:fake_fez --shots 1024 \\
          --mitigation none,readout,zne --out reports/noise-compare
      qsdaqec noise-report --run runs/tour --out reports/noise-default --tracker mlflow
    """
    from ..experiments.noise import build_noise_report  # torch: only when the command runs

    tracking = pop_tracking(option_kw)
    cfg = NoiseReportConfig(
        runs=tuple(runs),
        out=out,
        backends=parse_backends(backends),
        noise_scales=parse_noise_scales(noise_scales),
        shots=parse_shots(shots),
        mitigation=parse_mitigations(mitigation),
        encodings=parse_encodings(encodings) if encodings else None,
        design=design,
        center_noise=center_noise,
        center_shots=_center_shots(center_shots),
        optimization_level=optimization_level,
        seed=seed,
        classical_run=classical_run,
        tolerance=tolerance,
        min_job_samples=min_job_samples,
        include_jobs=not no_jobs,
        progress=not no_progress,
        device=device,
    )
    res = build_noise_report(cfg, log=err, executor=pop_executor(option_kw), tracking=tracking)
    for line in res.conclusion:
        click.echo(f"- {line}")
    click.echo(
        f"{len(res.points)} points ({res.computed} computed, {res.reused} reused) -> {res.html}, "
        f"{res.json.name}, {res.csv.name}"
    )


def _center_shots(text: str | None) -> int | None:
    if text is None:
        return None
    values = parse_shots(text)
    if len(values) != 1:
        raise ConfigError(f"--center-shots {text!r}: one value (a number of shots or 'exact')")
    return values[0]


@click.command("report")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="A finished run directory.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The HTML file to write [default: RUN/report.html].",
)
@_threshold_option
@click.option("--device", default="cpu", show_default=True, help="Where the Grad-CAM examples run.")
def report_cmd(run_dir: Path, out: Path | None, threshold: str, device: str) -> None:
    """One self-contained HTML page of a run, to show a colleague.

    Test scores (final model, exact, before stage 2), the confusion matrix at --threshold,
    training curves, ROC, a calibration plot, test images of each class with Grad-CAM of the
    predicted class, the stages and the head transpiled for the run's backend, links to the
    run's evaluations and job records, its configuration and package versions.

    \b
    Examples:
      qsdaqec report --run runs/tour
      qsdaqec report --run runs/tour --threshold youden --out report.html
    """
    from ..experiments.run_report import collect  # torch: only when it runs
    from ..reports.run_html import render

    page = render(collect(run_dir, threshold=threshold, device=device))
    path = atomic_write_text(out or Path(run_dir) / "report.html", page)
    click.echo(f"wrote {path}")


COMMANDS: list[click.Command] = [noise_report_cmd, report_cmd]
