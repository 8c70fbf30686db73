"""Experiment tracking: what ``fit``, ``run`` and ``noise-report`` send to TensorBoard or MLflow
besides their own files (``--tracker``). Without a tracker nothing is sent (:class:`NullTracker`).

One protocol, :class:`Tracker`, and two backends:

- ``tensorboard``: event files in ``<folder>/tensorboard/`` (a fit's run folder, the report's
  folder): per-epoch scalars, the parameters as a text table, PNG outputs as images, and at the
  end a session of the HParams dashboard (parameters and final metrics), so that
  ``tensorboard --logdir`` over many runs compares them. Each point of a noise report is a
  session of its own in a subfolder.
- ``mlflow``: an MLflow run in the store ``uri`` names (``--tracking-uri``, else
  ``MLFLOW_TRACKING_URI``, else MLflow's default: ``sqlite:///mlflow.db`` in the current
  folder): parameters, metrics by step, output files as artifacts; each point of a noise report
  is a child run. ``MLFLOW_EXPERIMENT_NAME`` overrides the experiment a command picks.

Both packages are optional (``qsdaqec[tracking]``, checked in :mod:`qsdaqec.optional`) and
imported only when their tracker is opened. The module sits in the base layer so that ``train``
(fit) and ``experiments`` (run, noise-report) use it alike.
"""

from __future__ import annotations

import importlib.util
import logging
import numbers
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from .errors import ConfigError, RunError
from .optional import require
from .redaction import redact

TRACKERS = ("tensorboard", "mlflow")
TENSORBOARD_DIR = "tensorboard"
"""The event files' folder inside the folder a command tracks."""
_PACKAGE = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
_KIND_TAG = "mlflow.experimentKind"
_MLFLOW_MAX_PARAMS, _MLFLOW_MAX_METRICS, _MLFLOW_MAX_VALUE = 100, 1000, 6000  # per log_batch


@dataclass(frozen=True)
class TrackingConfig:
    """Where a command's metrics go; picklable, so an experiment's tasks carry it to workers."""

    tracker: str | None = None
    """``None`` (no tracking) | ``tensorboard`` | ``mlflow``."""
    uri: str | None = None
    """MLflow's tracking URI; ``None``: ``MLFLOW_TRACKING_URI``, else MLflow's default."""
    experiment: str | None = None
    """MLflow experiment; ``None``: the command's (``MLFLOW_EXPERIMENT_NAME`` wins over both)."""

    def validate(self) -> TrackingConfig:
        """Bad names, and a tracker whose package is missing: one line naming the extra."""
        if self.tracker is None:
            if self.uri is not None:
                raise ConfigError("--tracking-uri is MLflow's: give it with --tracker mlflow")
            return self
        if self.tracker not in TRACKERS:
            raise ConfigError(f"--tracker {self.tracker!r}: use one of {', '.join(TRACKERS)}")
        if self.uri is not None and self.tracker != "mlflow":
            raise ConfigError("--tracking-uri is MLflow's: give it with --tracker mlflow")
        require(_PACKAGE[self.tracker])
        if self.tracker == "mlflow":
            _check_sqlite_store(self.uri or os.environ.get("MLFLOW_TRACKING_URI"))
        return self


def _check_sqlite_store(uri: str | None) -> None:
    """MLflow's default store (``uri`` ``None``) and any ``sqlite:`` one need SQLAlchemy and
    Alembic, which full ``mlflow`` installs and ``mlflow-skinny`` does not: said before a
    command runs, not when its first metric is sent."""
    if uri is not None and not uri.startswith("sqlite:"):
        return
    missing = [m for m in ("sqlalchemy", "alembic") if importlib.util.find_spec(m) is None]
    if missing:
        store = redact(uri) if uri else "MLflow's default store, sqlite:///mlflow.db,"
        raise ConfigError(
            f"--tracker mlflow: {store} needs {' and '.join(missing)} (not installed): "
            "install qsdaqec[tracking] (pip install 'qsdaqec[tracking]'), or point "
            "--tracking-uri at another store"
        )


