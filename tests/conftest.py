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
        yield
