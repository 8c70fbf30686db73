"""Suite-wide isolation: no test reads or writes the user's real cache (~/.cache/qsdaqec)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_qsdaqec_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QSDAQEC_CACHE", str(tmp_path_factory.mktemp("qsdaqec-cache")))
        yield
