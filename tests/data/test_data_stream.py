"""Streamed data sets: rows read from their files are the in-memory loader's tensors, views and
batches keep their order, a file that breaks later is one clear error, and the memory estimate
counts the files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from data_helpers import make_folder, write_png
from dicom_helpers import dicom_folder

from qsdaqec.data import load_dataset
from qsdaqec.data.stream import StreamedImages, estimate_bytes, stream_dataset
from qsdaqec.errors import DataError


def _mixed_folder(root):
    """8-bit grey, RGB and 16-bit PNGs of different sizes, so every row is converted and
    resized."""
    make_folder(root, {"normal": 5, "stenosis": 3}, size=20)
    write_png(root / "normal" / "rgb.png", value=90, size=24, mode="RGB")
    arr = (np.arange(18 * 18, dtype=np.uint16).reshape(18, 18) * 200).astype(np.uint16)
    from PIL import Image

    Image.fromarray(arr).save(root / "stenosis" / "deep.png")
    return root


def test_streamed_rows_are_the_in_memory_tensors(tmp_path):
    root = _mixed_folder(tmp_path / "ds")
    mem = load_dataset(root, 16)
    st = stream_dataset(root, 16)
    assert isinstance(st.images, StreamedImages) and st.images.shape == mem.images.shape
    assert st.ids == mem.ids and torch.equal(st.labels, mem.labels)
    assert st.classes == mem.classes and st.positive == mem.positive
    for i in range(len(mem)):
        assert torch.equal(st.images[i], mem.images[i]), mem.ids[i]
    assert torch.equal(st.images.load(batch_size=3), mem.images)


def test_streamed_dicom_frames_are_the_in_memory_tensors(tmp_path):
    root = dicom_folder(tmp_path / "dcm")
    for frame in ("max-contrast", "middle", 1):
        mem = load_dataset(root, 32, frame=frame)
        st = stream_dataset(root, 32, frame=frame)
        assert torch.equal(st.images[torch.arange(len(mem))], mem.images), frame


def test_a_split_folder_streams_with_its_split(tmp_path):
    for part in ("train", "val", "test"):
        make_folder(tmp_path / "aug" / part, {"normal": 3, "stenosis": 2})
    mem = load_dataset(tmp_path / "aug", 16)
    st = stream_dataset(tmp_path / "aug", 16)
    assert st.ids == mem.ids and st.ids[0].startswith("train/")
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(st.split, name), getattr(mem.split, name))
    assert torch.equal(st.images[np.asarray(st.split.test)], mem.images[mem.split.test])


def test_views_and_batches_keep_their_order(tmp_path):
    root = make_folder(tmp_path / "ds", {"normal": 6, "stenosis": 4})
    mem = load_dataset(root, 16).images
    x = stream_dataset(root, 16).images
    rows = torch.tensor([7, 2, 9, 0])
    view = x.take(rows)
    assert len(view) == 4 and torch.equal(view[1], mem[2])
    assert torch.equal(x[rows], mem[rows]) and torch.equal(x[2:5], mem[2:5])
    assert torch.equal(
        x[mem.new_zeros(10, dtype=torch.bool).index_fill(0, rows, True)], mem[[0, 2, 7, 9]]
    )
    extra = torch.rand(3, 1, 16, 16)
    both = view.with_rows(extra)  # streamed rows, then rows held in memory
    assert both.shape == (7, 1, 16, 16) and both.held_bytes == extra.numel() * 4
    order = [torch.tensor([4, 0]), torch.tensor([6, 5, 1])]
    got = list(both.batches(order))
    want = torch.cat([mem[rows], extra])
    assert [g.shape[0] for g in got] == [2, 3]
    assert torch.equal(got[0], want[[4, 0]]) and torch.equal(got[1], want[[6, 5, 1]])
    # worker processes read the same rows, in the same order
    got = list(both.loading(workers=2).batches(order))
    assert torch.equal(got[1], want[[6, 5, 1]])


def test_a_file_broken_after_the_scan_is_one_line(tmp_path):
    root = make_folder(tmp_path / "ds", {"normal": 3, "stenosis": 2})
    x = stream_dataset(root, 16).images
    bad = root / "normal" / "normal_01.png"
    bad.write_bytes(b"not a png")
    for workers in (0, 1):
        with pytest.raises(DataError) as e:
            list(x.loading(workers).batches([torch.arange(5)]))
        msg = str(e.value)
        assert "\n" not in msg and str(bad) in msg and "was it changed" in msg


def test_streaming_checks_every_file_up_front(tmp_path):
    root = make_folder(tmp_path / "ds", {"normal": 3, "stenosis": 2})
    (root / "stenosis" / "broken.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        stream_dataset(root, 16)
    st = stream_dataset(root, 16, skip_bad=True)
    assert len(st) == 5 and st.skipped[0][0].endswith("broken.png")


def test_a_npz_is_not_streamed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="read whole"):
        stream_dataset(path, 16)
    assert estimate_bytes(path, 16) is None


def test_estimate_counts_files_at_the_fit_size(tmp_path):
    root = make_folder(tmp_path / "ds", {"normal": 6, "stenosis": 4})
    (root / "lesions.json").write_text("{}")  # beside the classes: not an image
    assert estimate_bytes(root, 64) == 10 * 64 * 64 * 4
    aug = tmp_path / "aug"
    for part in ("train", "val", "test"):
        shutil.copytree(root, aug / part)
    assert estimate_bytes(aug, (32, 16)) == 30 * 32 * 16 * 4
    assert estimate_bytes(tmp_path / "missing", 64) is None
