import numpy as np
import pytest
import torch
from cli_helpers import handled_error
from click.testing import CliRunner
from data_helpers import make_folder, write_png
from PIL import Image

from qsdaqec.cli import cli
from qsdaqec.data import load_dataset
from qsdaqec.errors import DataError


def _only_value(tmp_path, im: Image.Image, name: str, **kw) -> torch.Tensor:
    """Load a 2-class folder whose class 'a' holds just ``im``; return that image."""
    root = tmp_path / "ds"
    (root / "a").mkdir(parents=True)
    im.save(root / "a" / name)
    write_png(root / "b" / "x.png", size=im.size[0])
    data = load_dataset(root, **kw)
    assert data.ids[0] == f"a/{name}"
    return data.images[0]


def test_folder_basics(folder):
    data = load_dataset(folder)
    assert data.classes == ["normal", "stenosis"]
    assert data.images.dtype == torch.float32 and data.images.shape == (12, 1, 16, 16)
    assert data.labels.dtype == torch.int64
    assert data.labels.tolist() == [0] * 8 + [1] * 4
    assert data.positive == 1 and data.positive_name == "stenosis"
    assert data.ids[0] == "normal/normal_00.png"
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    assert data.skipped == [] and data.split is None


def test_resize_and_channels(folder):
    data = load_dataset(folder, 8, channels=3)
    assert data.images.shape == (12, 3, 8, 8)
    assert load_dataset(folder, (10, 6)).images.shape == (12, 1, 10, 6)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    arr = np.full((8, 8), 32768, dtype=np.uint16)
    for i, name in enumerate(["x.png", "x.tif"]):
        v = _only_value(tmp_path / str(i), Image.fromarray(arr), name)
        assert float(v.mean()) == pytest.approx(32768 / 65535, abs=1e-4)


def test_mode_i_and_f_tiff(tmp_path):
    i_img = Image.fromarray(np.full((8, 8), 1000, dtype=np.int32))
    assert i_img.mode == "I"
    v = _only_value(tmp_path / "i", i_img, "x.tif")
    assert float(v.mean()) == pytest.approx(1000 / 65535, abs=1e-5)
    f_img = Image.fromarray(np.full((8, 8), 0.25, dtype=np.float32))
    assert f_img.mode == "F"
    assert float(_only_value(tmp_path / "f", f_img, "x.tif").mean()) == pytest.approx(0.25)
    ramp = Image.fromarray(np.linspace(-5, 5, 64, dtype=np.float32).reshape(8, 8))
    v = _only_value(tmp_path / "g", ramp, "x.tif")
    assert float(v.min()) == 0.0 and float(v.max()) == 1.0


def test_rgb_rgba_palette_jpeg(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255
    v = _only_value(tmp_path / "rgb", Image.fromarray(rgb), "x.png")
    assert float(v.mean()) == pytest.approx(0.299, abs=1e-3)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # alpha 0 everywhere: alpha is ignored, like torchvision
    v = _only_value(tmp_path / "rgba", Image.fromarray(rgba, "RGBA"), "x.png")
    assert float(v.mean()) == pytest.approx(0.299, abs=1e-3)
    v3 = _only_value(tmp_path / "rgb3", Image.fromarray(rgb), "x.png", channels=3)
    assert v3.shape == (3, 8, 8) and float(v3[0].mean()) == 1.0 and float(v3[1].mean()) == 0.0
    pal = Image.fromarray(np.full((8, 8), 100, np.uint8)).convert("P")
    assert float(_only_value(tmp_path / "p", pal, "x.png").mean()) == pytest.approx(
        100 / 255, abs=0.01
    )
    jpg = Image.fromarray(np.full((8, 8), 200, np.uint8))
    assert float(_only_value(tmp_path / "j", jpg, "x.jpg").mean()) == pytest.approx(
        200 / 255, abs=0.02
    )
    la = Image.fromarray(np.full((8, 8), 50, np.uint8)).convert("LA")
    assert float(_only_value(tmp_path / "la", la, "x.png").mean()) == pytest.approx(
        50 / 255, abs=1e-3
    )


def test_ignores_hidden_manifest_contact_sheet_and_recurses(folder):
    (folder / "manifest.json").write_text("{}")
    write_png(folder / "contact_sheet.png")
    (folder / "normal" / ".DS_Store").write_bytes(b"\0junk")
    write_png(folder / ".hidden" / "x.png")
    write_png(folder / "stenosis" / "sub" / "deep.png")
    data = load_dataset(folder)
    assert data.classes == ["normal", "stenosis"]
    assert len(data) == 13 and "stenosis/sub/deep.png" in data.ids


def test_positive_class_choice(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 5, "b": 2, "c": 4})
    assert load_dataset(root).positive == 1  # minority
    assert load_dataset(root, positive="c").positive == 2
    with pytest.raises(DataError, match="'zzz' not found; classes are a, b, c"):
        load_dataset(root, positive="zzz")


