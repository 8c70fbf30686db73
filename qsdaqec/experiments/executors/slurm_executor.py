"""Slurm through submitit: each task is one Slurm job (partition, time limit, CPUs, GPUs and
memory from the options or the spec); ``slurm_local`` runs the same jobs as local processes
with submitit's local executor. submitit is the optional extra ``qsdaqec[slurm]``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ...errors import ConfigError, RunError
from ...optional import require
from ...redaction import redact
from .base import Log, RemoteExecutor, Task, run_logged
from .config import ExecutorConfig


class SlurmExecutor(RemoteExecutor):
    name = "slurm"

    def __init__(self, cfg: ExecutorConfig, folder: Path, echo: Log) -> None:
        super().__init__(cfg.max_parallel, echo)
        submitit = require("submitit")
        if not cfg.slurm_local and shutil.which("sbatch") is None:
            raise ConfigError(
                "--executor slurm: sbatch is not on PATH; run on a Slurm login node, or add "
                "--slurm-local to run the jobs as local processes"
            )
        self.cfg = cfg
        self.folder = Path(folder)
        self.submitit = submitit
        self.executor = submitit.AutoExecutor(
            folder=self.folder, cluster="local" if cfg.slurm_local else "slurm"
        )
        if cfg.slurm_local:
            self.name = "slurm (local processes)"

    def submit(self, task: Task) -> Any:
        params: dict[str, Any] = {
            "name": f"qsdaqec-{task.key}",
            "timeout_min": self.cfg.time_min,
            "cpus_per_task": task.cpus,
            "tasks_per_node": 1,
            "nodes": 1,
        }
        if task.gpus:
            params["gpus_per_node"] = task.gpus
        if self.cfg.mem_gb is not None:
            params["mem_gb"] = self.cfg.mem_gb
        if self.cfg.partition:
            params["slurm_partition"] = self.cfg.partition
        self.executor.update_parameters(**params)
        try:
            return self.executor.submit(run_logged, task.fn, task.arg, str(task.log_path), task.cwd)
        except Exception as e:  # sbatch refused it (a bad partition, time or account)
            raise RunError(
                redact(f"--executor slurm: the job of {task.key} was refused: {_first_line(e)}")
            ) from None

    def done(self, handle: Any) -> bool:
        return handle.done()

    def collect(self, handle: Any) -> tuple[bool, Any]:
        try:
            return handle.result()
        except Exception as e:  # killed, timed out, preempted, node failure: submitit's errors
            return False, redact(f"Slurm job {handle.job_id}: {type(e).__name__}: {_first_line(e)}")

    def cancel(self, handle: Any) -> None:
        try:
            handle.cancel(check=False)
        except Exception:  # already finished or gone
            pass

    def logs(self, task: Task, handle: Any) -> list[str]:
        return [str(task.log_path), str(handle.paths.stdout), str(handle.paths.stderr)]


def _first_line(e: BaseException) -> str:
    """submitit's and sbatch's messages say what happened first, then logs and streams."""
    return (str(e).strip().splitlines() or [""])[0][:300]
