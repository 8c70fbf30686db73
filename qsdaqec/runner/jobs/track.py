"""Track submitted jobs: status (with recovery of crashed submits by job tag), fetch (results
stored atomically, never downloaded twice), cancel and retry (only what has no live job or
stored result)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BackendError, JobError
from ...redaction import redact
from .. import records as R
from ..faults import RetryPolicy, describe
from ..records import JobRecord, Part
from .cost import check_budget, estimate_cost
from .gateway import Context, JobNotFoundError, get_backend, job_backend, make_context
from .isa import load_isa
from .options import JobOptions
from .predictions import write_predictions
from .submit import store_primitive_result, submit_parts


def normalize_status(status: Any) -> str:
    """Map a job status (``"DONE"``, ``JobStatus.DONE``...) to a record state."""
    name = str(getattr(status, "name", status)).upper()
    if "." in name:
        name = name.rsplit(".", 1)[-1]
    if name in ("DONE", "COMPLETED"):
        return R.DONE
    if name in ("RUNNING",):
        return R.RUNNING
    if name in ("ERROR", "FAILED"):
        return R.FAILED
    if name.startswith("CANCELLED") or name == "CANCELED":
        return R.CANCELLED
    return R.QUEUED  # INITIALIZING, QUEUED, VALIDATING


def _error_message(job: Any) -> str | None:
    fn = getattr(job, "error_message", None)
    if fn is None:
        return None
    try:
        msg = fn()
    except Exception as exc:  # best effort: the status is what matters
        return describe(exc)
    return redact(msg) if msg else None


def _needs_service(record: JobRecord) -> bool:
    return any(p.state in R.ACTIVE | {R.SUBMITTING, R.UNKNOWN} for p in record.parts)


def _context_for(record: JobRecord, service, retry_policy, sleep, clock, echo) -> Context | None:
    if not _needs_service(record) and service is None:
        return None
    return make_context(service, job_backend(record.backend), retry_policy, sleep, clock, echo)


def refresh(record: JobRecord, ctx: Context | None) -> JobRecord:
    """Update each live part's state from the service (queries are retried with backoff).

    Also resolves parts left in ``submitting`` by a dead process: they become ``unknown``,
    and an ``unknown`` part whose job tag is found on the service gets that job's id.
    """
    changed = False
    for part in record.parts:
        if part.state == R.SUBMITTING:
            part.state = R.UNKNOWN
            part.set_error(
                "the process submitting this part ended before recording a job id "
                "(the submit may or may not have reached the service)"
            )
            record.log(f"part {part.index}: found in 'submitting' after a crash; marked unknown")
            changed = True
        if ctx is None:
            continue
        if part.state == R.UNKNOWN and part.tag and not ctx.gateway.is_local:
            changed |= _recover_by_tag(record, part, ctx)
        if part.state in (R.QUEUED, R.RUNNING) and part.job_id:
            changed |= _poll(record, part, ctx)
        elif part.state == R.UNKNOWN and ctx.gateway.is_local:
            part.state = R.LOST
            part.set_error("local testing mode: a job whose id was not recorded cannot be found")
            changed = True
    if changed:
        record.save()
    return record


def _recover_by_tag(record: JobRecord, part: Part, ctx: Context) -> bool:
    try:
        found = ctx.retry(lambda: ctx.gateway.jobs_by_tag(part.tag), f"look up tag {part.tag}")
    except Exception as exc:
        ctx.echo(f"part {part.index}: could not look up its job tag ({describe(exc)})")
        return False
    if len(found) == 1:
        part.job_id = str(found[0].job_id())
        part.state = R.QUEUED
        part.set_error(None)
        record.log(f"part {part.index}: recovered job {part.job_id} by its tag {part.tag}")
        return True
    if len(found) > 1:
        ids = ", ".join(str(j.job_id()) for j in found)
        part.set_error(f"several jobs carry tag {part.tag}: {ids}; fetch one by hand")
        return True
    part.set_error(
        f"no job with tag {part.tag} found on the service; if none appears in the IBM Quantum "
        "dashboard either, resubmit with `qsdaqec jobs retry RECORD --resubmit-unknown`"
    )
    return True


def _poll(record: JobRecord, part: Part, ctx: Context) -> bool:
    try:
        job = ctx.retry(lambda: ctx.gateway.job(part.job_id), f"job {part.job_id}")
        state = normalize_status(ctx.retry(job.status, f"status of job {part.job_id}"))
    except JobNotFoundError as exc:
        if ctx.gateway.is_local:
            part.state = R.LOST
            part.set_error(str(exc))
            record.log(f"part {part.index}: {exc}")
            return True
        ctx.echo(f"part {part.index}: {exc}")
        return False
    except Exception as exc:  # network gone after all retries: keep the old state
        ctx.echo(f"part {part.index}: status unavailable ({describe(exc)})")
        return False
    if state == part.state:
        return False
    part.state = state
    part.updated_at = R.now_iso()
    if state in (R.FAILED, R.CANCELLED):
        part.finished_at = R.now_iso()
        part.set_error(_error_message(job) or f"job {state}")
    record.log(f"part {part.index}: job {part.job_id} is {state}")
    return True


def status(
    record: JobRecord,
    *,
    service: Any = None,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> JobRecord:
    """Refresh the record from the service and return it (saved when anything changed).

    While another command holds the record (e.g. is submitting right now) the record is
    returned as it is on disk, unchanged.
    """
    if R.is_locked(record):
        (echo or (lambda m: None))(
            "another qsdaqec command is working on this record; showing it as last saved"
        )
        return R.load_record(record.path)
    with R.locked(record):
        ctx = _context_for(record, service, retry_policy, sleep, clock, echo)
        return refresh(record, ctx)


@dataclass
class FetchSummary:
    record: JobRecord
    fetched_now: list[int]
    predictions: Path | None
    metrics: dict[str, Any] | None
    waiting: list[int]  # parts still queued/running
    problems: list[int]  # parts failed/cancelled/rejected/unknown/lost/pending


def fetch(
    record: JobRecord,
    *,
    service: Any = None,
    wait: bool = False,
    timeout: float | None = None,
    poll_interval: float = 30.0,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> FetchSummary:
    """Download finished results (each stored atomically at once) and write predictions.

    Idempotent: stored results are never downloaded again, and the prediction files are a
    deterministic function of the stored results. With ``wait``, poll until every live job
    ends or ``timeout`` seconds pass.
    """
    fetched: list[int] = []
    with R.locked(record):
        try:
            ctx = _context_for(record, service, retry_policy, sleep, clock, echo)
        except (BackendError, JobError):
            # no service (no credentials, offline): still write what is stored, then say why
            refresh(record, None)
            write_predictions(record)
            record.save()
            raise
        if ctx is not None:
            start = ctx.clock()
            while True:
                refresh(record, ctx)
                for part in record.parts:
                    if part.state == R.DONE and part.job_id:
                        if _download(record, part, ctx):
                            fetched.append(part.index)
                live = [p for p in record.parts if p.state in (R.QUEUED, R.RUNNING)]
                if not wait or not live:
                    break
                if timeout is not None and ctx.clock() - start >= timeout:
                    ctx.echo(f"timed out after {timeout:g} s with {len(live)} job(s) still running")
                    break
                states = ", ".join(f"{p.job_id} {p.state}" for p in live[:3])
                more = f" (+{len(live) - 3} more)" if len(live) > 3 else ""
                ctx.echo(
                    f"waiting for {len(live)} job(s): {states}{more}; next poll in "
                    f"{poll_interval:g} s"
                )
                ctx.sleep(poll_interval)
        else:
            refresh(record, None)
        pred_path, metrics = write_predictions(record)
        record.save()
    return FetchSummary(
        record=record,
        fetched_now=fetched,
        predictions=pred_path,
        metrics=metrics,
        waiting=[p.index for p in record.parts if p.state in (R.QUEUED, R.RUNNING, R.DONE)],
        problems=[
            p.index
            for p in record.parts
            if p.state in (R.FAILED, R.CANCELLED, R.REJECTED, R.UNKNOWN, R.LOST, R.PENDING)
        ],
    )


def _download(record: JobRecord, part: Part, ctx: Context) -> bool:
    try:
        job = ctx.retry(lambda: ctx.gateway.job(part.job_id), f"job {part.job_id}")
        result = ctx.retry(job.result, f"result of job {part.job_id}")
    except JobNotFoundError as exc:
        if ctx.gateway.is_local:
            part.state = R.LOST
            part.set_error(str(exc))
            record.save()
        ctx.echo(f"part {part.index}: {exc}")
        return False
    except Exception as exc:
        name = type(exc).__name__
        if name in ("RuntimeJobFailureError", "RuntimeJobMaxTimeoutError"):
            part.state = R.FAILED
        elif name == "RuntimeInvalidStateError":
            part.state = R.CANCELLED
        else:  # transient trouble after all retries: the job is still done; try next time
            ctx.echo(
                f"part {part.index}: result not downloaded ({describe(exc)}); fetch again later"
            )
            return False
        part.set_error(describe(exc))
        part.finished_at = R.now_iso()
        record.save()
        return False
    store_primitive_result(record, part, result)
    record.save()  # the result file exists before the record says "fetched"
    ctx.echo(f"stored result of job {part.job_id} (samples {part.start}..{part.stop - 1})")
    return True


def cancel(
    record: JobRecord,
    *,
    service: Any = None,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
) -> list[int]:
    """Cancel every live job of the record; unsent parts are marked cancelled too.

    Returns the indices of the parts cancelled now. Stored results are kept.
    """
    done: list[int] = []
    with R.locked(record):
        ctx = _context_for(record, service, retry_policy, sleep, clock, echo)
        refresh(record, ctx)
        for part in record.parts:
            if part.state == R.PENDING:
                part.state = R.CANCELLED
                part.set_error("cancelled before it was submitted")
                done.append(part.index)
            elif part.state in (R.QUEUED, R.RUNNING) and part.job_id and ctx is not None:
                try:
                    job = ctx.retry(lambda p=part: ctx.gateway.job(p.job_id), f"job {part.job_id}")
                    ctx.retry(job.cancel, f"cancel job {part.job_id}")
                except Exception as exc:
                    if type(exc).__name__ == "RuntimeInvalidStateError":  # already final
                        _poll(record, part, ctx)
                        continue
                    raise JobError(
                        f"job {part.job_id}: could not cancel ({describe(exc)}); "
                        "the record is unchanged for this job"
                    ) from None
                part.state = R.CANCELLED
                part.finished_at = part.updated_at = R.now_iso()
                part.set_error("cancelled by the user")
                done.append(part.index)
            else:
                continue
            record.log(f"part {part.index}: cancelled")
            record.save()
        record.save()
    return done


def retry(
    record: JobRecord,
    *,
    service: Any = None,
    resubmit_unknown: bool = False,
    retry_policy: RetryPolicy | None = None,
    sleep=None,
    clock=None,
    echo=None,
    max_qpu_seconds: float | None = None,
    yes: bool = False,
) -> list[int]:
    """Resubmit only the parts without a live job or stored result; keep every stored result.

    ``failed``, ``cancelled``, ``rejected``, ``lost`` and never-sent (``pending``) parts are
    resubmitted with the same ISA circuit and parameters. ``unknown`` parts (a job may exist)
    only with ``resubmit_unknown=True`` after the user checked. The resubmission's estimated QPU
    time is printed and checked against the budget first (:func:`~.cost.check_budget`; over it
    without ``yes``: ``ConfigError``, the record unchanged). Returns the resubmitted indices.
    """
    with R.locked(record):
        spec = job_backend(record.backend)  # the record's backend string, parsed once
        ctx = make_context(service, spec, retry_policy, sleep, clock, echo)
        refresh(record, ctx)
        allowed = set(R.RESUBMITTABLE) | ({R.UNKNOWN} if resubmit_unknown else set())
        parts = [p for p in record.parts if p.state in allowed]
        unknown = [p.index for p in record.parts if p.state == R.UNKNOWN and not resubmit_unknown]
        if not parts:
            if unknown:
                raise JobError(
                    f"part(s) {unknown} have an unknown submit outcome and were not resubmitted; "
                    "check the IBM Quantum dashboard for their job tags (see `qsdaqec jobs status`)"
                    ", then pass --resubmit-unknown to send them again"
                )
            return []
        isa = load_isa(record)
        params = R.load_array(record.params_path)
        options = JobOptions.from_record(record.options)
        backend_obj = get_backend(ctx, spec)
        cost = estimate_cost(
            isa, parts, options, backend_obj, record.backend, local=record.local_mode
        )
        check_budget(cost, max_qpu_seconds, yes=yes)
        ctx.echo(cost.lines()[-1])
        for part in parts:
            record.log(f"part {part.index}: resubmitting (was {part.state})")
            part.archive()
        record.save()
        submit_parts(record, ctx, spec, backend_obj, isa, params, parts, options)
        if unknown:
            ctx.echo(
                f"part(s) {unknown} have an unknown submit outcome and were left alone "
                "(pass --resubmit-unknown after checking)"
            )
        return [p.index for p in parts]
