"""Helpers of the tracking tests: an MLflow store made once and copied, and TensorBoard event
files and MLflow runs read back the way their own tools read them."""

from __future__ import annotations

import shutil
from pathlib import Path


def migrated_store(folder: Path) -> Path:
    """An empty SQLite store with MLflow's tables created (its migrations run once here)."""
    from mlflow import MlflowClient

    db = Path(folder) / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def copy_store(db: Path, folder: Path) -> str:
    """A copy of ``db`` in ``folder``, as a tracking URI."""
    shutil.copy(db, Path(folder) / "mlflow.db")
    return f"sqlite:///{Path(folder) / 'mlflow.db'}"


def tb_events(logdir: Path):
    """TensorBoard's own reader of the event files in ``logdir``, loaded (everything kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def tb_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of the scalars in ``logdir``."""
    acc = tb_events(logdir)
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def tb_hparams(logdir: Path) -> dict[str, object]:
    """The parameters of the HParams session written in ``logdir`` (as the dashboard reads
    them)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = tb_events(logdir)
    content = acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    out: dict[str, object] = {}
    for k, v in info.hparams.items():
        kind = v.WhichOneof("kind")
        out[k] = getattr(v, kind)
    return out


def mlflow_runs(uri: str, experiment: str) -> list:
    """The runs of ``experiment`` in the store at ``uri``, through MLflow's client, oldest first."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return list(runs)


def mlflow_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    ms = MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in ms)


def mlflow_artifacts(uri: str, run_id: str, path: str | None = None) -> list[str]:
    from mlflow import MlflowClient

    return sorted(f.path for f in MlflowClient(tracking_uri=uri).list_artifacts(run_id, path))
