"""Tiny on-disk data sets built in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import make_folder


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "ds", {"normal": 8, "stenosis": 4})
