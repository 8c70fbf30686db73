"""``qsdaqec augment`` carries the data's lesions.json over to the split folder it writes, so
that ``fit --data OUT`` supervises the lesion map as ``fit --data DATA`` does."""

import json

import pytest
from click.testing import CliRunner

from qsdaqec.cli import cli
from qsdaqec.data import load_dataset
from qsdaqec.data.lesions import check_ids, find_lesions, read_lesions, write_lesions


def augment(data, out, *extra):
    args = ["augment", "--data", str(data), "--out", str(out), "--no-distance", *extra]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def carried(tiny_angio, tmp_path_factory):
    out = tmp_path_factory.mktemp("aug-lesions") / "out"
    output = augment(tiny_angio, out, "--seed", "0")
    return out, output


def test_every_written_image_has_its_source_entry(tiny_angio, carried):
    out, output = carried
    assert "lesions.json" in output.splitlines()[-1]
    source = read_lesions(tiny_angio / "lesions.json")
    table = read_lesions(out / "lesions.json")
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert set(table.images) == {f["path"] for f in files}  # the generator annotates every image
    for f in files:
        origin = f["source_id"] if f["synthetic"] else f["id"]
        assert f["path"].startswith(f"{f['split']}/{f['class']}/")
        assert table.get(f["path"]) == source.get(origin), f["path"]
    synthetic = [f for f in files if f["synthetic"]]
    assert synthetic and all(table.get(f["path"]).lesions for f in synthetic)


def test_fit_reads_it_as_the_split_folder_s_lesions(carried):
    out, _ = carried
    data = load_dataset(out)
    table = find_lesions(out)
    assert table is not None
    check_ids(table, data.ids)  # every key names an image of the folder, as fit checks
    stenosis = [i for i, y in zip(data.ids, data.labels.tolist(), strict=True) if y == 1]
    assert all(table.get(i) is not None and table.get(i).lesions for i in stenosis)


def test_resized_images_take_their_lesions_along(tiny_angio, tmp_path):
    augment(tiny_angio, tmp_path / "big", "--image-size", "64")
    source = read_lesions(tiny_angio / "lesions.json")
    table = read_lesions(tmp_path / "big" / "lesions.json")
    files = json.loads((tmp_path / "big" / "manifest.json").read_text())["files"]
    f = next(f for f in files if not f["synthetic"] and source.get(f["id"]).lesions)
    before, after = source.get(f["id"]), table.get(f["path"])
    assert (after.width, after.height) == (64, 64) and (before.width, before.height) == (32, 32)
    assert after.lesions[0].x == pytest.approx(2 * before.lesions[0].x, abs=0.01)
    assert after.lesions[0].w == pytest.approx(2 * before.lesions[0].w, abs=0.01)


def test_groups_keep_a_patient_in_one_part(tiny_angio, tmp_path):
    data = tmp_path / "grouped"
    data.mkdir()
    for cls in ("normal", "stenosis"):
        (data / cls).symlink_to(tiny_angio / cls, target_is_directory=True)
    table = read_lesions(tiny_angio / "lesions.json")
    patients = {k: f"p{n // 2}" for n, k in enumerate(sorted(table.images))}  # 2 images each
    table.images = {
        k: type(v)(v.width, v.height, v.lesions, patients[k]) for k, v in table.images.items()
    }
    write_lesions(data / "lesions.json", table)
    augment(data, tmp_path / "out", "--seed", "1")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["split"]["kind"].startswith("by group")
    part_of: dict[str, set[str]] = {}
    for f in manifest["files"]:
        if not f["synthetic"]:
            part_of.setdefault(patients[f["id"]], set()).add(f["split"])
    assert all(len(parts) == 1 for parts in part_of.values())


def test_data_without_lesions_writes_none(tiny_angio, tmp_path):
    data = tmp_path / "plain"
    data.mkdir()
    for cls in ("normal", "stenosis"):
        (data / cls).symlink_to(tiny_angio / cls, target_is_directory=True)
    output = augment(data, tmp_path / "out")
    assert not (tmp_path / "out" / "lesions.json").exists()
    assert "lesions.json" not in output