def test_mixed_sizes_need_image_size(tmp_path):
    root = make_folder(tmp_path / "ds", {"normal": 2, "stenosis": 2})
    write_png(root / "normal" / "zz_big.png", size=20)
    with pytest.raises(DataError, match="zz_big.png: size 20x20 differs"):
        load_dataset(root)
    assert load_dataset(root, 12).images.shape[-2:] == (12, 12)


# ------------------------------------------------------------------------------------ npz


def _medmnist(path, n=(10, 4, 6), shape=(28, 28), label_shape=1, **extra):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, k in zip(("train", "val", "test"), n, strict=True):
        arrays[f"{split}_images"] = rng.integers(0, 256, (k, *shape), dtype=np.uint8)
        lab = np.arange(k) % 2
        arrays[f"{split}_labels"] = lab[:, None] if label_shape == 1 else lab
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


def test_npz_medmnist_keeps_splits(tmp_path):
    p = _medmnist(tmp_path / "m.npz")
    data = load_dataset(p, 16)
    assert data.images.shape == (20, 1, 16, 16)
    assert data.labels.tolist()[:4] == [0, 1, 0, 1]
    assert data.split.sizes() == {"train": 10, "val": 4, "test": 6}
    assert data.split.val.tolist() == [10, 11, 12, 13]
    assert data.classes == ["0", "1"] and data.ids[10] == "val/0"
    native = load_dataset(p)
    assert native.images.shape == (20, 1, 28, 28)
    raw = np.load(p)["train_images"]
    assert np.allclose(native.images[:10, 0].numpy() * 255, raw, atol=1e-3)


def test_npz_rgb_plain_keys_and_class_names(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "p.npz",
        images=rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
        labels=np.array([0, 1, 1, 0, 1, 1]),
        classes=np.array(["normal", "stenosis"]),
    )
    data = load_dataset(tmp_path / "p.npz", channels=3)
    assert data.images.shape == (6, 3, 8, 8) and data.split is None
    assert data.classes == ["normal", "stenosis"] and data.positive == 1
    np.savez(tmp_path / "u16.npz", images=np.full((4, 8, 8), 65535, np.uint16), labels=[0, 1, 0, 1])
    assert float(load_dataset(tmp_path / "u16.npz").images.max()) == 1.0


# ------------------------------------------------------------------------------------ bad input


