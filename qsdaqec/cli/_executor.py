"""The executor options shared by ``qsdaqec run`` and ``qsdaqec noise-report``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from ..experiments.executors.config import EXECUTORS, ExecutorConfig

_OPTIONS = [
    click.option(
        "--executor",
        "kind",
        type=click.Choice(EXECUTORS),
        default=None,
        help="Where each task runs: local (this process, one after another), ray (one Ray "
        "task each; pip install 'qsdaqec[ray]') or slurm (one Slurm job each, through "
        "submitit; pip install 'qsdaqec[slurm]'). Workers need the results folders on a "
        "shared filesystem. [default: the spec's [executor], else local]",
    ),
    click.option(
        "--ray-address",
        default=None,
        help="Ray: an existing cluster (host:port, ray://host:port or auto) "
        "[default: start a local one on this machine].",
    ),
    click.option(
        "--cpus-per-task",
        type=click.IntRange(1),
        default=None,
        help="Ray/Slurm: CPUs each task asks for; a fit's torch threads follow "
        "unless --num-threads is given [default: 1].",
    ),
    click.option(
        "--gpus-per-task",
        type=click.IntRange(0),
        default=None,
        help="Ray/Slurm: GPUs each task asks for [default: 1 for a fit on --device cuda, else 0].",
    ),
    click.option(
        "--mem-gb",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Ray/Slurm: memory each task asks for, in GB [default: the scheduler's].",
    ),
    click.option("--partition", default=None, help="Slurm: the partition to submit to."),
    click.option(
        "--time-limit",
        "time_min",
        type=click.IntRange(1),
        default=None,
        help="Slurm: time limit of each job in minutes [default: 240]; a fit stopped at its "
        "limit is resumed by the next run.",
    ),
    click.option(
        "--max-parallel",
        type=click.IntRange(1),
        default=None,
        help="Ray/Slurm: at most this many tasks submitted at once [default: all].",
    ),
    click.option(
        "--slurm-local",
        is_flag=True,
        flag_value=True,
        default=None,
        help="Slurm: run the jobs as processes on this machine (submitit's local executor), "
        "to try a set-up without a cluster.",
    ),
]


def executor_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def pop_executor(kwargs: dict[str, Any]) -> ExecutorConfig:
    """The executor options out of a command's keyword arguments (``None``: not given); each
    option is named after its ``ExecutorConfig`` field."""
    return ExecutorConfig(
        **{f.name: kwargs.pop(f.name) for f in dataclasses.fields(ExecutorConfig)}
    )
