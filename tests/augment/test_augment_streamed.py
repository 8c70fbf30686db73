"""Minority augmentation of a streamed training split: the augmentors read only the minority
images, yet the augmented set is row for row the in-memory one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from qsdaqec.augment import DiffusionConfig, SimpleDiffusionAugmentor, augment_training_split
from qsdaqec.augment.ddpm import DDPMAugmentor, DDPMConfig
from qsdaqec.data import Split, load_dataset, stratified_split
from qsdaqec.data.stream import StreamedImages, stream_dataset


def _folder(root, n_normal=14, n_stenosis=6, size=16):
    rng = np.random.default_rng(3)
    for cls, n in (("normal", n_normal), ("stenosis", n_stenosis)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 256, (size, size), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i:02d}.png")
    return root


def _same(mem, st):
    assert isinstance(st.images, StreamedImages)
    assert torch.equal(st.images.load(), mem.images)
    for name in ("labels", "index", "source_index", "t", "seed", "synthetic"):
        assert torch.equal(getattr(st, name), getattr(mem, name)), name
    assert _untimed(st.result.summary()) == _untimed(mem.result.summary())


def _untimed(summary):
    """The summary without the seconds things took (the DDPM's info has them)."""
    info = {k: v for k, v in summary.get("info", {}).items() if not k.endswith("seconds")}
    return {**summary, "info": info}


@pytest.mark.parametrize("source_order", ["round_robin", "random"])
def test_streamed_augmentation_is_the_in_memory_one(tmp_path, source_order):
    root = _folder(tmp_path / "d")
    mem, st = load_dataset(root, 16), stream_dataset(root, 16)
    split = stratified_split(mem.labels, 0.2, 0.2, seed=1)
    cfg = DiffusionConfig(rho_target=1.0, source_order=source_order, t="random", seed=4)
    a = augment_training_split(
        mem.images, mem.labels, split, augmentor=SimpleDiffusionAugmentor(cfg)
    )
    b = augment_training_split(st.images, st.labels, split, augmentor=SimpleDiffusionAugmentor(cfg))
    assert int(a.synthetic.sum()) > 0
    _same(a, b)
    # only the synthetic rows are held in memory; the split's own rows stay files
    assert b.images.held_bytes == int(b.synthetic.sum()) * 16 * 16 * 4


def test_streamed_ddpm_augmentation_is_the_in_memory_one(tmp_path):
    root = _folder(tmp_path / "d", 10, 4)
    mem, st = load_dataset(root, 16), stream_dataset(root, 16)
    split = Split(np.arange(0, 14, 2), np.arange(1, 14, 4), np.arange(3, 14, 4))
    cfg = DDPMConfig(
        image_size=8, steps=10, train_steps=3, base_channels=4, channel_mults=(1, 2), seed=0
    )
    a = augment_training_split(mem.images, mem.labels, split, augmentor=DDPMAugmentor(cfg))
    b = augment_training_split(st.images, st.labels, split, augmentor=DDPMAugmentor(cfg))
    _same(a, b)


def test_nothing_to_generate_streams_the_split_as_it_is(tmp_path):
    root = _folder(tmp_path / "d", 8, 8)
    mem, st = load_dataset(root, 16), stream_dataset(root, 16)
    split = stratified_split(mem.labels, 0.25, 0.25, seed=0)
    cfg = DiffusionConfig(rho_target=0.5)
    a = augment_training_split(mem.images, mem.labels, split, cfg)
    b = augment_training_split(st.images, st.labels, split, cfg)
    assert a.result.generated == 0 and b.images.held_bytes == 0
    _same(a, b)
