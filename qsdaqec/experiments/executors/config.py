"""Where the fits of ``qsdaqec run`` and the points of ``qsdaqec noise-report`` run: the
executor's settings, from the command line and a spec's ``[executor]`` table.

.. code-block:: toml

    [executor]              # in a spec file; every key optional, command-line options win
    kind = "slurm"          # local | ray | slurm
    partition = "gpu"       # Slurm partition
    time_min = 240          # Slurm time limit per fit, minutes
    cpus_per_task = 4
    gpus_per_task = 1       # default: 1 when the fit trains on cuda, else 0
    mem_gb = 16
    max_parallel = 8        # tasks in flight at once (default: as many as the scheduler takes)
    ray_address = "head-node:6379"   # Ray: an existing cluster (default: start a local one)
    slurm_local = false     # Slurm: run the jobs as local processes (submitit's local executor)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import ConfigError

EXECUTORS = ("local", "ray", "slurm")


@dataclass
class ExecutorConfig:
    """An executor and the resources of each of its tasks. ``validate()`` is the one home of
    the defaults; ``None`` means "not set" (the spec's value, else the default)."""

    kind: str | None = None
    """``local`` (default: one task after another in this process, as without an executor),
    ``ray`` or ``slurm``."""
    ray_address: str | None = None
    """An existing Ray cluster (``host:port``, ``ray://host:port`` or ``auto``); none: start a
    local cluster on this machine's CPUs."""
    cpus_per_task: int | None = None
    """CPUs declared per task (default 1); a fit's torch threads follow it unless
    ``--num-threads`` says otherwise, so tasks sharing a node do not oversubscribe it."""
    gpus_per_task: int | None = None
    """GPUs declared per task (default: 1 for a fit whose device is ``cuda``, else 0)."""
    mem_gb: float | None = None
    """Memory per task in GB (Slurm ``--mem``, Ray ``memory``); default: the scheduler's."""
    partition: str | None = None
    """Slurm partition; default: the cluster's."""
    time_min: int | None = None
    """Slurm time limit per task, minutes (default 240). A fit killed at its limit is resumed
    from its last epoch by the next ``qsdaqec run``."""
    max_parallel: int | None = None
    """Tasks submitted at once (default: all; Ray and Slurm queue what does not fit)."""
    slurm_local: bool | None = None
    """Run Slurm tasks as local processes through submitit's local executor (no cluster, no
    ``sbatch``): the same code path, to try a setup on a workstation."""

    def validate(self) -> ExecutorConfig:
        if self.kind is None:
            self.kind = "local"
        if self.kind not in EXECUTORS:
            raise ConfigError(f"executor {self.kind!r}: unknown; use one of {', '.join(EXECUTORS)}")
        if self.cpus_per_task is None:
            self.cpus_per_task = 1
        if self.time_min is None:
            self.time_min = 240
        if self.slurm_local is None:
            self.slurm_local = False
        for name, low in (("cpus_per_task", 1), ("gpus_per_task", 0), ("time_min", 1)):
            _at_least(name, getattr(self, name), low)
        _at_least("max_parallel", self.max_parallel, 1)
        if self.mem_gb is not None and not self.mem_gb > 0:
            raise ConfigError(f"executor mem_gb {self.mem_gb}: must be > 0 (GB per task)")
        return self

    def over(self, other: ExecutorConfig) -> ExecutorConfig:
        """These settings where set, else ``other``'s (command line over the spec's table)."""
        return ExecutorConfig(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(other, f.name)
                for f in dataclasses.fields(self)
            }
        )

    def gpus_for(self, device: str | None) -> int:
        """GPUs a fit on ``device`` declares."""
        if self.gpus_per_task is not None:
            return self.gpus_per_task
        return 1 if str(device or "").startswith("cuda") else 0


def _at_least(name: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise ConfigError(f"executor {name} {value}: must be >= {low}")
