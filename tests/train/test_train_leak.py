"""No synthetic image can reach validation or test through the documented commands: augment
then fit on the augmented folder (its split is used as is), fit on its train/ part (refused),
augment an augmented folder, a synthetic file moved into val/ (refused), and data info."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from train_helpers import make_folder

from qsdaqec.cli import cli

FIT = ["--image-size", "32", "--epochs", "1", "--batch-size", "8", "--weights", "none",
       "--num-threads", "1", "--no-progress"]  # fmt: skip


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    root = tmp_path_factory.mktemp("leak")
    data = make_folder(root / "angio", n_normal=16, n_stenosis=8)
    r = _run("augment", "--data", data, "--out", root / "aug", "--no-distance", "--val-frac",
             "0.25", "--test-frac", "0.25")  # fmt: skip
    assert r.exit_code == 0, r.output
    return root


def _synthetic_ids(split_json):
    split = json.loads(split_json.read_text())
    return {k: [i for i in v["ids"] if "syn_" in i] for k, v in split.items()}


def test_fit_on_the_augmented_folder_keeps_its_split(augmented, tmp_path):
    aug = augmented / "aug"
    r = _run("data", "info", aug)
    assert r.exit_code == 0 and "split method: predefined (train/val/test folders)" in r.output
    assert "(train 2, val 0, test 0); they may only train" in r.output, r.output
    r = _run("fit", "--data", aug, "--out", tmp_path / "run", *FIT)
    assert r.exit_code == 0, r.output
    syn = _synthetic_ids(tmp_path / "run" / "split.json")
    assert syn["train"] and not syn["val"] and not syn["test"]
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    for part in ("train", "val", "test"):  # the folders' own parts, not a new split
        on_disk = sorted(p.relative_to(aug).as_posix() for p in (aug / part).rglob("*.png"))
        assert sorted(split[part]["ids"]) == on_disk


def test_fit_on_the_train_part_alone_is_refused(augmented, tmp_path):
    r = _run("fit", "--data", augmented / "aug" / "train", "--out", tmp_path / "r", *FIT)
    handled_error(r, "synthetic image(s) (syn_*", "pass the augmented folder itself")
    assert not (tmp_path / "r").exists()


def test_augmenting_an_augmented_folder_stays_in_train(augmented, tmp_path):
    r = _run("augment", "--data", augmented / "aug", "--out", tmp_path / "aug2", "--no-distance",
             "--rho-target", "1.0")  # fmt: skip
    assert r.exit_code == 0, r.output
    for part in ("val", "test"):
        assert not list((tmp_path / "aug2" / part).rglob("syn_*")), part
    r = _run("fit", "--data", tmp_path / "aug2", "--out", tmp_path / "run", *FIT)
    assert r.exit_code == 0, r.output
    syn = _synthetic_ids(tmp_path / "run" / "split.json")
    assert len(syn["train"]) > 2 and not syn["val"] and not syn["test"]


def test_a_synthetic_image_moved_into_val_is_refused(augmented, tmp_path):
    aug = tmp_path / "aug"
    shutil.copytree(augmented / "aug", aug)
    syn = next((aug / "train" / "stenosis").glob("syn_*.png"))
    syn.rename(aug / "val" / "stenosis" / syn.name)
    r = _run("fit", "--data", aug, "--out", tmp_path / "r", *FIT)
    handled_error(r, "synthetic image(s) in the val split", syn.name)


def test_fit_on_the_augmented_folder_matches_its_noise(augmented, tmp_path):
    """The folder's synthetic images are its only noisy ones: fit noises the majority alike,
    with the schedule the folder's manifest records, as it does for its own augmentation."""
    aug = augmented / "aug"
    r = _run("fit", "--data", aug, "--out", tmp_path / "run", *FIT)
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "run" / "run.json").read_text())["augmentation"]
    assert info["generated"] == 0  # nothing generated: the folder is at rho_target already
    n_syn = len(list((aug / "train" / "stenosis").glob("syn_*.png")))
    n_min = len(list((aug / "train" / "stenosis").glob("*.png")))
    assert n_syn > 0
    assert info["noise_match"] == {"majority": 0, "probability": round(n_syn / n_min, 6)}


def test_a_folder_without_an_augment_manifest_has_no_schedule_to_match(augmented):
    from qsdaqec.augment.export import recorded_augmentor

    assert recorded_augmentor(augmented / "aug").cfg.steps == 5
    assert recorded_augmentor(augmented / "angio") is None
