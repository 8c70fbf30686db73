"""CLI: ``qsdaqec jobs submit | list | status | fetch | cancel | retry`` (thin; see
qsdaqec.hardware and qsdaqec.runner.jobs).

Hardware inference of a trained run on IBM Quantum (``ibm:<device>``) or, with the same code,
in qiskit-ibm-runtime's local testing mode (``fake:<fake backend>``). See docs/hardware.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, JobError
from ..metrics import format_metrics
from ..redaction import redact
from ..runner import jobs as J
from ..runner import records as R
from ._output import err

_OPT = J.JobOptions()


def _echo(text: object = "") -> None:
    """Every line of these commands is redacted: a record's fields (errors, events, tags, the
    source) come from the service and from files anyone may have edited."""
    click.echo(redact(text))


def _find(record_ref: str | None, run: str | None) -> list[R.JobRecord]:
    """RECORD, or every readable record of --run; damaged ones are listed as such first."""
    if record_ref:
        return [R.find_record(record_ref, run)]
    if run:
        recs, damaged = R.scan_records(run)
        for d in damaged:
            _echo(d.line())
        if not recs and not damaged:
            raise JobError(f"{run}: no job records (submit with `qsdaqec jobs submit --run {run}`)")
        return recs
    raise click.UsageError("give a RECORD (RUN/jobs/<id>.json) or --run RUN")


def _runs(run: str | None) -> list[Path]:
    """--run, or every run under ./runs with job records (readable or not)."""
    if run:
        return [Path(run)]
    return sorted({p.parent.parent for p in Path("runs").glob("*/jobs/*.json")})


def _one(record_ref: str | None, run: str | None) -> R.JobRecord:
    """RECORD, or without it the latest record of --run (or of every run under ./runs). A
    damaged record is named on stderr, and refuses when it is the latest: an older record must
    not stand in for it unnoticed."""
    if record_ref:
        return R.find_record(record_ref, run)
    scans = [R.scan_records(r) for r in _runs(run)]
    recs = [rec for good, _ in scans for rec in good]
    damaged = [d for _, bad in scans for d in bad]
    if not recs and not damaged:
        where = run or "./runs"
        raise JobError(f"{where}: no job records; submit one with `qsdaqec jobs submit --run RUN`")
    newest = max([*recs, *damaged], key=_created)
    if isinstance(newest, R.DamagedRecord):
        raise JobError(
            f"{newest.path}: the latest job record is damaged ({newest.reason}); it may name jobs "
            "that ran. Restore it from a backup or look for its job tags in the IBM Quantum "
            "dashboard; `qsdaqec jobs list` shows every record, and an older one can be named "
            "as RECORD"
        )
    for d in damaged:
        err(d.line())
    err(f"latest record: {newest.path}")
    return newest


def _created(rec: R.JobRecord | R.DamagedRecord) -> tuple[str, str]:
    """A record's id orders records by creation: its time stamp, then its microseconds."""
    return rec.record_id.split("-", 1)[0], rec.record_id.rsplit("-", 1)[-1]


def _part_line(p: R.Part) -> str:
    job = p.job_id or "-"
    line = f"  part {p.index:>3}  samples {p.start}..{p.stop - 1}  {p.state:<10} job {job}"
    if p.error and p.state not in (R.FETCHED, R.QUEUED, R.RUNNING, R.DONE):
        line += f"\n             {p.error}"
    return line


def _show(rec: R.JobRecord, *, parts: bool = True) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(rec.counts().items()))
    _echo(
        f"{rec.record_id}  {rec.backend}  {rec.samples['count']} samples in "
        f"{len(rec.parts)} job(s): {counts}  => {rec.status}"
    )
    if parts:
        for p in rec.parts:
            _echo(_part_line(p))
    hint = _next_step(rec)
    if hint:
        _echo(f"  next: {hint}")


