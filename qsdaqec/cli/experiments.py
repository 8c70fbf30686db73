"""CLI: ``qsdaqec run paper:<name>`` or ``qsdaqec run <spec>.toml`` — run an experiment spec (thin
wrapper of qsdaqec.experiments)."""

from __future__ import annotations

import click

from ..errors import ConfigError, RunError
from ..experiments import execute_experiment, load_spec, paper_spec_names
from ..train.config import check_device
from ._executor import executor_options, pop_executor
from ._output import err
from ._tracking import pop_tracking, tracking_options


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` or a mix (``"0-2,7"``) -> list of seeds."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if b < a:
                    raise ValueError
                seeds += list(range(a, b + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r}: use integers >= 0 separated by commas, e.g. --seeds 0,1,2 or 0-4"
        ) from None
    if not seeds:
        raise ConfigError("--seeds: give at least one seed, e.g. --seeds 0,1,2")
    return seeds


@click.command("run")
@click.argument("spec", required=False)
@click.option(
    "--list",
    "list_specs",
    is_flag=True,
    default=False,
    help="List the paper's specs installed with qsdaqec (run one as paper:<name>).",
)
@click.option(
    "--out", default=None, help="Results folder [default: runs/experiments/<name>[-<profile>]]."
)
@click.option(
    "--fits",
    "fits_dir",
    default=None,
    help="Fit store: one folder per fit, shared by specs [default: <out>/../fits].",
)
@click.option("--seeds", default=None, help="Override the spec's seeds: 0,1,2 or 0-4.")
@click.option("--profile", default=None, help="Apply [profiles.<name>] of the spec (e.g. full).")
@click.option(
    "--only", "only", multiple=True, help="Run only this variant (repeatable; exact name)."
)
@click.option(
    "--dry-run", is_flag=True, default=False, help="Print the fits and what would run; run nothing."
)
@click.option(
    "--report-only",
    is_flag=True,
    default=False,
    help="Run nothing; tabulate the fits that are finished.",
)
@click.option(
    "--num-threads", type=int, default=None, help="torch CPU threads per fit (default: torch's)."
)
@click.option(
    "--device",
    default=None,
    help="Where each fit's backbone trains: auto | cpu | cuda[:N] | mps [default: the spec's, "
    "else auto]. Never changes which fits count as done.",
)
@click.option(
    "--wait",
    is_flag=True,
    default=False,
    help="When another command on the same fit store is fitting some of the spec's fits, wait "
    "for them (and resume one whose process died) instead of leaving them out and exiting 2.",
)
@click.option("--progress", is_flag=True, default=False, help="Show the fits' progress bars.")
@click.option("--quiet", is_flag=True, default=False, help="Hide the fits' own log lines.")
@executor_options
@tracking_options
def experiment_cmd(
    spec,
    list_specs,
    out,
    fits_dir,
    seeds,
    profile,
    only,
    dry_run,
    report_only,
    num_threads,
    device,
    wait,
    progress,
    quiet,
    **option_kw,
) -> None:
    """Run the experiment SPEC: every (variant, seed) fit, then the tables.

    SPEC is paper:<name>, one of the paper's specs installed with qsdaqec (`qsdaqec run
    --list`), or the path of a spec file of your own (docs/reproduce.md shows the format).

    Finished fits are never redone and interrupted ones are resumed, so the command can be
    re-run after an interruption, with more seeds, or with --report-only to tabulate what is
    there. Writes results.md, results.csv, runs.csv, results.json and results.png to --out.
    The same command started on several machines sharing --fits and --out splits the fits
    between them; each one that leaves fits to another exits 2 saying so (or, with --wait,
    waits for them), and the last to finish writes the tables of all of them. With --tracker,
    each fit that runs also goes to TensorBoard (<fit>/tensorboard/) or MLflow (experiment
    'qsdaqec run <name>'), to compare seeds and variants there.

    \b
    Examples:
      qsdaqec run --list
      qsdaqec run paper:baselines --dry-run
      qsdaqec run paper:head_ablation --seeds 0,1,2
      qsdaqec run paper:ablation_diffusion --only "T=5, beta_end=0.02"
      qsdaqec run paper:baselines --profile full --out runs/experiments/baselines-full
      qsdaqec run paper:baselines --wait    # the same command on a second machine
      qsdaqec run paper:baselines --executor ray --ray-address head-node:6379
      qsdaqec run paper:baselines --profile full --executor slurm --partition gpu \
          --gpus-per-task 1 --device cuda --time-limit 120
    """
    if list_specs:
        _list_paper_specs()
        return
    if spec is None:
        raise ConfigError("give a SPEC (paper:<name> or a .toml file); `qsdaqec run --list`")
    if dry_run and report_only:
        raise ConfigError("--dry-run and --report-only: choose one")
    if num_threads is not None and num_threads < 1:
        raise ConfigError(f"--num-threads {num_threads}: must be >= 1")
    if device is not None:
        check_device(device)
    s = load_spec(spec, profile=profile)
    if seeds is not None:
        s = s.with_seeds(parse_seeds(seeds))
    if only:
        s = s.only(list(only))
    tracking = pop_tracking(option_kw)
    executor = pop_executor(option_kw)
    log = (lambda m: None) if quiet else (lambda m: err(f"    {m}"))
    result = execute_experiment(
        s,
        out=out,
        fits_dir=fits_dir,
        dry_run=dry_run,
        report_only=report_only,
        progress=progress,
        num_threads=num_threads,
        device=device,
        executor=executor,
        echo=err,
        fit_log=log,
        wait=wait,
        tracking=tracking,
    )
    if dry_run:
        n = len(result.outcomes)
        click.echo(
            f"{s.name}{f' [{s.profile}]' if s.profile else ''}: {len(s.variants)} variant(s) x "
            f"{len(s.seeds)} seed(s) = {n} fit(s); test sets {', '.join(s.test_sets)}; "
            f"executor {result.executor}"
        )
        for o in result.outcomes:
            changed = {
                k: v
                for k, v in o.plan.config.items()
                if k in s.base
                or any(k in v_.overrides for v_ in s.variants if v_.name == o.plan.variant)
            }
            shown = ", ".join(f"{k}={v}" for k, v in changed.items() if k != "seed")
            click.echo(
                f"  {o.status:<8} {o.plan.variant} | seed {o.plan.seed} | {o.run_dir} | {shown}"
            )
        c = result.counts
        click.echo(
            f"would run {c.get('run', 0)}, resume {c.get('resume', 0)}, skip {c.get('skipped', 0)} "
            f"(finished), redo {c.get('redo', 0)} (stale: a FitConfig default changed); results -> {result.out}"
        )
        return

    click.echo(
        (result.out / "results.md").read_text(encoding="utf-8")
        if (result.out / "results.md").is_file()
        else "no finished fits to tabulate"
    )
    c = result.counts
    failed = f", {c['failed']} failed" if c.get("failed") else ""
    click.echo(
        f"fits: {c.get('ran', 0)} ran, {c.get('resumed', 0)} resumed, {c.get('skipped', 0)} already "
        f"finished, {c.get('missing', 0) + c.get('busy', 0)} missing{failed}; "
        f"{result.wall_seconds:.0f}s; results in {result.out}"
    )
    if failed:
        first = next(o for o in result.outcomes if o.status == "failed")
        err(
            f"{c['failed']} fit(s) failed, e.g. {first.run_dir.name}: {first.error} (log "
            f"{first.logs[0] if first.logs else '-'}); the others are in the tables, and the "
            "same command resumes what is missing"
        )
        raise click.exceptions.Exit(1)
    if result.busy:
        first = result.busy[0].run_dir
        raise RunError(
            f"{len(result.busy)} fit(s) are being fitted by another command on {result.fits_dir} "
            f"(e.g. {first.name}); the tables hold the fits finished so far, and that command "
            "rewrites them when it ends. To get them here, run this command again with --wait"
        )


COMMANDS: list[click.Command] = [experiment_cmd]


def _list_paper_specs() -> None:
    for name in paper_spec_names():
        s = load_spec(f"paper:{name}")
        n = len(s.variants) * len(s.seeds)
        click.echo(f"paper:{name:<20} {s.description} ({n} fits)")
