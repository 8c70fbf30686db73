"""The registry of minority augmentors: ``simple`` (the paper's forward diffusion) and ``ddpm``.

An :class:`Augmentor` entry turns generic options (``steps``, ``beta_start``, ``beta_end``,
``rho_target``, ``t``, ``seed`` and its own, e.g. ``ddpm_size``; ``None`` = its config's
default) into its validated config, and a config into the augmentor object (``augment(images,
labels, minority)``, ``preview``). ``qsdaqec augment --augmentor``, ``qsdaqec fit --augmentor``
and job specs read :data:`AUGMENTORS`.

Adding an augmentor: its module (config dataclass + augmentor class), then one ``register``
call below. This module stays torch-free (``qsdaqec --help`` reads it): entries import their
implementation inside their factories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .config import DiffusionConfig


@dataclass(frozen=True)
class Augmentor:
    """One augmentor: ``config(options)`` -> its validated config; ``build(config, log)`` -> the
    augmentor (``log``: progress lines of a slow one, or ``None``); ``preview``.

    ``fit_options``: the generic options ``qsdaqec fit`` passes on (from ``--diffusion-steps``,
    ``--beta-end``, ``--rho-target``; the seed always). ``forward_noising``: it makes minority
    samples by noising real ones, so noise matching applies in training."""

    name: str
    summary: str
    config: Callable[[dict[str, Any]], Any]
    build: Callable[[Any, Callable[[str], None] | None], Any]
    preview: Callable[[Any, Any, Any], Any]
    """``preview(augmentor, config, minority source images)`` after ``augment``: a PIL grid
    for ``preview.png``, or ``None``."""
    fit_options: tuple[str, ...] = ()
    forward_noising: bool = False


AUGMENTORS: Registry[Augmentor] = Registry("augmentor")


def _given(options: dict[str, Any], *names: str, **renamed: str) -> dict[str, Any]:
    """The options that were given (not ``None``), under their config field names."""
    out = {n: options.get(n) for n in names}
    out.update({field: options.get(opt) for field, opt in renamed.items()})
    return {k: v for k, v in out.items() if v is not None}


# ------------------------------------------------------------------------------ simple


def _simple_config(options: dict[str, Any]) -> DiffusionConfig:
    given = _given(options, "steps", "beta_start", "beta_end", "rho_target", "t")
    return DiffusionConfig(**given, seed=options.get("seed", 0)).validate()


def _simple_build(cfg: DiffusionConfig, log=None):
    from .diffusion import SimpleDiffusionAugmentor

    return SimpleDiffusionAugmentor(cfg)


def _simple_preview(augmentor, cfg: DiffusionConfig, sources):
    """Each source image, then its forward-diffused versions at t = 1..T."""
    from .export import grid_image

    tiles = augmentor.preview(sources)
    return grid_image(tiles, ["source"] + [f"t={t}" for t in range(1, cfg.steps + 1)])


AUGMENTORS.register(
    "simple",
    Augmentor(
        name="simple",
        summary="forward diffusion of real minority images (the paper's)",
        config=_simple_config,
        build=_simple_build,
        preview=_simple_preview,
        fit_options=("steps", "beta_end", "rho_target"),
        forward_noising=True,
    ),
)


# ------------------------------------------------------------------------------ ddpm


def _ddpm_config(options: dict[str, Any]):
    from .ddpm import DDPMConfig

    if options.get("t") is not None:
        raise ConfigError(
            "--t: only applies to --augmentor simple (DDPM samples run the whole chain)"
        )
    schedule = options.get("ddpm_schedule")
    if schedule is None and (
        options.get("beta_start") is not None or options.get("beta_end") is not None
    ):
        schedule = "linear"  # betas given: they only mean something for the linear schedule
    steps = options.get("ddpm_steps")
    given = _given(
        {
            **options,
            "schedule": schedule,
            "steps": steps if steps is not None else options.get("steps"),
        },
        "steps",
        "schedule",
        "beta_start",
        "beta_end",
        "rho_target",
        image_size="ddpm_size",
        train_steps="ddpm_train_steps",
        base_channels="ddpm_channels",
    )
    return DDPMConfig(**given, seed=options.get("seed", 0)).validate()


def _ddpm_build(cfg, log=None):
    from .ddpm import DDPMAugmentor

    every = max(1, cfg.train_steps // 5) if log is not None else 0
    return DDPMAugmentor(cfg, log_every=every)


def _ddpm_preview(augmentor, cfg, sources):
    """Six sampling chains, each shown at six steps from noise to image (``None`` untrained)."""
    if augmentor.ddpm is None:
        return None
    from .export import grid_image

    tiles = augmentor.preview(n=6, columns=6)
    marks = sorted({round(cfg.steps - j * cfg.steps / 5) for j in range(6)}, reverse=True)
    return grid_image(tiles, [f"t={m}" for m in marks], scale=max(1, 96 // cfg.image_size))


AUGMENTORS.register(
    "ddpm",
    Augmentor(
        name="ddpm",
        summary="a small UNet DDPM trained on the minority class, sampled from",
        config=_ddpm_config,
        build=_ddpm_build,
        preview=_ddpm_preview,
        fit_options=("rho_target",),
    ),
)
