import pytest
from report_helpers import make_run


@pytest.fixture(scope="session", autouse=True)
def _runner_cache(tmp_path_factory):
    """Transpiled circuits go to a session folder, not the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("QSDAQEC_CACHE", str(tmp_path_factory.mktemp("qsdaqec-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def amp_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "amp", "amplitude")


@pytest.fixture(scope="session")
def angle_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "angle", "angle")


@pytest.fixture(scope="session")
def classical_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "dense", head="classical")