def _next_step(rec: R.JobRecord) -> str | None:
    s = rec.status
    path = rec.path
    if s == R.UNKNOWN:
        tags = ", ".join(p.tag or "?" for p in rec.parts if p.state in (R.UNKNOWN, R.SUBMITTING))
        return (
            f"a submit's outcome is unknown; look for job tag(s) {tags} in the IBM Quantum "
            f"dashboard (`qsdaqec jobs status {path}` looks them up). If no job exists, "
            f"`qsdaqec jobs retry {path} --resubmit-unknown`"
        )
    if s == R.SUBMITTING:
        return (
            "a submit is in progress, or was interrupted; "
            f"`qsdaqec jobs status {path}` tells which (an interrupted one becomes unknown)"
        )
    if s in (R.QUEUED, R.RUNNING, R.DONE):
        return f"`qsdaqec jobs fetch {path}` (add --wait to wait for the jobs)"
    if s in ("partial", R.FAILED, R.CANCELLED, R.REJECTED, R.LOST, R.PENDING):
        return f"`qsdaqec jobs retry {path}` resubmits only the parts without results"
    if s == "complete":
        if (rec.folder / "predictions.csv").is_file():
            return (
                f"results in {rec.folder}/predictions.csv (and metrics.json when labels are known)"
            )
        return (
            f"`qsdaqec jobs fetch {path}` writes {rec.folder}/predictions.csv (and metrics.json "
            "when labels are known)"
        )
    return None


def _run_opt(required: bool = False):
    return click.option(
        "--run",
        "run",
        type=click.Path(file_okay=False),
        required=required,
        help="Run directory (from `qsdaqec fit --out`).",
    )


# ------------------------------------------------------------------------------------- submit

