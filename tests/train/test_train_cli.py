from cli_helpers import handled_error
from click.testing import CliRunner
from train_helpers import make_folder

from qsdaqec.cli import cli

TINY = [
    "--image-size",
    "32",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--weights",
    "none",
    "--no-progress",
    "--num-threads",
    "1",
]


def test_missing_data_dir(tmp_path):
    r = CliRunner().invoke(
        cli, ["fit", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), *TINY]
    )
    handled_error(r, "nope: data not found; pass an ImageFolder")


def test_one_class_folder(tmp_path):
    d = make_folder(tmp_path / "d", n_normal=6, n_stenosis=0)
    (d / "stenosis").rmdir()
    r = CliRunner().invoke(cli, ["fit", "--data", str(d), "--out", str(tmp_path / "r"), *TINY])
    handled_error(r, "d: only one class folder ('normal'); a classifier needs")


def test_unknown_backend_and_model(tmp_path):
    d = make_folder(tmp_path / "d")
    r = CliRunner().invoke(
        cli, ["fit", "--data", str(d), "--backend", "qpu9000", "--out", str(tmp_path / "r"), *TINY]
    )
    handled_error(r, "backend 'qpu9000': unknown; valid: statevector, aer")
    r = CliRunner().invoke(
        cli, ["fit", "--data", str(d), "--model", "alexnet", "--out", str(tmp_path / "r"), *TINY]
    )
    handled_error(r, "unknown model 'alexnet'; choose one of sdaqec")
    assert not (tmp_path / "r").exists()


def test_bad_augmentation_option_is_one_line_before_the_run_directory(tmp_path):
    d = make_folder(tmp_path / "d")
    for opt, value, msg in (
        ("--rho-target", "0", "rho_target: must be a positive number, got 0.0"),
        ("--beta-end", "2", "beta_end: must lie in (0, 1), got 2"),
    ):
        r = CliRunner().invoke(
            cli, ["fit", "--data", str(d), opt, value, "--out", str(tmp_path / "r"), *TINY]
        )
        handled_error(r, msg)
        assert not (tmp_path / "r").exists()


def test_cli_fit_evaluate_predict(tmp_path, tiny_data):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        cli,
        [
            "fit",
            "--data",
            str(tiny_data),
            "--head",
            "classical",
            "--out",
            str(out),
            "--val-frac",
            "0.25",
            "--test-frac",
            "0.25",
            *TINY,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "test on classical" in r.output and f"run: {out}" in r.output
    r = CliRunner().invoke(cli, ["evaluate", "--run", str(out), "--balanced-test"])
    assert r.exit_code == 0, r.output
    assert "balanced" in r.output
    assert r.output.count("test on classical") == 1  # the result once, on stdout
    assert "scoring" in r.stderr and "test image(s) with the head on classical" in r.stderr
    r = CliRunner().invoke(
        cli,
        ["predict", "--run", str(out), str(tiny_data / "normal" / "000.png"), "--format", "csv"],
    )
    assert r.exit_code == 0, r.output
    # an image in a class folder carries its label
    assert r.stdout.splitlines()[0] == (
        "image,label,p_normal,p_stenosis,predicted,lesion_x,lesion_y,lesion_score,lesions"
    )
    r = CliRunner().invoke(cli, ["evaluate", "--run", str(tmp_path / "missing")])
    handled_error(r, "missing: run directory not found; pass the --out of a `qsdaqec fit`")
    r = CliRunner().invoke(cli, ["evaluate", "--run", str(out), "--backend", "qpu9000"])
    handled_error(r, "backend 'qpu9000': unknown; valid:")
    for cmd in ("evaluate", "predict"):  # refused before any image is scored
        r = CliRunner().invoke(
            cli, [cmd, "--run", str(out), "--backend", "aer_noisy", "--shots", "0"]
        )
        handled_error(r, "'--shots': 0 is not in the range x>=1")
    r = CliRunner().invoke(cli, ["predict", "--run", str(out), str(tmp_path / "nope.png")])
    handled_error(r, "nope.png: no such image file")
    r = CliRunner().invoke(cli, ["predict", "--run", str(out), str(tiny_data), "--format", "xml"])
    handled_error(r, "--format 'xml': choose json or csv")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    r = CliRunner().invoke(cli, ["predict", "--run", str(out), str(bad)])
    handled_error(r, "bad.png: not a readable image")


def test_weights_that_do_not_exist_are_one_line(tmp_path):
    r = CliRunner().invoke(
        cli, ["fit", "--weights", str(tmp_path / "mine.pt"), "--out", str(tmp_path / "r")]
    )
    handled_error(r, "mine.pt: not auto, imagenet, none, and no such file or run directory")


def test_fit_starts_from_a_previous_runs_backbone(tiny_data, tmp_path):
    import json

    tiny = [a for a in TINY if a not in ("--weights", "none")]
    first = tmp_path / "first"
    r = CliRunner().invoke(
        cli, ["fit", "--data", str(tiny_data), "--head", "classical", "--out", str(first), *TINY]
    )
    assert r.exit_code == 0, r.output
    second = tmp_path / "second"
    args = ["fit", "--data", str(tiny_data), "--head", "classical", "--out", str(second)]
    r = CliRunner().invoke(cli, [*args, "--weights", str(first), *tiny])
    assert r.exit_code == 0, r.output
    w = json.loads((second / "run.json").read_text())["weights"]
    assert w["requested"] == str(first) and w["used"] == str(first / "model.pt")
    assert w["normalize"] is False  # the first run trained from scratch, on raw inputs


def test_noise_injection_reaches_the_head_and_bad_values_are_one_line(tmp_path):
    from qsdaqec.train import FitConfig
    from qsdaqec.train.model import build_network

    model, _, _ = build_network(FitConfig(noise_injection=0.05, image_size=32).validate(), "none")
    assert model.head.train_noise == 0.05
    r = CliRunner().invoke(cli, ["fit", "--noise-injection", "1.5", "--out", str(tmp_path / "r")])
    handled_error(r, "noise_injection=1.5: must be in [0, 1)")


def test_predict_names_a_file_whose_name_is_not_utf8(tmp_path, tiny_data):
    """A file name is bytes: one that is not UTF-8 (an old Latin-1 archive, say) is written
    into the CSV as the bytes it has on disk, to a file or to stdout (issue 29, item 7)."""
    import os

    from train_helpers import tiny_cfg

    from qsdaqec.train import fit

    run = fit(tiny_cfg(tiny_data, tmp_path / "run", head="classical", epochs=1), log=lambda m: None)
    cases = tmp_path / "cases"
    cases.mkdir()
    image = next((tiny_data / "stenosis").glob("*.png")).read_bytes()
    with open(os.fsencode(cases) + b"/caso_\xe9.png", "wb") as f:  # Latin-1 'caso_é.png'
        f.write(image)
    out = tmp_path / "predictions.csv"
    args = ["predict", "--run", str(run), str(cases), "--format", "csv"]
    r = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = out.read_bytes().splitlines()
    assert len(rows) == 2 and rows[1].startswith(os.fsencode(cases) + b"/caso_\xe9.png,")
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes.splitlines() == rows
