import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from PIL import Image

from qsdaqec.cli import cli
from qsdaqec.data import SynthConfig, builtin_dataset_dir, generate_synthetic, load_dataset
from qsdaqec.data import synth as synth_mod
from qsdaqec.data.lesions import read_lesions
from qsdaqec.errors import ConfigError, DataError

SMALL = SynthConfig(n=20, size=64, seed=3, contact_sheet_tiles=8)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_byte_identical(tmp_path):
    a = _files(generate_synthetic(tmp_path / "a", SMALL))
    b = _files(generate_synthetic(tmp_path / "b", SMALL))
    assert a == b
    c = _files(generate_synthetic(tmp_path / "c", SynthConfig(n=20, size=64, seed=4)))
    assert a["manifest.json"] != c["manifest.json"]


def test_class_balance_and_layout(tmp_path):
    out = generate_synthetic(tmp_path / "d", SynthConfig(n=30, size=48, minority_frac=0.2))
    assert len(list((out / "normal").glob("*.png"))) == 24
    assert len(list((out / "stenosis").glob("*.png"))) == 6
    im = Image.open(next((out / "normal").glob("*.png")))
    assert im.mode == "L" and im.size == (48, 48)
    data = load_dataset(out)
    assert data.classes == ["normal", "stenosis"] and data.positive == 1
    assert data.counts().tolist() == [24, 6]


def test_manifest_consistent_with_files(tmp_path):
    out = generate_synthetic(tmp_path / "m", SMALL)
    man = json.loads((out / "manifest.json").read_text())
    assert (
        man["seed"] == 3
        and man["config"]["n"] == 20
        and man["counts"] == {"normal": 16, "stenosis": 4}
    )
    on_disk = {p.relative_to(out).as_posix() for p in out.glob("*/*.png")}
    assert {it["file"] for it in man["images"]} == on_disk
    lo, hi = SMALL.severity
    for it in man["images"]:
        assert it["file"].startswith(it["label"] + "/")
        if it["label"] == "stenosis":
            assert SMALL.n_stenoses[0] <= len(it["stenoses"]) <= SMALL.n_stenoses[1]
            for s in it["stenoses"]:
                assert lo <= s["severity"] <= hi and 0 <= s["x"] < 64 and 0 <= s["y"] < 64
        else:
            assert it["stenoses"] == []
        for m in it["mild"]:
            assert m["severity"] <= SMALL.mild_severity[1]
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.mode == "P" and sheet.width > 64


def test_stenosis_narrows_the_vessel():
    """Paired images (same tree, same noise, lesions applied or not): at every manifest location
    the vessel is there, and the stenosed lumen is narrower (fewer dark pixels) and brighter."""
    cfg = SynthConfig(size=128, noise=0.0, seed=1, mild_prob=0.0)
    checked = 0
    for i in range(6):
        sten, rec = synth_mod.synthesize(cfg, i, positive=True)
        ctrl, rec2 = synth_mod.synthesize(cfg, i, positive=True, narrow=False)
        assert rec == rec2 and rec["stenoses"]
        yy, xx = np.mgrid[0:128, 0:128] + 0.5
        for s in rec["stenoses"]:
            near = np.hypot(xx - s["x"], yy - s["y"]) <= s["radius"] + 1.0
            ring = np.hypot(xx - s["x"], yy - s["y"]) <= 14
            bg = np.percentile(ctrl[ring], 80)  # surroundings: mostly background, brighter
            # the lesion sits on a vessel: darker than its surroundings in the control
            assert ctrl[near].mean() < bg - 10
            thresh = bg - 0.3 * (bg - ctrl[near].min())
            dark_ctrl = int((ctrl[near] < thresh).sum())
            dark_sten = int((sten[near] < thresh).sum())
            assert dark_sten < dark_ctrl, (i, s)
            assert sten[near].mean() > ctrl[near].mean() + 3 * s["severity"], (i, s)
            checked += 1
    assert checked >= 6


def test_normal_and_stenosis_share_the_tree():
    cfg = SynthConfig(size=64, seed=2)
    normal, rec_n = synth_mod.synthesize(cfg, 5, positive=False)
    sten, rec_s = synth_mod.synthesize(cfg, 5, positive=True)
    assert rec_n["stenoses"] == [] and rec_s["stenoses"]
    other, _ = synth_mod.synthesize(cfg, 6, positive=False)
    # Same anatomy and noise: only the lesions, the fainter vessel beyond them and the display
    # window differ, so the pair is far more alike than two different images.
    same = np.corrcoef(normal.ravel(), sten.ravel())[0, 1]
    assert same > 0.9 > 0.5 > np.corrcoef(normal.ravel(), other.ravel())[0, 1]


