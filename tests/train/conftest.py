import pytest
from train_helpers import make_folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("tiny") / "data")
