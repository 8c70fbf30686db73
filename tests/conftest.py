"""Suite-wide isolation: no test reads or writes the user's real cache (~/.cache/qsdaqec),
its own torch hub folder, and none touches the network (QSDAQEC_OFFLINE: ImageNet weights are never downloaded; the
download test serves its file through a file:// URL)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_qsdaqec_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QSDAQEC_CACHE", str(tmp_path_factory.mktemp("qsdaqec-cache")))
        mp.setenv("QSDAQEC_OFFLINE", "1")
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
        # --tracker mlflow never reaches a developer's own MLflow server or experiment
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        yield


@pytest.fixture(scope="session")
def _migrated_mlflow_store(tmp_path_factory):
    """An empty MLflow SQLite store, made once: MLflow's table migrations take seconds."""
    from tracking_helpers import migrated_store

    return migrated_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def mlflow_uri(_migrated_mlflow_store, tmp_path, monkeypatch):
    """A fresh MLflow store of this test (a copy of the migrated one), with the test's folder
    as the current one: MLflow puts a new experiment's artifacts in ./mlruns."""
    from tracking_helpers import copy_store

    monkeypatch.chdir(tmp_path)
    return copy_store(_migrated_mlflow_store, tmp_path)