def test_atomic_and_refuses_to_overwrite(tmp_path, monkeypatch):
    out = generate_synthetic(tmp_path / "x", SMALL)
    with pytest.raises(DataError, match="not empty.*--force"):
        generate_synthetic(out, SMALL)
    generate_synthetic(out, SynthConfig(n=10, size=48), overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["config"]["n"] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no temp folders left

    calls = {"n": 0}
    real = synth_mod.synthesize

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom")
        return real(*a, **k)

    monkeypatch.setattr(synth_mod, "synthesize", flaky)
    with pytest.raises(RuntimeError):
        generate_synthetic(tmp_path / "y", SMALL)
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        generate_synthetic(out, SMALL, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # nothing half-written
    assert json.loads((out / "manifest.json").read_text())["config"]["n"] == 10  # old intact


def test_builtin_dataset_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("QSDAQEC_CACHE", str(tmp_path / "cache"))
    cfg = SynthConfig(n=10, size=48)
    p = builtin_dataset_dir(cfg)
    assert p.parent == tmp_path / "cache" and (p / "manifest.json").is_file()

    def fail(*a, **k):
        raise AssertionError("regenerated")

    monkeypatch.setattr(synth_mod, "generate_synthetic", fail)
    assert builtin_dataset_dir(cfg) == p
    assert SynthConfig(n=11, size=48).key() != cfg.key()


def test_builtin_dataset_replaces_an_incomplete_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("QSDAQEC_CACHE", str(tmp_path))
    cfg = SynthConfig(n=10, size=48)
    junk = tmp_path / f"synth-{cfg.key()}"
    (junk / "normal").mkdir(parents=True)
    assert builtin_dataset_dir(cfg) == junk and (junk / "manifest.json").is_file()


@pytest.mark.parametrize(
    "kw",
    [{"n": 1}, {"minority_frac": 0.0}, {"n": 4, "minority_frac": 0.05}, {"size": 8},
     {"severity": (0.9, 0.5)}, {"severity": (0.5, 1.0)}, {"n_stenoses": (0, 2)}, {"noise": -1}, {"slow_flow_prob": 1.5}, {"slow_flow_drop": (0.5, 0.2)}, {"contact_sheet_tiles": -1}],
)  # fmt: skip
def test_config_validation(tmp_path, kw):
    with pytest.raises(ConfigError):
        generate_synthetic(tmp_path / "z", SynthConfig(**kw))


def test_cli_synth_and_info(tmp_path):
    runner = CliRunner()
    out = tmp_path / "angio"
    args = ["data", "synth", "--out", str(out), "--n", "20", "--size", "48", "--seed", "7",
            "--severity", "0.6", "0.7"]  # fmt: skip
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "wrote 20 images (16 normal, 4 stenosis, 48x48)" in r.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["severity"] == [0.6, 0.7] and man["seed"] == 7
    r = runner.invoke(cli, args)
    handled_error(r, "--force")
    assert runner.invoke(cli, [*args, "--force"]).exit_code == 0
    r = runner.invoke(cli, ["data", "synth", "--out", str(tmp_path / "bad"), "--n", "1"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(
        cli, ["data", "info", str(out), "--seed", "1", "--val-frac", "0.25", "--test-frac", "0.25"]
    )
    assert r.exit_code == 0, r.output
    assert "stenosis" in r.output and "imbalance ratio (minority/majority): 0.250" in r.output
    assert "train 10 (8/2), val 5 (4/1), test 5 (4/1)" in r.output


def test_cli_info_npz_uses_predefined_split(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "m.npz",
        train_images=rng.integers(0, 255, (8, 8, 8), dtype=np.uint8), train_labels=np.array([[0], [1]] * 4),
        test_images=rng.integers(0, 255, (4, 8, 8), dtype=np.uint8), test_labels=np.array([[0], [1]] * 2),
    )  # fmt: skip
    r = CliRunner().invoke(cli, ["data", "info", str(tmp_path / "m.npz")])
    assert r.exit_code == 0, r.output
    assert "train 8 (4/4), val 0 (0/0), test 4 (2/2)" in r.output and "predefined" in r.output


def test_lesions_file_matches_the_manifest(tmp_path):
    out = generate_synthetic(tmp_path / "l", SMALL)
    table = read_lesions(out / "lesions.json")
    man = json.loads((out / "manifest.json").read_text())
    assert set(table.images) == {it["file"] for it in man["images"]}
    for it in man["images"]:
        entry = table.images[it["file"]]
        assert (entry.width, entry.height) == (64, 64)
        got = [v for le in entry.lesions for v in (le.x, le.y, le.reach)]
        want = [v for s in it["stenoses"] for v in (s["x"], s["y"], 2 * s["sigma"])]
        assert got == pytest.approx(want, abs=0.01)
