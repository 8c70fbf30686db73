import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from PIL import Image

from qsdaqec.augment import export
from qsdaqec.augment.pipeline import AugmentOptions, augment_dataset
from qsdaqec.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["augment", *map(str, args)])


def pixels(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def simple_out(tiny_angio, tmp_path_factory):
    out = tmp_path_factory.mktemp("aug") / "out"
    r = run(
        "--data", tiny_angio, "--out", out, "--seed", "0", "--val-frac", "0.2", "--test-frac", "0.2"
    )
    assert r.exit_code == 0, r.output
    return out, r.output


def test_layout_manifest_and_ratio(simple_out):
    out, output = simple_out
    assert "generated" in output and "untouched" in output and "KID[random-conv" in output
    for part in ("train", "val", "test"):
        assert {p.name for p in (out / part).iterdir()} == {"normal", "stenosis"}
    m = json.loads((out / "manifest.json").read_text())
    files = m["files"]
    # every file on disk is listed, and vice versa
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*.png")} - {"preview.png"}
    assert on_disk == {f["path"] for f in files}
    train = [f for f in files if f["split"] == "train"]
    n_norm = sum(f["class"] == "normal" for f in train)
    n_sten = sum(f["class"] == "stenosis" for f in train)
    assert n_sten / n_norm >= 0.7 and (n_sten - 1) / n_norm < 0.7
    syn = [f for f in files if f["synthetic"]]
    assert syn and all(f["split"] == "train" and f["class"] == "stenosis" for f in syn)
    assert all({"source_id", "t", "seed"} <= set(f) and 1 <= f["t"] <= 5 for f in syn)
    assert m["distance"]["synthetic_vs_train_minority"]["feature_net"] == "random-conv(seed=0)"
    assert m["summary"]["generated"] == len(syn)


def test_no_leak_into_val_test_and_val_test_untouched(simple_out, tiny_angio):
    out, _ = simple_out
    files = json.loads((out / "manifest.json").read_text())["files"]
    held = [f for f in files if f["split"] in ("val", "test")]
    held_ids = {f["id"] for f in held}
    train_ids = {f["id"] for f in files if f["split"] == "train" and not f["synthetic"]}
    assert not held_ids & train_ids
    # no synthetic image, and no source of one, is in val/test
    assert all(not f["synthetic"] for f in held)
    assert {f["source_id"] for f in files if f["synthetic"]} <= train_ids
    # val/test pixels are exactly the original files
    for f in held:
        assert np.array_equal(pixels(out / f["path"]), pixels(Path(tiny_angio) / f["id"]))
    # and no val/test image is pixel-identical to a synthetic one
    syn = [pixels(out / f["path"]) for f in files if f["synthetic"]]
    for f in held:
        h = pixels(out / f["path"])
        assert not any(np.array_equal(h, s) for s in syn)


def test_split_is_the_stratified_split_of_the_data_layer(simple_out, tiny_angio):
    from qsdaqec.data import load_dataset, stratified_split

    out, _ = simple_out
    data = load_dataset(tiny_angio)
    split = stratified_split(data.labels, 0.2, 0.2, seed=0)
    files = json.loads((out / "manifest.json").read_text())["files"]
    for name in ("val", "test"):
        assert {f["id"] for f in files if f["split"] == name} == {
            data.ids[i] for i in getattr(split, name)
        }


def test_preview_grid(simple_out):
    out, _ = simple_out
    im = Image.open(out / "preview.png")
    # 6 columns (source, t=1..5) of 32 px tiles + padding; one row per source (<= 6)
    assert im.width == 6 * (32 + 2) + 2
    assert im.height > 32


def test_deterministic_rerun(simple_out, tiny_angio, tmp_path):
    out, _ = simple_out
    out2 = tmp_path / "again"
    r = run(
        "--data",
        tiny_angio,
        "--out",
        out2,
        "--seed",
        "0",
        "--val-frac",
        "0.2",
        "--test-frac",
        "0.2",
    )
    assert r.exit_code == 0, r.output
    a = json.loads((out / "manifest.json").read_text())
    b = json.loads((out2 / "manifest.json").read_text())
    assert a["files"] == b["files"]
    for f in a["files"]:
        assert (out / f["path"]).read_bytes() == (out2 / f["path"]).read_bytes()


def test_existing_out_needs_force(simple_out, tiny_angio, tmp_path):
    out = tmp_path / "o"
    assert run("--data", tiny_angio, "--out", out, "--no-distance").exit_code == 0
    r = run("--data", tiny_angio, "--out", out, "--no-distance")
    handled_error(r, "already exists; choose a new folder or pass --force")
    r = run("--data", tiny_angio, "--out", out, "--no-distance", "--force", "--rho-target", "1.0")
    assert r.exit_code == 0, r.output
    # the old spellings still work for a release, hidden from --help
    r = run("--data", tiny_angio, "--out", out, "--no-distance", "--overwrite", "--threads", "1")
    assert r.exit_code == 0, r.output
    assert "--overwrite" not in run("--help").output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_ratio_already_met_says_nothing_generated(tiny_angio, tmp_path):
    r = run("--data", tiny_angio, "--out", tmp_path / "o", "--rho-target", "0.2")
    assert r.exit_code == 0, r.output
    assert "nothing generated" in r.output and "already" in r.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["summary"]["generated"] == 0 and not any(f["synthetic"] for f in m["files"])


def test_bad_config_is_one_line_naming_the_field(tiny_angio, tmp_path):
    r = run(
        "--data", tiny_angio, "--out", tmp_path / "o", "--beta-start", "0.05", "--beta-end", "0.02"
    )
    handled_error(r, "beta_start: must be <= beta_end, got beta_start=0.05 > beta_end=0.02")
    r = run("--data", tiny_angio, "--out", tmp_path / "o", "--steps", "0")
    handled_error(r, "steps: must be an integer >= 1, got 0")
    r = run("--data", tiny_angio, "--out", tmp_path / "o", "--t", "9")
    handled_error(r, 't: must be "random" or an integer in 1..5, got 9')
    assert not (tmp_path / "o").exists()


def test_high_beta_end_warns_with_snr(tiny_angio, tmp_path):
    r = run(
        "--data",
        tiny_angio,
        "--out",
        tmp_path / "o",
        "--beta-end",
        "0.4",
        "--t",
        "5",
        "--no-distance",
    )
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "measured SNR" in r.output and "dB" in r.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["summary"]["warnings"]


def test_empty_minority_folder_is_a_clear_error(tiny_angio, tmp_path):
    import shutil

    data = tmp_path / "d"
    shutil.copytree(tiny_angio, data)
    for p in (data / "stenosis").iterdir():
        p.unlink()
    r = run("--data", data, "--out", tmp_path / "o")
    handled_error(r, "stenosis", "no images")


def test_interrupted_write_leaves_nothing(tiny_angio, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = export.save_png

    def flaky(img, path):
        calls["n"] += 1
        if calls["n"] == 10:
            raise OSError("disk full")
        real(img, path)

    monkeypatch.setattr(export, "save_png", flaky)
    with pytest.raises(OSError):
        augment_dataset(
            AugmentOptions(data=tiny_angio, out=tmp_path / "o", distance=False), echo=lambda s: None
        )
    assert list(tmp_path.iterdir()) == []


def test_ddpm_cli_tiny(tiny_angio, tmp_path):
    r = run(
        "--data",
        tiny_angio,
        "--out",
        tmp_path / "o",
        "--augmentor",
        "ddpm",
        "--ddpm-size",
        "8",
        "--ddpm-steps",
        "10",
        "--ddpm-train-steps",
        "2",
        "--ddpm-channels",
        "4",
        "--no-distance",
    )
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    syn = [f for f in m["files"] if f["synthetic"]]
    assert syn and all(f["augmentor"] == "ddpm" and f["source_id"] is None for f in syn)
    assert (tmp_path / "o" / "preview.png").exists()
    r = run("--data", tiny_angio, "--out", tmp_path / "o2", "--augmentor", "ddpm", "--t", "3")
    assert r.exit_code == 2 and "--t" in r.output
