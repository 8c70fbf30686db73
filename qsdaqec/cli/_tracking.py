"""The tracking options shared by ``qsdaqec fit``, ``qsdaqec run`` and ``qsdaqec noise-report``
(:mod:`qsdaqec.tracking`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..tracking import TRACKERS, TrackingConfig

_OPTIONS = [
    click.option(
        "--tracker",
        type=click.Choice(TRACKERS),
        default=None,
        help="Also send the metrics to an experiment tracker: tensorboard (event files in "
        "<folder>/tensorboard/; view with `tensorboard --logdir ...`) or mlflow (a run in "
        "MLflow's store; view with `mlflow ui`). Needs pip install 'qsdaqec[tracking]'. "
        "[default: none]",
    ),
    click.option(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help="With --tracker mlflow: the store, e.g. sqlite:///runs/mlflow.db or "
        "http://host:5000 [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the "
        "current folder].",
    ),
]


def tracking_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def pop_tracking(kwargs: dict[str, Any], experiment: str | None = None) -> TrackingConfig | None:
    """The tracking options out of a command's keyword arguments, checked (a missing package
    is one line naming the extra, before anything runs); ``None`` without ``--tracker``."""
    cfg = TrackingConfig(kwargs.pop("tracker"), kwargs.pop("tracking_uri"), experiment).validate()
    return cfg if cfg.tracker is not None else None
