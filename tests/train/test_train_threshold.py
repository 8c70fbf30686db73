"""Operating points a fit saves, and the thresholds evaluate / predict take."""

import csv
import io
import json
import shutil

import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from test_train_cli import TINY

from qsdaqec.cli import cli


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("thr") / "run"
    args = ["fit", "--data", str(tiny_data), "--head", "classical", "--out", str(out)]
    r = CliRunner().invoke(cli, [*args, "--val-frac", "0.25", "--test-frac", "0.25", *TINY])
    assert r.exit_code == 0, r.output
    return out


def test_fit_saves_operating_points_from_validation(run):
    pts = json.loads((run / "metrics.json").read_text())["operating_points"]
    assert set(pts) == {"youden", "sens90"}
    assert all(0 <= v <= 1 for v in pts.values())


def test_evaluate_uses_the_named_operating_point(run, tmp_path):
    pts = json.loads((run / "metrics.json").read_text())["operating_points"]
    for name, cut in (("sens90", pts["sens90"]), ("0.97", 0.97)):
        out = tmp_path / name
        r = CliRunner().invoke(
            cli, ["evaluate", "--run", str(run), "--threshold", name, "--out", str(out)]
        )
        assert r.exit_code == 0, r.output
        m = json.loads((out / "metrics.json").read_text())["test"]
        assert m["threshold"] == pytest.approx(cut)
        rows = list(csv.DictReader((out / "predictions.csv").open()))
        for row in rows:  # every predicted label follows the threshold
            positive = float(row["p_stenosis"]) >= cut
            assert row["predicted"] == ("stenosis" if positive else "normal")


def test_bad_thresholds_are_one_line(run):
    for value, msg in (
        ("1.5", "--threshold 1.5: a probability must lie in (0, 1)"),
        ("best", "--threshold 'best': a probability in (0, 1) or one of youden, sens90"),
    ):
        handled_error(
            CliRunner().invoke(cli, ["evaluate", "--run", str(run), "--threshold", value]), msg
        )
        handled_error(
            CliRunner().invoke(cli, ["predict", "--run", str(run), "x.png", "--threshold", value]),
            msg,
        )


def test_a_run_without_operating_points_names_the_fix(run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run, old)
    m = json.loads((old / "metrics.json").read_text())
    del m["operating_points"]
    (old / "metrics.json").write_text(json.dumps(m))
    r = CliRunner().invoke(cli, ["evaluate", "--run", str(old), "--threshold", "youden"])
    handled_error(r, "saved no operating points")


def test_predict_on_a_labelled_folder_scores_it_and_skips_sheets(run, tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    (data / "contact_sheet.png").write_bytes((tiny_data / "normal" / "000.png").read_bytes())
    r = CliRunner().invoke(cli, ["predict", "--run", str(run), str(data), "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 20 and not any("contact_sheet" in row["image"] for row in rows)
    assert {row["label"] for row in rows} == {"normal", "stenosis"}
    assert "labelled images: acc" in r.stderr and "(n=20)" in r.stderr
    # unlabelled images (a folder not named like a class) print no metrics
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.png").write_bytes((tiny_data / "normal" / "000.png").read_bytes())
    r = CliRunner().invoke(cli, ["predict", "--run", str(run), str(loose)])
    assert r.exit_code == 0, r.output
    assert "labelled images" not in r.stderr and "label" not in json.loads(r.stdout)[0]


def test_csv_of_labelled_and_unlabelled_images_has_one_header(run, tiny_data, tmp_path):
    loose = tmp_path / "loose" / "a.png"
    labelled = tmp_path / "stenosis" / "b.png"
    for path in (loose, labelled):
        path.parent.mkdir()
        path.write_bytes((tiny_data / "stenosis" / "000.png").read_bytes())
    r = CliRunner().invoke(
        cli, ["predict", "--run", str(run), str(loose), str(labelled), "--format", "csv"]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["label"] for row in rows] == ["", "stenosis"]
    assert "labelled images: acc" in r.stderr and "(n=1, one class)" in r.stderr
    assert (
        "1 image(s) in loose/ have no label and are left out of the metrics: only folders "
        "named like the run's classes (normal/, stenosis/) label their images"
    ) in r.stderr


def test_class_folders_unlike_the_run_s_are_named(run, tiny_data, tmp_path):
    for folder in ("pos", "neg"):
        (tmp_path / "cases" / folder).mkdir(parents=True)
        shutil.copy(tiny_data / "normal" / "000.png", tmp_path / "cases" / folder / "a.png")
    r = CliRunner().invoke(cli, ["predict", "--run", str(run), str(tmp_path / "cases")])
    assert r.exit_code == 0, r.output
    assert "2 image(s) in neg/, pos/ have no label" in r.stderr
    assert "labelled images" not in r.stderr


def test_predict_leaves_out_or_marks_the_images_the_run_trained_on(run, tiny_data):
    split = json.loads((run / "split.json").read_text())
    n_train, n_all = len(split["train"]["ids"]), sum(len(p["ids"]) for p in split.values())
    r = CliRunner().invoke(cli, ["predict", "--run", str(run), str(tiny_data), "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    held_out = {f"{tiny_data}/{i}" for p in ("val", "test") for i in split[p]["ids"]}
    assert {row["image"] for row in rows} == held_out and "trained_on" not in rows[0]
    assert (
        f"left out {n_train} of {n_all} image(s) the run trained on (its split.json); "
        "--include-train scores them too, marked trained_on"
    ) in r.stderr
    assert f"(n={n_all - n_train})" in r.stderr
    r = CliRunner().invoke(
        cli, ["predict", "--run", str(run), str(tiny_data), "--format", "csv", "--include-train"]
    )
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == n_all and sum(row["trained_on"] == "True" for row in rows) == n_train
    assert f"{n_train} of {n_all} image(s) trained the run (its split.json): marked" in r.stderr
    assert f"(n={n_all - n_train})" in r.stderr  # the metrics leave training images out
    train_only = [str(tiny_data / i) for i in split["train"]["ids"][:2]]
    r = CliRunner().invoke(cli, ["predict", "--run", str(run), *train_only])
    handled_error(r, "all 2 image(s) given trained the run (its split.json)")
