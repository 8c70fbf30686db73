"""Ray: each task is one Ray task declaring its CPUs, GPUs and memory; an existing cluster
(``--ray-address``) or a local one started for the run (or the one this process already
initialised). Ray is the optional extra ``qsdaqec[ray]``."""

from __future__ import annotations

import socket
from typing import Any

from ...errors import ConfigError
from ...optional import require
from .base import Log, RemoteExecutor, Task, one_line, run_logged
from .config import ExecutorConfig

CONNECT_TIMEOUT_S = 5.0


def check_reachable(address: str) -> None:
    """One line instead of Ray's minutes of retries when nothing answers at ``address``."""
    if address == "auto":
        return  # Ray itself finds (or refuses) the cluster of this machine, quickly
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"--ray-address {address}: give host:port (e.g. head-node:6379), ray://host:10001 or auto"
        )
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ConfigError(
            f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e}); start "
            "one with `ray start --head` or leave --ray-address out to start a local one"
        ) from None


class RayExecutor(RemoteExecutor):
    name = "ray"

    def __init__(self, cfg: ExecutorConfig, echo: Log) -> None:
        super().__init__(cfg.max_parallel, echo)
        self.ray = require("ray")
        self.cfg = cfg
        self._started = False
        if cfg.ray_address and not self.ray.is_initialized():
            check_reachable(cfg.ray_address)  # before any work, not after it

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.cfg.ray_address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                )
            except (ConnectionError, RuntimeError) as e:
                what = (
                    f"reach {self.cfg.ray_address}"
                    if self.cfg.ray_address
                    else "start a local cluster"
                )
                raise ConfigError(f"--executor ray: could not {what}: {one_line(e)}") from None
            self._started = True
        have = ray.cluster_resources()
        self.echo(f"ray: cluster with {have.get('CPU', 0):g} CPU(s), {have.get('GPU', 0):g} GPU(s)")
        self._remote = ray.remote(run_logged)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self.ray.shutdown()

    def check(self, tasks: list[Task]) -> None:
        """On the local cluster started here nothing is added later: a task asking for more
        CPUs or GPUs than it has would wait for ever."""
        if not self._started or self.cfg.ray_address:
            return
        have = self.ray.cluster_resources()
        for what, need in (
            ("CPU", max(t.cpus for t in tasks)),
            ("GPU", max(t.gpus for t in tasks)),
        ):
            if need > have.get(what, 0):
                raise ConfigError(
                    f"--executor ray: a task asks for {need} {what}(s), the local Ray cluster has "
                    f"{have.get(what, 0):g}; lower --{what.lower()}s-per-task (a fit on "
                    "--device cuda asks for one GPU) or give --ray-address of a larger cluster"
                )

    def submit(self, task: Task) -> Any:
        opts: dict[str, Any] = {
            "num_cpus": task.cpus,
            "num_gpus": task.gpus,
            "name": task.key,
            "max_retries": 0,  # a failed fit is reported, not silently refitted from scratch
        }
        if self.cfg.mem_gb is not None:
            opts["memory"] = int(self.cfg.mem_gb * 1024**3)
        return self._remote.options(**opts).remote(task.fn, task.arg, str(task.log_path), task.cwd)

    def done(self, handle: Any) -> bool:
        ready, _ = self.ray.wait([handle], timeout=0)
        return bool(ready)

    def collect(self, handle: Any) -> tuple[bool, Any]:
        try:
            return self.ray.get(handle)
        except Exception as e:  # the worker died, was killed or cancelled: Ray's own errors
            return False, one_line(e)

    def cancel(self, handle: Any) -> None:
        try:
            self.ray.cancel(handle, force=True)
        except Exception:  # already finished or gone: nothing to cancel
            pass
