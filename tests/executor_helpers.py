"""A remote executor that runs in the test process: each task's argument goes through a pickle
round trip (what a Ray worker or a Slurm job receives) and ``run_logged`` (what a worker runs),
so the boundary is exercised without starting workers; a monkeypatched ``fit`` still applies."""

from __future__ import annotations

import pickle

from qsdaqec.experiments.executors import RemoteExecutor, run_logged


class InlineRemote(RemoteExecutor):
    name = "inline"

    def __init__(self, crash=(), max_parallel=None):
        super().__init__(max_parallel, lambda m: None)
        self.crash = set(crash)
        """Task keys whose worker "dies" (an executor-level failure, not an exception)."""
        self.submitted: list[str] = []
        self.cancelled: list[str] = []

    def submit(self, task):
        self.submitted.append(task.key)
        if task.key in self.crash:
            return (False, "WorkerCrashedError: the worker died")
        arg = pickle.loads(pickle.dumps(task.arg))
        return run_logged(task.fn, arg, str(task.log_path), task.cwd)

    def done(self, handle):
        return True

    def collect(self, handle):
        return handle

    def cancel(self, handle):
        self.cancelled.append(handle)


def use_inline(monkeypatch, module, executor):
    """Make ``module``'s ``make_executor`` return ``executor`` for any remote kind."""
    real = module.make_executor

    def make(cfg, **kw):
        return executor if cfg.kind != "local" else real(cfg, **kw)

    monkeypatch.setattr(module, "make_executor", make)
