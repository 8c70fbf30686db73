"""Lesion supervision and localisation: targets, loss, peaks, and a fit that learns from
lesions.json and reports where the lesions are."""

import json
import math

import pytest
import torch
from train_helpers import tiny_cfg

from qsdaqec.data.lesions import ImageLesions, Lesion, LesionTable, write_lesions
from qsdaqec.train.lesion_targets import (
    lesion_channel,
    lesion_map_loss,
    training_targets,
)
from qsdaqec.train.localise import Peak, localisation, on_lesion, peaks


def test_lesion_channel_peaks_at_the_centre():
    ch = lesion_channel([(10.5, 20.5, 4.0)], 32)
    assert ch.shape == (1, 32, 32) and float(ch.max()) == pytest.approx(1.0)
    row, col = divmod(int(ch.argmax()), 32)
    assert (col, row) == (10, 20)
    assert float(lesion_channel([], 32).abs().sum()) == 0


def test_training_targets_know_negatives_and_annotated_positives_only():
    table = LesionTable(
        {"s/a.png": ImageLesions(64, 64, (Lesion(33, 17, 8, 8),)), "s/b.png": ImageLesions(64, 64)}
    )
    ids = ["n/x.png", "s/a.png", "s/b.png", "s/c.png"]
    labels = torch.tensor([0, 1, 1, 1, 1])
    sources = torch.tensor([0, 1, 2, 3, 1])  # the last row: a synthetic copy of s/a.png
    t = training_targets(table, ids, labels, sources, positive=1, size=32)
    assert t.known.tolist() == [True, True, False, False, True]
    assert torch.equal(t.heat[1], t.heat[4]) and float(t.heat[0].sum()) == 0
    row, col = divmod(int(t.heat[1].argmax()), 32)
    assert (col, row) == (16, 8)  # rescaled from 64 px
    assert training_targets(LesionTable({}), ids, labels, sources, 1, 32) is None


def test_lesion_map_loss_rewards_the_right_cell():
    heat = lesion_channel([(12.0, 4.0, 4.0)], 16)[None]  # (1, 1, 16, 16)
    known = torch.tensor([True])
    right = torch.full((1, 1, 2, 2), -5.0)
    right[0, 0, 0, 1] = 5.0
    wrong = torch.full((1, 1, 2, 2), -5.0)
    wrong[0, 0, 1, 0] = 5.0
    assert lesion_map_loss(right, heat, known) < lesion_map_loss(wrong, heat, known)
    assert float(lesion_map_loss(right, heat, torch.tensor([False]))) == 0.0


def test_peaks_are_separate_local_maxima_in_pixels():
    prob = torch.zeros(8, 8)
    prob[2, 5] = 0.9
    prob[2, 6] = 0.3  # a shoulder of the same peak: not a second lesion
    prob[6, 1] = 0.6
    found = peaks(prob, (64, 64), k=3)
    assert [round(p.score, 2) for p in found] == [0.9, 0.6]
    assert found[0].y == pytest.approx(2.5 * 8) and 5.5 * 8 < found[0].x < 6.0 * 8
    assert (found[1].x, found[1].y) == pytest.approx((1.5 * 8, 6.5 * 8))


def test_on_lesion_uses_stored_pixels_and_tolerance():
    entry = ImageLesions(128, 128, (Lesion(40, 40, 8, 8),))  # reach 4
    assert on_lesion(Peak(20 + 2.9, 20, 0.5), entry, (64, 64))  # 45.8 px: within 4 + 2
    assert not on_lesion(Peak(20 + 3.2, 20, 0.5), entry, (64, 64))  # 46.4 px
    loc = localisation([Peak(20, 20, 0.9), None], [entry, entry], (64, 64))
    assert loc == {"n": 2, "hits": 1, "rate": 0.5}
    assert math.isnan(localisation([Peak(1, 1, 1)], [None], (64, 64))["rate"])


def _with_lesions(root):
    """lesions.json for train_helpers.make_folder's images: the bright gap in the bar."""
    from PIL import Image

    entries = {}
    for cls in ("normal", "stenosis"):
        for f in sorted((root / cls).glob("*.png")):
            entries[f"{cls}/{f.name}"] = ImageLesions(32, 32)
            if cls == "stenosis":
                import numpy as np

                a = np.asarray(Image.open(f), dtype=float)
                cols = np.flatnonzero(a.mean(0) < 0.45 * 255)
                rows = np.flatnonzero(a[:, cols].mean(1) > 0.5 * 255)
                cx, cy = cols.mean() + 0.5, rows.mean() + 0.5
                entries[f"{cls}/{f.name}"] = ImageLesions(32, 32, (Lesion(cx, cy, 6, 6),))
    write_lesions(root / "lesions.json", LesionTable(entries))
    return root


def test_fit_learns_from_lesions_json_and_reports_locations(tmp_path, tiny_data):
    import shutil

    from qsdaqec.train import fit
    from qsdaqec.train.prediction import predict

    data = _with_lesions(shutil.copytree(tiny_data, tmp_path / "data"))
    lines = []
    run = fit(tiny_cfg(data, tmp_path / "run", head="classical", epochs=2), log=lines.append)
    metrics = json.loads((run / "metrics.json").read_text())
    loc = metrics["localisation"]
    assert loc["n"] == loc["hits"] + (loc["n"] - loc["hits"]) and loc["tolerance_px"] == 2.0
    assert any(x.startswith("lesion localisation: ") for x in lines)
    assert not any("no lesion positions" in x for x in lines)
    rows = predict(run, [data / "stenosis" / "000.png"])
    assert 0 <= rows[0]["lesion_x"] <= 32 and 0 <= rows[0]["lesion_y"] <= 32
    assert 0 <= rows[0]["lesion_score"] <= 1 and len(rows[0]["lesions"].split(";")) >= 1


def test_fit_refuses_a_lesions_file_naming_unknown_images(tmp_path, tiny_data):
    import shutil

    from qsdaqec.errors import DataError
    from qsdaqec.train import fit

    data = shutil.copytree(tiny_data, tmp_path / "data")
    write_lesions(data / "lesions.json", LesionTable({"stenosis/nope.png": ImageLesions(32, 32)}))
    with pytest.raises(DataError, match=r"lesions.json: image 'stenosis/nope.png' not in the"):
        fit(tiny_cfg(data, tmp_path / "run", head="classical", epochs=1))
    assert not (tmp_path / "run").exists()


def test_a_patient_never_straddles_train_and_test(tmp_path):
    """lesions.json groups (patients): the run's split keeps each patient's images together."""
    from train_helpers import make_folder

    from qsdaqec.train.data import prepare_data

    data = make_folder(tmp_path / "d", n_normal=30, n_stenosis=20)
    entries = {}
    for cls in ("normal", "stenosis"):
        for k, f in enumerate(sorted((data / cls).glob("*.png"))):
            entries[f"{cls}/{f.name}"] = ImageLesions(32, 32, group=f"{cls[0]}{k // 3}")
    write_lesions(data / "lesions.json", LesionTable(entries))
    prep = prepare_data(tiny_cfg(data, tmp_path / "run", val_frac=0.2, test_frac=0.2))
    assert prep.split_method.startswith("by group")
    groups = prep.lesions.groups(prep.data.ids)
    parts = {
        name: {groups[i] for i in getattr(prep.split, name)} for name in ("train", "val", "test")
    }
    assert not (parts["train"] & parts["test"] or parts["train"] & parts["val"])
    assert not parts["val"] & parts["test"] and all(parts.values())