_max_qpu_seconds_option = click.option(
    "--max-qpu-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=f"Refuse a submission estimated above S QPU seconds (default on ibm: "
    f"{J.DEFAULT_IBM_BUDGET_S:g}, a fifth of the Open plan's monthly 10 minutes).",
)
_yes_option = click.option(
    "--yes", is_flag=True, help="Submit even when the estimate is over the budget."
)
_submit_yes_option = click.option(
    "--yes",
    is_flag=True,
    help="Submit even when the estimate is over the budget, or beside damaged job records of "
    "the run (which may name jobs that ran).",
)


@click.command("submit")
@_run_opt(required=True)
@click.option(
    "--backend",
    required=True,
    help="ibm:<device> (IBM Quantum, e.g. ibm:ibm_fez) or fake:<fake backend> "
    "(local testing mode, e.g. fake:fake_fez; 5-qubit devices like fake:fake_manila fit only the 4-qubit angle head).",
)
@click.option(
    "--data",
    type=click.Path(exists=True),
    help="Images to classify: ImageFolder/.npz (labels kept when class names match) or a "
    "folder of images. Default: the run's test split.",
)
@click.option(
    "--shots",
    type=click.IntRange(1),
    default=_OPT.shots,
    show_default=True,
    help="Shots per circuit.",
)
@click.option(
    "--mitigation",
    default=_OPT.mitigation,
    show_default=True,
    help="none | readout (TREX) | zne | dd | twirling; combine with '+', e.g. readout+dd.",
)
@click.option(
    "--optimization-level",
    type=click.IntRange(0, 3),
    default=_OPT.optimization_level,
    show_default=True,
    help="Transpiler optimization level (the head is transpiled once).",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="A representative N samples (stratified by class, seeded by the run's seed; the record "
    "names both), e.g. a cheap first run.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where the backbone computes the features (locally): auto | cpu | cuda[:N] | mps.",
)
@click.option(
    "--max-samples-per-job",
    type=click.IntRange(1),
    default=None,
    help="Split into jobs of at most N samples (default: as few jobs as IBM's limits allow).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the jobs, PUBs, shots, the transpiled circuit's size and the estimated QPU "
    "seconds, then stop: nothing is submitted or written.",
)
@_max_qpu_seconds_option
@_submit_yes_option
@click.option(
    "--max-two-qubit-gates",
    type=click.IntRange(0),
    default=None,
    help="Refuse a head whose transpiled circuit has more two-qubit gates (e.g. 60: the "
    "paper's amplitude head has 658 on FakeTorino, schmidt 40, angle 17; `qsdaqec circuits "
    "show --backend ...` prints them).",
)
def submit_cmd(
    run,
    backend,
    data,
    shots,
    mitigation,
    optimization_level,
    limit,
    device,
    max_samples_per_job,
    dry_run,
    max_qpu_seconds,
    yes,
    max_two_qubit_gates,
) -> None:
    """Submit inference of a trained run's quantum head; write the job record.

    Features are computed locally with the run's backbone; the head is transpiled once for the
    backend and all samples go out in as few jobs as the limits allow (one Batch). The record
    RUN/jobs/<id>.json is written before each submit and updated with each job id right after.
    With fake:<name> (local testing mode) the results are computed and stored before this
    command returns. The estimated QPU time is printed before anything is sent; on ibm: a
    submission over --max-qpu-seconds is refused unless --yes is given.

    \b
    Examples:
      qsdaqec jobs submit --run runs/tour --backend fake:fake_torino --limit 8
      qsdaqec jobs submit --run runs/tour --backend ibm:ibm_fez --limit 32 --dry-run
      qsdaqec jobs submit --run runs/tour --backend ibm:ibm_fez --shots 4096 --mitigation readout
    """
    from ..hardware import plan_trained_run, submit_trained_run  # torch: only when it runs

    spec = J.job_backend(backend)  # parsed once, here; the layers below get the spec
    options = J.JobOptions(
        shots=shots, mitigation=mitigation, optimization_level=optimization_level
    )
    limits = J.JobLimits(max_samples_per_job=max_samples_per_job)
    plan_how = J.PlanOptions(job=options, limits=limits, echo=err)
    how = {"data": data, "limit": limit, "device": device, "how": plan_how}
    if dry_run:
        plan = plan_trained_run(run, spec, **how)
        for line in plan.cost.lines():
            _echo(line)
        try:
            plan.check(max_qpu_seconds, max_two_qubit_gates)
            R.check_damaged(run, yes)
        except (ConfigError, JobError) as e:
            _echo(f"a submit would be refused: {e}")
        _echo("dry run: nothing was submitted")
        return
    rec = submit_trained_run(
        run,
        spec,
        max_qpu_seconds=max_qpu_seconds,
        max_two_qubit_gates=max_two_qubit_gates,
        yes=yes,
        **how,
    )
    _echo(f"record: {rec.path}")
    _show(rec)


# --------------------------------------------------------------------------------------- list


@click.command("list")
@_run_opt()
def list_cmd(run) -> None:
    """List job records (of --run, or of every run under ./runs), without contacting the service.

    \b
    Examples:
      qsdaqec jobs list --run runs/tour
      qsdaqec jobs list
    """
    runs = (
        [Path(run)] if run else sorted(p.parent.parent for p in Path("runs").glob("*/jobs/*.json"))
    )
    seen = set()
    any_found = False
    for r in runs:
        if r in seen:
            continue
        seen.add(r)
        good, damaged = R.scan_records(r)
        for rec in sorted([*good, *damaged], key=lambda x: str(x.path)):
            any_found = True
            _echo(rec.line() if isinstance(rec, R.DamagedRecord) else _list_line(rec))
    if not any_found:
        _echo("no job records" + (f" in {run}" if run else " under ./runs"))


def _list_line(rec: R.JobRecord) -> str:
    return (
        f"{rec.path}  {rec.backend:<22} {rec.created}  {rec.samples['count']:>5} samples  "
        f"{len(rec.parts):>3} job(s)  {rec.status}"
    )


# ------------------------------------------------------------------------------------- status


@click.command("status")
@click.argument("record", required=False)
@_run_opt()
@click.option("--all", "all_records", is_flag=True, help="Every record of --run, not the latest.")
def status_cmd(record, run, all_records) -> None:
    """Ask the service for the state of each job and update the record.

    RECORD is RUN/jobs/<id>.json (or an id with --run); without it the latest record of --run
    (or of every run under ./runs), and with --all every record of --run.
    Status queries are retried with backoff on dropped connections and timeouts. A part left in
    'submitting' by a crash is reported as unknown and looked up by its job tag.

    \b
    Examples:
      qsdaqec jobs status runs/tour/jobs/<id>.json
      qsdaqec jobs status --run runs/tour
      qsdaqec jobs status --run runs/tour --all
    """
    recs = _find(record, run) if all_records else [_one(record, run)]
    for rec in recs:
        rec = J.status(rec, echo=err)
        _show(rec)


# -------------------------------------------------------------------------------------- fetch


@click.command("fetch")
@click.argument("record", required=False)
@_run_opt()
@click.option("--wait", is_flag=True, help="Poll until every job has ended (see --timeout).")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after S seconds.")
@click.option(
    "--poll",
    type=float,
    default=30.0,
    show_default=True,
    help="With --wait: seconds between polls.",
)
def fetch_cmd(record, run, wait, timeout, poll) -> None:
    """Download finished results, then write predictions and metrics.

    Each result is stored (atomically) as soon as it arrives and never downloaded again, so
    fetching twice gives the same files. Expectation values go through the run's trained output
    layer Linear(4->2) and a softmax: RUN/jobs/<id>/predictions.csv|json, and metrics.json when
    the labels are known. Partial results are written too (listed as incomplete). Without
    RECORD: the latest record of --run (or of every run under ./runs).

    \b
    Examples:
      qsdaqec jobs fetch --run runs/tour
      qsdaqec jobs fetch runs/tour/jobs/<id>.json
      qsdaqec jobs fetch <id> --run runs/tour --wait --timeout 3600
    """
    rec = _one(record, run)
    summary = J.fetch(rec, wait=wait, timeout=timeout, poll_interval=poll, echo=err)
    _show(summary.record)
    if summary.predictions:  # the table a user opens; the .json beside it holds the same
        csv_path = Path(summary.predictions).with_suffix(".csv")
        _echo(f"predictions: {csv_path} (and {csv_path.with_suffix('.json').name})")
    if summary.metrics:
        m = {k: (float("nan") if v is None else v) for k, v in summary.metrics.items()}
        _echo(
            f"metrics: {format_metrics(m)}" + ("" if summary.metrics["complete"] else "  (partial)")
        )
        vs = summary.metrics.get("vs_exact")
        if vs:
            _echo(
                f"vs exact simulation: mean |dev| of expectation values {vs['ev_mean_abs_error']:.3f}"
                + (
                    f", same prediction for {vs['same_prediction_fraction']:.0%}"
                    if "same_prediction_fraction" in vs
                    else ""
                )
            )


# ------------------------------------------------------------------------------------- cancel


@click.command("cancel")
@click.argument("record", required=False)
@_run_opt()
def cancel_cmd(record, run) -> None:
    """Cancel the record's queued and running jobs (stored results are kept). Without RECORD:
    the latest record of --run (or of every run under ./runs).

    \b
    Examples:
      qsdaqec jobs cancel runs/tour/jobs/<id>.json
    """
    rec = _one(record, run)
    done = J.cancel(rec, echo=err)
    _echo(f"cancelled {len(done)} part(s)" + (f": {done}" if done else ""))
    _show(rec)


# -------------------------------------------------------------------------------------- retry


@click.command("retry")
@click.argument("record", required=False)
@_run_opt()
@click.option(
    "--resubmit-unknown",
    is_flag=True,
    help="Also resubmit parts whose submit outcome is unknown (check the dashboard first: "
    "a job may exist and would then run twice).",
)
@_max_qpu_seconds_option
@_yes_option
def retry_cmd(record, run, resubmit_unknown, max_qpu_seconds, yes) -> None:
    """Resubmit only the failed, cancelled, rejected, lost or unsent parts of a record.

    Stored results are kept; the same transpiled circuit and parameters are sent again.
    Without RECORD: the latest record of --run (or of every run under ./runs).

    \b
    Examples:
      qsdaqec jobs retry runs/tour/jobs/<id>.json
      qsdaqec jobs retry <id> --run runs/tour --resubmit-unknown
    """
    rec = _one(record, run)
    parts = J.retry(
        rec,
        resubmit_unknown=resubmit_unknown,
        echo=err,
        max_qpu_seconds=max_qpu_seconds,
        yes=yes,
    )
    _echo(f"resubmitted {len(parts)} part(s)" + (f": {parts}" if parts else " (nothing to do)"))
    _show(rec)


@click.group("jobs")
def jobs_group() -> None:
    """Hardware inference jobs: submit, track, fetch, cancel, retry (see docs/hardware.md).

    \b
    Examples:
      qsdaqec jobs submit --run runs/tour --backend fake:fake_torino --limit 8
      qsdaqec jobs status --run runs/tour
      qsdaqec jobs fetch --run runs/tour --wait
    """


for _cmd in (submit_cmd, list_cmd, status_cmd, fetch_cmd, cancel_cmd, retry_cmd):
    jobs_group.add_command(_cmd)

COMMANDS: list[click.Command] = [jobs_group]
