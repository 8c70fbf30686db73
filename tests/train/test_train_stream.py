"""Streaming a fit's images from their files: when it streams, the option's checks, lesion targets
made per batch, and a streamed fit that computes what the in-memory fit computes."""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import make_folder, tiny_cfg

from qsdaqec.data.lesions import ImageLesions, Lesion, LesionTable, write_lesions
from qsdaqec.data.stream import StreamedImages
from qsdaqec.errors import ConfigError, DataError
from qsdaqec.train import data as train_data
from qsdaqec.train.config import FitConfig
from qsdaqec.train.data import prepare_data
from qsdaqec.train.lesion_targets import LesionHeat, training_targets


def test_data_loading_and_workers_are_checked():
    with pytest.raises(ConfigError, match="unknown data_loading 'disk'; choose one of auto"):
        FitConfig(data_loading="disk").validate()
    with pytest.raises(ConfigError, match="workers=-1: must be a whole number >= 0"):
        FitConfig(workers=-1).validate()
    assert FitConfig().data_loading == "auto"


def test_auto_streams_only_above_the_threshold(tmp_path, tiny_data, monkeypatch):
    cfg = tiny_cfg(tiny_data, tmp_path / "run")
    prep = prepare_data(cfg)
    assert not prep.streamed and prep.loading.startswith("memory (auto: ")
    need = 20 * 32 * 32 * 4  # 20 files at 32 px, float32
    monkeypatch.setattr(train_data, "STREAM_BYTES", need - 1)
    prep = prepare_data(cfg)
    assert prep.streamed and prep.loading.startswith("stream (auto: ")
    x, y, ids = prep.part("test")
    assert isinstance(x, StreamedImages) and len(x) == len(y) == len(ids)
    cfg.data_loading = "memory"
    assert not prepare_data(cfg).streamed


def test_stream_refuses_a_npz(tmp_path):
    import numpy as np

    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((8, 32, 32), np.uint8), labels=np.array([0, 1] * 4))
    cfg = tiny_cfg(path, tmp_path / "run", data_loading="stream")
    with pytest.raises(DataError, match="--data-loading stream reads image folders"):
        prepare_data(cfg)
    cfg.data_loading = "auto"
    assert not prepare_data(cfg).streamed


def test_lazy_lesion_targets_are_the_dense_ones():
    table = LesionTable(
        {"s/a.png": ImageLesions(64, 64, (Lesion(33, 17, 8, 8),)), "s/b.png": ImageLesions(64, 64)}
    )
    ids = ["n/x.png", "s/a.png", "s/b.png"]
    labels, sources = torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 2, 1])
    dense = training_targets(table, ids, labels, sources, positive=1, size=32)
    lazy = training_targets(table, ids, labels, sources, positive=1, size=32, lazy=True)
    assert isinstance(lazy.heat, LesionHeat) and lazy.heat.shape == dense.heat.shape
    assert torch.equal(lazy.known, dense.known)
    assert lazy.n_known_positive == dense.n_known_positive == 2
    rows = torch.tensor([3, 0, 1])
    assert torch.equal(lazy.heat[rows], dense.heat[rows])


def _lesions(root):
    """Every stenosis image's lesion at the centre: enough for the loss to be supervised."""
    entries = {f"normal/{f.name}": ImageLesions(32, 32) for f in (root / "normal").glob("*.png")}
    for f in (root / "stenosis").glob("*.png"):
        entries[f"stenosis/{f.name}"] = ImageLesions(32, 32, (Lesion(16, 16, 6, 6),))
    write_lesions(root / "lesions.json", LesionTable(entries))
    return root


def test_a_streamed_fit_computes_what_the_in_memory_fit_computes(tmp_path):
    """Augmentation, noise matching, vessel channels, lesion supervision and BatchNorm
    recalibration all read streamed rows; the predictions are the same to the bit."""
    from qsdaqec.train import fit

    data = _lesions(make_folder(tmp_path / "data", n_normal=16, n_stenosis=8))
    kw = dict(epochs=1, bn_recalibrate=8, test_views=2)
    mem = fit(tiny_cfg(data, tmp_path / "mem", data_loading="memory", **kw))
    lines = []
    st = fit(
        tiny_cfg(data, tmp_path / "st", data_loading="stream", workers=1, **kw),
        log=lines.append,
    )
    assert any(x.startswith("images: stream (--data-loading stream") for x in lines)
    info = json.loads((st / "run.json").read_text())
    assert info["data"]["loading"].startswith("stream")
    assert info["augmentation"]["generated"] > 0
    mem_rows = (mem / "predictions_test.csv").read_text()
    assert (st / "predictions_test.csv").read_text() == mem_rows
    m, s = (json.loads((r / "metrics.json").read_text()) for r in (mem, st))
    assert s["test"] == m["test"] and s["localisation"] == m["localisation"]
    h = [json.loads((r / "history.json").read_text()) for r in (mem, st)]
    assert [r["train_loss"] for r in h[0]] == [r["train_loss"] for r in h[1]]
