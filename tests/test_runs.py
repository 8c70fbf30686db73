import dataclasses
import json

import pytest

from qsdaqec.errors import RunError
from qsdaqec.runs import create_run_dir


@dataclasses.dataclass
class Cfg:
    lr: float = 0.1
    name: str = "x"


def test_create_run_dir_writes_config_and_environment(tmp_path):
    run = create_run_dir(tmp_path / "r1", Cfg(), seed=3)
    assert json.loads((run / "config.json").read_text()) == {"lr": 0.1, "name": "x"}
    env = json.loads((run / "environment.json").read_text())
    assert env["seed"] == 3
    assert env["packages"]["torch"]


def test_create_run_dir_refuses_to_overwrite(tmp_path):
    create_run_dir(tmp_path / "r1", Cfg())
    with pytest.raises(RunError, match="already exists"):
        create_run_dir(tmp_path / "r1", Cfg())
    create_run_dir(tmp_path / "r1", Cfg(lr=0.2), exist_ok=True)