def _bad_cases(tmp_path):
    """name -> (path to load, expected fragment of the message, file the message must name)."""
    cases = {}
    d = make_folder(tmp_path / "corrupt", {"normal": 3, "stenosis": 3})
    good = (d / "normal" / "normal_00.png").read_bytes()
    (d / "stenosis" / "broken.png").write_bytes(good[: len(good) // 2])
    cases["corrupt"] = (d, "not a readable image", "broken.png")
    d = make_folder(tmp_path / "zero", {"normal": 3, "stenosis": 3})
    (d / "normal" / "empty.png").write_bytes(b"")
    cases["zero-byte"] = (d, "empty file (0 bytes)", "empty.png")
    d = make_folder(tmp_path / "text", {"normal": 3, "stenosis": 3})
    (d / "normal" / "notes.txt").write_text("hello")
    cases["non-image"] = (d, "not an image file", "notes.txt")
    d = make_folder(tmp_path / "fake", {"normal": 3, "stenosis": 3})
    (d / "normal" / "fake.png").write_text("not really a png")
    cases["non-image-png"] = (d, "unknown or unsupported format", "fake.png")
    (tmp_path / "empty").mkdir()
    cases["empty-folder"] = (tmp_path / "empty", "empty folder", "empty")
    d = make_folder(tmp_path / "one", {"normal": 3})
    cases["one-class"] = (d, "only one class folder", "one")
    d = tmp_path / "flat"
    write_png(d / "a.png")
    write_png(d / "b.png")
    cases["no-subfolders"] = (d, "no class subfolders", "flat")
    d = make_folder(tmp_path / "emptyclass", {"normal": 3})
    (d / "stenosis").mkdir()
    cases["empty-class"] = (d, "class folder has no images", "stenosis")
    np.savez(
        tmp_path / "missing.npz", train_images=np.zeros((4, 8, 8), np.uint8), test_labels=[0, 1]
    )
    cases["npz-missing-key"] = (tmp_path / "missing.npz", "no 'train_labels'", "missing.npz")
    np.savez(tmp_path / "nokeys.npz", x=np.zeros(3))
    cases["npz-no-keys"] = (tmp_path / "nokeys.npz", "no image arrays (keys: x)", "nokeys.npz")
    np.savez(tmp_path / "len.npz", images=np.zeros((4, 8, 8), np.uint8), labels=[0, 1, 0])
    cases["npz-length"] = (
        tmp_path / "len.npz",
        "has 4 images but 'labels' has 3 labels",
        "len.npz",
    )
    _medmnist(tmp_path / "multi.npz")
    np.savez(tmp_path / "multi.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.zeros((4, 3)))
    cases["npz-multilabel"] = (tmp_path / "multi.npz", "multi-label", "multi.npz")
    np.savez(tmp_path / "oneclass.npz", images=np.zeros((4, 8, 8), np.uint8), labels=[1, 1, 1, 1])
    cases["npz-one-class"] = (tmp_path / "oneclass.npz", "only one class present", "oneclass.npz")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04garbage")
    cases["npz-corrupt"] = (tmp_path / "garbage.npz", "not a readable .npz", "garbage.npz")
    (tmp_path / "data.csv").write_text("a,b\n")
    cases["wrong-file"] = (tmp_path / "data.csv", "not a folder or .npz", "data.csv")
    cases["missing-path"] = (tmp_path / "nope", "not found", "nope")
    return cases


CASES = [
    "corrupt", "zero-byte", "non-image", "non-image-png", "empty-folder", "one-class",
    "no-subfolders", "empty-class", "npz-missing-key", "npz-no-keys", "npz-length",
    "npz-multilabel", "npz-one-class", "npz-corrupt", "wrong-file", "missing-path",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_naming_the_file(tmp_path, case):
    path, fragment, name = _bad_cases(tmp_path)[case]
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(path)
    result = CliRunner().invoke(cli, ["data", "info", str(path)])
    if case in ("one-class", "npz-one-class"):  # fit refuses it; a summary shows it
        assert result.exit_code == 0, result.output
        assert "split: none: only one class (" in result.output
        return
    out = handled_error(result, name, fragment)
    if case in ("corrupt", "zero-byte", "non-image", "non-image-png"):
        assert "--skip-bad" in out


def test_info_summarises_what_fit_would_refuse_naming_classes(tmp_path):
    one = make_folder(tmp_path / "one", {"stenosis": 2})
    r = CliRunner().invoke(cli, ["data", "info", str(one)])
    assert r.exit_code == 0, r.output
    assert "stenosis       2  100.0%  (positive)" in r.output
    assert "imbalance ratio (minority/majority): n/a (one class)" in r.output
    assert r.output.strip().endswith(
        "split: none: only one class (stenosis); fit needs images of two classes, e.g. "
        "normal/ and stenosis/"
    )
    small = make_folder(tmp_path / "small", {"normal": 5, "stenosis": 2})
    r = CliRunner().invoke(cli, ["data", "info", str(small)])
    assert r.exit_code == 0, r.output
    assert "split: not possible: class 'stenosis' has only 2 image(s); need at least 3" in r.output


def test_info_says_colour_images_are_read_as_grey(tmp_path):
    from PIL import Image

    root = make_folder(tmp_path / "rgb", {"normal": 3, "stenosis": 3})
    Image.new("RGB", (16, 16), (200, 10, 10)).save(root / "normal" / "red.png")
    r = CliRunner().invoke(cli, ["data", "info", str(root)])
    assert r.exit_code == 0, r.output
    assert "images: 7 (grey, 16x16)" in r.output
    assert (
        "colour: 1 image(s) stored in colour, converted to grey as fit and predict read them"
        in (r.output)
    )


def test_skip_bad_lists_and_skips(tmp_path):
    cases = _bad_cases(tmp_path)
    path = cases["corrupt"][0]
    (path / "normal" / "empty.png").write_bytes(b"")
    data = load_dataset(path, skip_bad=True)
    assert len(data) == 6
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in data.skipped) == ["broken.png", "empty.png"]
    result = CliRunner().invoke(
        cli, ["data", "info", str(path), "--skip-bad", "--val-frac", "0.2", "--test-frac", "0.2"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped 2 bad file(s)" in result.output and "broken.png" in result.output


def test_skip_bad_still_fails_when_a_class_is_left_empty(tmp_path):
    root = make_folder(tmp_path / "ds", {"normal": 3})
    (root / "stenosis").mkdir()
    (root / "stenosis" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="no usable images left after skipping 1 bad file"):
        load_dataset(root, skip_bad=True)