class Tracker(Protocol):
    """What a command sends; every backend takes the same calls (no-op in :class:`NullTracker`)."""

    where: str
    """Where the data goes, for the log line (a folder or a redacted URI)."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """The configuration, once (nested dicts flattened with dots)."""

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Numbers at ``step`` (an epoch); ``step=None``: the final ones. Non-numbers are left out."""

    def log_file(self, path: Path, folder: str | None = None) -> None:
        """An output file (a PNG is an image in TensorBoard, which keeps no other files)."""

    def log_point(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """One point of a grid (a noise report's), as a sub-run that can be compared."""

    def close(self, ok: bool = True) -> None:
        """Finish the run (``ok=False``: it failed or was interrupted)."""

    def __enter__(self) -> Tracker: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...


class _Closing:
    """``with tracker:`` closes it, marked failed when the block raised."""

    def close(self, ok: bool = True) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


class NullTracker(_Closing):
    """No tracker: today's behaviour, nothing sent anywhere."""

    where = ""

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        pass

    def log_file(self, path: Path, folder: str | None = None) -> None:
        pass

    def log_point(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        pass

    def close(self, ok: bool = True) -> None:
        pass


def open_tracker(
    cfg: TrackingConfig | None,
    *,
    folder: Path,
    experiment: str,
    name: str,
    tags: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> Tracker:
    """The tracker ``cfg`` asks for: TensorBoard files in ``folder/tensorboard``, or an MLflow
    run called ``name`` in ``experiment`` (``cfg.experiment`` or ``MLFLOW_EXPERIMENT_NAME``
    first) with ``tags``. ``log`` gets one line saying where the data goes."""
    if cfg is None or cfg.tracker is None:
        return NullTracker()
    cfg.validate()
    if cfg.tracker == "tensorboard":
        tracker: Tracker = TensorBoardTracker(Path(folder) / TENSORBOARD_DIR)
    else:
        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or cfg.experiment or experiment
        tracker = MlflowTracker(cfg.uri, experiment, name, dict(tags or {}))
    if log is not None:
        log(f"tracking: {cfg.tracker}, {tracker.where}")
    return tracker


# ----------------------------------------------------------------------------- values


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become text, so every value is a scalar."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = redact(v) if isinstance(v, str) else v
        else:
            out[key] = redact(v if not isinstance(v, (list, tuple)) else list(v))
    return out


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of ``metrics`` as floats (``True`` = 1); NaN stays NaN (undefined)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, numbers.Real)}


def slug(name: str) -> str:
    """A folder name of ``name`` (TensorBoard's sub-runs)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "point"


# ----------------------------------------------------------------------------- TensorBoard


class TensorBoardTracker(_Closing):
    """Event files written by ``torch.utils.tensorboard`` (which needs ``tensorboard``)."""

    def __init__(self, logdir: Path):
        # imported here: the tensorboard package is optional (TrackingConfig.validate checked it)
        from torch.utils.tensorboard import SummaryWriter

        self._writer_type = SummaryWriter
        self.logdir = Path(logdir)
        self.where = str(self.logdir)
        self._w = SummaryWriter(log_dir=str(self.logdir))
        self._params: dict[str, Any] = {}
        self._final: dict[str, float] = {}

    def log_params(self, params: Mapping[str, Any]) -> None:
        flat = flatten(params)
        self._params.update(flat)
        rows = "".join(f"| {k} | {v} |\n" for k, v in flat.items())
        self._w.add_text("params", "| param | value |\n| --- | --- |\n" + rows)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        if step is None:  # the final numbers: the HParams session written by close()
            self._final.update(numeric(metrics))
            return
        for k, v in numeric(metrics).items():
            self._w.add_scalar(k, v, step)
        self._w.flush()  # an epoch is seen while the fit runs, and kept if it is killed

    def log_file(self, path: Path, folder: str | None = None) -> None:
        path = Path(path)
        if path.suffix.lower() != ".png":
            return  # TensorBoard keeps no files; the command's folder has them
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        tag = f"{folder}/{path.stem}" if folder else path.stem
        self._w.add_image(tag, pixels, 0, dataformats="HWC")

    def log_point(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        with self._writer_type(log_dir=str(self.logdir / slug(name))) as w:
            _session(w, flatten(params), numeric(metrics))

    def close(self, ok: bool = True) -> None:
        if ok and self._final:
            _session(self._w, self._params, self._final)
        self._w.close()


def _session(writer, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """An HParams session: the parameters and metrics of one run, as the dashboard reads them
    (``SummaryWriter.add_hparams`` would write it into a new subfolder instead)."""
    from torch.utils.tensorboard.summary import hparams

    values = {k: v for k, v in params.items() if isinstance(v, (bool, int, float, str))}
    for summary in hparams(values, metrics):
        writer.file_writer.add_summary(summary)
    for k, v in metrics.items():
        writer.add_scalar(k, v, 0)


# ----------------------------------------------------------------------------- MLflow


class MlflowTracker(_Closing):
    """One MLflow run through ``MlflowClient`` (no global active run: several may be open)."""

    def __init__(self, uri: str | None, experiment: str, name: str, tags: dict[str, Any]):
        from mlflow import MlflowClient  # optional: TrackingConfig.validate checked it
        from mlflow.entities import Metric, Param

        self._metric, self._param = Metric, Param
        with _opening(uri):
            self._client = MlflowClient(tracking_uri=uri)
            self.where = redact(self._client.tracking_uri)
            self._experiment = self._experiment_id(experiment)
            run = self._client.create_run(
                self._experiment, run_name=name, tags={k: str(v) for k, v in tags.items()}
            )
        self.run_id = run.info.run_id

    def _experiment_id(self, name: str) -> str:
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:  # the kind: MLflow's UI opens it on its runs table, not its GenAI pages
            return self._client.create_experiment(
                name, tags={_KIND_TAG: "custom_model_development"}
            )
        except Exception:  # another worker created it meanwhile
            found = self._client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._batch(self.run_id, {}, flatten(params))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self._batch(self.run_id, numeric(metrics), {}, step or 0)

    def log_file(self, path: Path, folder: str | None = None) -> None:
        with self._guard(f"keeping {Path(path).name}"):
            self._client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def log_point(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        with self._guard(f"the point {name}"):
            child = self._client.create_run(
                self._experiment, run_name=name, tags={"mlflow.parentRunId": self.run_id}
            ).info.run_id
        self._batch(child, numeric(metrics), flatten(params))
        with self._guard(f"the point {name}"):
            self._client.set_terminated(child, "FINISHED")

    def close(self, ok: bool = True) -> None:
        with self._guard("closing the run"):
            self._client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")

    def _batch(self, run_id: str, metrics: dict[str, float], params: dict[str, Any], step=0):
        now = int(time.time() * 1000)
        ms = [self._metric(k, v, now, step) for k, v in metrics.items()]
        ps = [self._param(k, str(v)[:_MLFLOW_MAX_VALUE]) for k, v in params.items()]
        with self._guard("logging"):
            for i in range(0, len(ps), _MLFLOW_MAX_PARAMS):
                self._client.log_batch(run_id, params=ps[i : i + _MLFLOW_MAX_PARAMS])
            for i in range(0, len(ms), _MLFLOW_MAX_METRICS):
                self._client.log_batch(run_id, metrics=ms[i : i + _MLFLOW_MAX_METRICS])

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """A store that fails mid-command: one line; the command's own files are complete."""
        try:
            yield
        except Exception as e:
            raise RunError(
                f"--tracker mlflow ({self.where}): {what} failed: {_first_line(e)}"
            ) from None


@contextmanager
def _opening(uri: str | None) -> Iterator[None]:
    """Opening a store: MLflow's info lines (creating its tables) kept off stderr, and a
    failure as one line; the default SQLite store needs what full ``mlflow`` installs."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    where = redact(uri or os.environ.get("MLFLOW_TRACKING_URI") or "MLflow's default store")
    try:
        yield
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"--tracker mlflow: the store {where} needs {e.name}, which is not installed: "
            "install qsdaqec[tracking] (pip install 'qsdaqec[tracking]'), or point "
            "--tracking-uri at another store"
        ) from None
    except Exception as e:
        raise ConfigError(
            f"--tracker mlflow: cannot open the store {where}: {_first_line(e)}"
        ) from None
    finally:
        logger.setLevel(level)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return redact(f"{type(e).__name__}: {text[0] if text else ''}")
