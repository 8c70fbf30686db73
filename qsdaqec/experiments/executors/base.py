"""The executor boundary: a :class:`Task` is a module-level function and a picklable argument;
an executor runs tasks and yields a :class:`TaskOutcome` for each as it finishes.

``local`` calls the function in this process, one task after another, its lines going to the
console as without an executor, and an error stops the run as it always did. A remote
executor (Ray, Slurm) ships ``(function, argument)`` to a worker, where :func:`run_logged`
writes the task's lines to its own log file on the shared filesystem and turns any error
into a failed outcome: a failed task is reported with its key and log, and the others go on.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...redaction import redact

Log = Callable[[str], None]
TaskFn = Callable[[Any, Log, Log], Any]
"""``fn(arg, echo, log)``: ``echo`` for the task's headline messages, ``log`` for the detail
(a fit's own lines); both go to the task's log file on a worker."""

WAIT_NOTICE_SECONDS = 300.0
"""How often a remote executor says what it is still waiting for."""


@dataclass
class Task:
    """One unit of work: ``fn(arg, echo, log)`` with what it needs from the scheduler."""

    name: str
    """For people: ``baselines SDA-QEC seed 0``."""
    key: str
    """Stable identity: the fit's folder name, or the noise-report point's key."""
    fn: TaskFn
    arg: Any
    log_path: Path
    cpus: int = 1
    gpus: int = 0
    cwd: str = field(default_factory=os.getcwd)
    """Relative paths in the task (a spec's ``data``) mean what they meant where it was made."""


@dataclass
class TaskOutcome:
    task: Task
    value: Any = None
    error: str | None = None
    """One line: why the task failed (``None``: it finished)."""
    logs: list[str] = field(default_factory=list)
    """Where its output is: our log file, then the scheduler's (Slurm's stdout/stderr)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def run_logged(fn: TaskFn, arg: Any, log_path: str, cwd: str) -> tuple[bool, Any]:
    """Runs on the worker: ``fn(arg, ...)`` with its lines appended to ``log_path``. Returns
    ``(True, value)``, or ``(False, one line)`` when it raised (the traceback is in the log)."""
    os.chdir(cwd)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8", buffering=1) as f:

        def write(line: str) -> None:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {redact(line)}\n")

        write(f"task on {os.uname().nodename} pid {os.getpid()}")
        try:
            return True, fn(arg, write, write)
        except BaseException as e:  # noqa: B036 - a worker reports every failure, then exits
            f.write(redact(traceback.format_exc()))
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            return False, one_line(e)


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return redact(f"{type(e).__name__}: {text[-1] if text else ''}".rstrip(": "))


class LocalExecutor:
    """Each task in this process, in order; errors propagate (the behaviour without executors)."""

    name = "local"
    remote = False

    def __init__(self, echo: Log, log: Log) -> None:
        self.echo, self.log = echo, log

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskOutcome]:
        for t in tasks:
            yield TaskOutcome(t, t.fn(t.arg, self.echo, self.log), logs=[])


class RemoteExecutor:
    """Submit (at most ``max_parallel`` at once), poll, collect in finishing order; on an
    interruption, cancel what is still running. Subclasses: ``submit``, ``done``,
    ``collect`` (``(ok, value or one line)``, never raising), ``cancel``, ``logs``."""

    name = "remote"
    remote = True
    poll_seconds = 0.5

    def __init__(self, max_parallel: int | None, echo: Log) -> None:
        self.max_parallel = max_parallel
        self.echo = echo

    def __enter__(self) -> RemoteExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def submit(self, task: Task) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def done(self, handle: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def collect(self, handle: Any) -> tuple[bool, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def cancel(self, handle: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def logs(self, task: Task, handle: Any) -> list[str]:
        return [str(task.log_path)]

    def check(self, tasks: list[Task]) -> None:
        """Refuse (``ConfigError``) tasks that could never be scheduled, before submitting."""

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskOutcome]:
        queue = list(tasks)
        self.check(queue)
        running: list[tuple[Task, Any]] = []
        last_notice = time.monotonic()
        try:
            while queue or running:
                while queue and (self.max_parallel is None or len(running) < self.max_parallel):
                    task = queue.pop(0)
                    running.append((task, self.submit(task)))
                finished = [(t, h) for t, h in running if self.done(h)]
                if not finished:
                    if time.monotonic() - last_notice > WAIT_NOTICE_SECONDS:
                        last_notice = time.monotonic()
                        self.echo(
                            f"{self.name}: {len(running)} task(s) running, {len(queue)} waiting"
                        )
                    time.sleep(self.poll_seconds)
                    continue
                for t, h in finished:
                    running.remove((t, h))
                    ok, value = self.collect(h)
                    logs = self.logs(t, h)
                    yield TaskOutcome(t, value if ok else None, None if ok else value, logs)
        except BaseException:
            for _, h in running:
                self.cancel(h)
            if running:
                self.echo(f"{self.name}: cancelled {len(running)} unfinished task(s)")
            raise
