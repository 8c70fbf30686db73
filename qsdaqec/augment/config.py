"""``DiffusionConfig``: the forward-diffusion settings and their defaults (the paper's).

Kept free of torch so that ``FitConfig`` (and with it the CLI's ``--help``) can read the
defaults without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

VALUE_RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0)}


@dataclass
class DiffusionConfig:
    """Forward-diffusion augmentation settings (defaults are the paper's)."""

    steps: int = 5
    """T, number of forward steps in the schedule."""
    beta_start: float = 1e-4
    beta_end: float = 0.02
    rho_target: float = 0.7
    """Generate until minority/majority >= rho_target."""
    t: str | int = "random"
    """Step of each synthetic sample: "random" (uniform in 1..T) or a fixed int in 1..T."""
    source_order: str = "round_robin"
    """How sources are picked from the minority class: "round_robin" or "random"."""
    seed: int = 0
    value_range: str = "0,1"
    """Range of input (and output) images: "0,1" or "-1,1"."""
    snr_warn_db: float = 0.0
    """Warn when the measured SNR at the noisiest step used falls below this (dB)."""

    def validate(self) -> DiffusionConfig:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"steps: must be an integer >= 1, got {self.steps!r}")
        for name in ("beta_start", "beta_end"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not (0.0 < float(v) < 1.0):
                raise ConfigError(f"{name}: must lie in (0, 1), got {v!r}")
        if self.beta_start > self.beta_end:
            raise ConfigError(
                f"beta_start: must be <= beta_end, got beta_start={self.beta_start} > "
                f"beta_end={self.beta_end}"
            )
        if not isinstance(self.rho_target, (int, float)) or not (
            self.rho_target > 0 and math.isfinite(self.rho_target)
        ):
            raise ConfigError(f"rho_target: must be a positive number, got {self.rho_target!r}")
        t = self.t
        if isinstance(t, str) and t != "random":
            try:
                t = int(t)
            except ValueError:
                raise ConfigError(
                    f't: must be "random" or an integer in 1..{self.steps}, got {self.t!r}'
                ) from None
            self.t = t
        if not isinstance(t, str) and (
            isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= self.steps
        ):
            raise ConfigError(
                f't: must be "random" or an integer in 1..{self.steps}, got {self.t!r}'
            )
        if self.source_order not in ("round_robin", "random"):
            raise ConfigError(
                f'source_order: must be "round_robin" or "random", got {self.source_order!r}'
            )
        if self.value_range not in VALUE_RANGES:
            raise ConfigError(f'value_range: must be "0,1" or "-1,1", got {self.value_range!r}')
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed: must be an integer, got {self.seed!r}")
        return self

    @property
    def range(self) -> tuple[float, float]:
        return VALUE_RANGES[self.value_range]
