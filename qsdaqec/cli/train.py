"""CLI: ``qsdaqec fit``, ``qsdaqec evaluate``, ``qsdaqec predict`` (thin wrappers of qsdaqec.train).

Defaults live in ``FitConfig``; options left out keep them (the help shows them). Each command
imports its implementation (torch) when it runs: ``qsdaqec --help`` must stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..augment.registry import AUGMENTORS
from ..errors import ConfigError, RunError
from ..io import atomic_write_text
from ..metrics import format_metrics
from ..quantum.encodings import ENCODINGS
from ..runs import RunDir
from ..train.config import FitConfig
from ..train.presets import PRESETS, preset_config
from ._output import err
from ._tracking import pop_tracking, tracking_options

if TYPE_CHECKING:  # the command imports it (and torch) when it runs
    from ..train import Run

_DEFAULTS = FitConfig()


#: How a ``None`` default reads in --help.
_NONE_MEANS = {
    "data": "the built-in synthetic data",
    "shots": "4096 on aer_noisy and fake:, exact expectation values otherwise",
    "encoding": "schmidt on aer_noisy and fake:, amplitude (the paper's) otherwise",
    "noisy_subset": "64; 16 with --encoding amplitude",
    "num_threads": "torch's",
    "out": "runs/<auto name>",
}


def _default(name: str) -> str:
    """``FitConfig``'s default of ``name`` as --help shows it: on/off, words for ``None``."""
    v = getattr(_DEFAULTS, name)
    if v is None:
        return _NONE_MEANS[name]
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def _opt(*decls: str, field: str, help: str, type=None, **kw):
    """An option whose default is ``FitConfig``'s (left out: the field keeps its default)."""
    return click.option(
        *decls, field, default=None, type=type, help=_with_default(help, field), **kw
    )


def _switch(decls: str, field: str, help: str):
    """An on/off pair (``--x/--no-x``) for a boolean ``FitConfig`` field."""
    return click.option(decls, field, default=None, help=_with_default(help, field))


def _with_default(help: str, field: str) -> str:
    return f"{help}  [default: {_default(field)}]"


@click.command("fit")
@_opt("--data", field="data", help="ImageFolder (one subfolder per class) or .npz.", type=str)
@_opt(
    "--frames",
    field="frames",
    type=str,
    help="Which frame of a multi-frame DICOM file: max-contrast (peak vessel opacification) | "
    "middle | a frame index. Predictions and jobs of the run read DICOM files the same way.",
)
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="Where the options you leave out come from: "
    + "; ".join(f"{name}: {p.summary}" for name, p in PRESETS.items())
    + ". The [default: ...] values below are the default preset's.",
)
@_opt(
    "--backend",
    field="backend",
    type=str,
    help="statevector (exact: stage 1 only) | aer | aer_noisy[:<fake>] | fake:<name>. A non-exact "
    "backend adds stage 2: the head fine-tuned on it with parameter-shift gradients.",
)
@_opt("--head", field="head", type=str, help="quantum (the paper's) | classical (Dense 256->2).")
@_opt(
    "--encoding",
    field="encoding",
    type=str,
    help=" | ".join(f"{name} ({e.summary})" for name, e in ENCODINGS.items()) + ".",
)
@_opt(
    "--model",
    field="model",
    type=str,
    help="sdaqec | resnet18 | mobilenet_v2 | densenet121 | vgg16.",
)
@_opt(
    "--weights",
    field="weights",
    type=str,
    help="auto (ImageNet weights when cached or downloadable, else from scratch with a notice) | "
    "imagenet (downloaded once into the torch hub cache, hash-checked) | none | PATH (a state "
    "dict, or a previous run directory whose backbone is used).",
)
@_opt(
    "--epochs", field="epochs", type=int, help="Stage-1 epochs (upper bound with early stopping)."
)
@_opt("--batch-size", field="batch_size", type=int, help="Stage-1 batch size.")
@_opt("--image-size", field="image_size", type=int, help="Image side in pixels (>= 32).")
@_opt("--lr", field="lr", type=float, help="Learning rate of backbone + projection.")
@_opt("--head-lr", field="head_lr", type=float, help="Learning rate of the head in stage 1.")
@_opt("--optimizer", field="optimizer", type=str, help="adam | adamw (decoupled weight decay).")
@_opt("--schedule", field="schedule", type=str, help="cosine (per epoch) | onecycle (per batch).")
@_opt("--weight-decay", field="weight_decay", type=float, help="Weight decay of the backbone.")
@_opt("--label-smoothing", field="label_smoothing", type=float, help="Label smoothing in training.")
@_opt(
    "--ema",
    field="ema",
    type=float,
    help="Decay of a moving average of the weights, which then validates and is kept (0 = off).",
)
@_opt(
    "--test-views",
    field="test_views",
    type=int,
    help="Average the backbone's features over 1 | 2 | 4 | 8 flipped and transposed views of "
    "each image when the trained model scores (the head still runs once per image).",
)
@_opt(
    "--input",
    field="input",
    type=str,
    help="The backbone's input channels: gray (the paper's) | vessel (gray + Sato vessel maps).",
)
@_opt(
    "--output-stride",
    field="output_stride",
    type=int,
    help="32 (the paper's MobileNetV2) | 16 (the last stage dilated: a map twice as fine).",
)
@_opt(
    "--pooling",
    field="pooling",
    type=str,
    help="avg (global average pooling: the paper's) | lesion (weighted by the lesion map, so "
    "one local finding can decide).",
)
@_opt(
    "--lesion-weight",
    field="lesion_weight",
    type=float,
    help="Weight of the lesion-map loss where the data's lesions.json knows where lesions are "
    "(0 = learn from the labels alone).",
)
@_switch(
    "--augment/--no-augment",
    "augment",
    help="Forward-diffusion minority augmentation of the training split only.",
)
@_opt(
    "--augmentor",
    field="augmentor",
    type=str,
    help=" | ".join(f"{name} ({a.summary})" for name, a in AUGMENTORS.items()) + ".",
)
@_switch(
    "--flips/--no-flips",
    "flips",
    help="Random horizontal/vertical flips of training batches (seeded).",
)
@_switch(
    "--rot90/--no-rot90",
    "rot90",
    help="Random right-angle turns of training images (with flips: all 8 views).",
)
@_opt("--affine-degrees", field="affine_degrees", type=float, help="Random rotation, degrees.")
@_opt("--affine-scale", field="affine_scale", type=float, help="Random zoom, fraction.")
@_opt("--affine-shift", field="affine_shift", type=float, help="Random shift, fraction.")
@_switch(
    "--noise-match/--no-noise-match",
    "noise_match",
    help="Forward-diffuse majority training images as often as minority ones are synthetic, so "
    "that noise is no class cue (with --augment).",
)
@_opt("--diffusion-steps", field="diffusion_steps", type=int, help="T of the forward diffusion.")
@_opt("--beta-end", field="beta_end", type=float, help="Last beta of the linear schedule.")
@_opt(
    "--rho-target",
    field="rho_target",
    type=float,
    help="Augment the minority until minority/majority >= this (1.0 = balanced).",
)
@_switch(
    "--class-weighted/--plain-ce",
    "class_weighted",
    help="Class-weighted cross-entropy (inverse frequency) or plain cross-entropy.",
)
@_opt(
    "--monitor",
    field="monitor",
    type=str,
    help="Best checkpoint / early stopping on val auc | loss.",
)
@_opt("--patience", field="patience", type=int, help="Early-stopping patience in epochs (0 = off).")
@_opt(
    "--noise-injection",
    field="noise_injection",
    type=float,
    help="Gaussian noise (standard deviation) added to the quantum head's expectation values "
    "while training stage 1, so that its output layer tolerates device and shot noise (0 = off).",
)
@_opt("--noisy-epochs", field="noisy_epochs", type=int, help="Stage-2 epochs on the backend.")
@_opt(
    "--noisy-subset",
    field="noisy_subset",
    type=int,
    help="Training samples per stage-2 epoch (0 = all).",
)
@_opt("--noisy-lr", field="noisy_lr", type=float, help="Stage-2 Adam learning rate.")
@_opt(
    "--shots",
    field="shots",
    type=int,
    help="Shots per circuit in stage 2 and the noisy test scores.",
)
@_opt("--val-frac", field="val_frac", type=float, help="Validation fraction (stratified).")
@_opt("--test-frac", field="test_frac", type=float, help="Test fraction (stratified).")
@_opt("--seed", field="seed", type=int, help="Seed of split, augmentation, init, order, sampling.")
@_opt("--num-threads", field="num_threads", type=int, help="torch CPU threads.")
@_opt(
    "--device",
    field="device",
    type=str,
    help="Where the backbone trains: auto (CUDA when available) | cpu | cuda[:N] | mps. On CUDA: "
    "bf16 autocast, channels-last. The quantum head and stage 2 run on the CPU.",
)
@_opt(
    "--data-loading",
    field="data_loading",
    type=str,
    help="auto | memory | stream: hold the images in memory, or read them from their files "
    "batch by batch (image folders); auto streams a folder whose images would take over 2 GiB "
    "(n x 1 x size x size x 4 bytes). The results are the same.",
)
@_opt(
    "--workers",
    field="workers",
    type=int,
    help="Processes reading streamed images ahead of training (0 = none).",
)
@_opt("--out", field="out", type=str, help="Run directory.")
@click.option(
    "--resume",
    is_flag=True,
    default=False,
    help="Continue an interrupted run in --out with its saved settings (--num-threads and "
    "--device too, unless given again; the log says which). A run without checkpoint.pt "
    "starts over with them, and says so.",
)
@click.option("--force", is_flag=True, default=False, help="Replace the run in --out.")
@click.option(
    "--skip-bad", is_flag=True, default=False, help="Skip unreadable images (listed in run.json)."
)
@click.option("--no-progress", is_flag=True, default=False, help="No progress bars.")
@tracking_options
def fit_cmd(**opts) -> None:
    """Train the SDA-QEC model (or a baseline) and evaluate it on the test split.

    Stage 1 trains end to end on the exact fast path. With a non-exact --backend and the
    quantum head, stage 2 freezes the backbone, caches the 256-d features and fine-tunes the
    quantum weights and output layer on the backend with parameter-shift gradients. The run
    directory gets config.json, run.json (stages, where and how long), history.json/csv,
    model.pt, metrics.json, predictions_test.csv, roc.png, confusion.png and curves.png.
    With --tracker, every epoch of both stages, the config, the test scores and the figures
    also go to TensorBoard (RUN/tensorboard/) or MLflow.

    \b
    Examples:
      qsdaqec fit --backend aer_noisy
      qsdaqec fit --preset paper --device cuda --out runs/paper
      qsdaqec fit --data data/aug --encoding angle --out runs/angle --epochs 2 --image-size 64
      qsdaqec fit --data data/aug --head classical --no-augment --epochs 2 --out runs/dense
      qsdaqec fit --model resnet18 --data data/angio --image-size 64 --epochs 2 --out runs/resnet
      qsdaqec fit --out runs/angle --resume
      qsdaqec fit --data data/aug --out runs/tracked --epochs 2 --image-size 64 --tracker tensorboard
    """
    from ..train import fit

    tracking = pop_tracking(opts)
    progress = not opts.pop("no_progress")
    preset = opts.pop("preset")
    values = {k: v for k, v in opts.items() if v is not None}
    cfg = preset_config(preset, **values)
    cfg.progress = progress
    if not cfg.out:  # named here, so that an interruption can say which run to resume
        cfg.out = str(Path("runs") / cfg.validate().auto_name())
    try:
        run = fit(cfg, tracking=tracking)
    except KeyboardInterrupt:
        raise RunError(
            f"interrupted; continue with `qsdaqec fit --out {cfg.out} --resume` (the epochs "
            "finished so far are checkpointed; files already written are complete)"
        ) from None
    _print_summary(run)


def _print_summary(run: Run) -> None:
    m, info = run.metrics, run.info
    for s in info.get("stages", []):
        click.echo(
            f"stage {s['stage']} ({s['name']}): backend {s['backend']}, {s['epochs']} epoch(s), "
            f"{s['seconds']:.1f}s"
        )
    click.echo(f"test on {m['test_backend']}: {format_metrics(m['test'])}")
    if "test_exact" in m:
        click.echo(f"test exact (same weights): {format_metrics(m['test_exact'])}")
    if "test_before_stage2" in m:
        before = m["test_before_stage2"]
        click.echo(f"test on {m['test_backend']} before stage 2: {format_metrics(before)}")
    click.echo(f"run: {run}")


# Options evaluate and predict share (same meaning, same help).
_shots_option = click.option(
    "--shots",
    type=click.IntRange(1),
    default=None,
    help="Shots per circuit [default: the run's (4096 for runs trained on aer_noisy or fake:), "
    "else exact expectation values where the backend allows, else 4096].",
)
_threshold_option = click.option(
    "--threshold",
    default="0.5",
    show_default=True,
    help="Probability of the diagnosis class from which an image counts as positive, or an "
    "operating point the run saved from its validation split: youden | sens90.",
)
_device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where the backbone computes: auto (CUDA when available) | cpu | cuda[:N] | mps.",
)


@click.command("evaluate")
@click.option("--run", "run_dir", required=True, type=str, help="A finished run directory.")
@click.option(
    "--backend",
    default="statevector",
    show_default=True,
    help="statevector | aer | aer_noisy[:<fake>] | fake:<name> (hardware: `qsdaqec jobs`).",
)
@click.option(
    "--balanced-test",
    is_flag=True,
    default=False,
    help="Subsample the test split's majority class to the minority's size (seeded).",
)
@click.option(
    "--data", default=None, help="Other data (default: the run's); same split from the run's seed."
)
@_shots_option
@click.option(
    "--out", default=None, help="Output folder (default <run>/eval/<backend>[-balanced])."
)
@_threshold_option
@_device_option
@click.option("--no-progress", is_flag=True, default=False, help="No progress bar.")
def evaluate_cmd(
    run_dir, backend, balanced_test, data, shots, out, threshold, device, no_progress
) -> None:
    """Re-score a run's test split with its head on BACKEND.

    \b
    Examples:
      qsdaqec evaluate --run runs/tour --backend statevector
      qsdaqec evaluate --run runs/tour --backend aer_noisy:fake_torino --balanced-test
      qsdaqec evaluate --run runs/tour --threshold sens90
    """
    from ..train import evaluate

    r = evaluate(
        run_dir,
        backend,
        balanced_test=balanced_test,
        data=data,
        shots=shots,
        out=out,
        device=device,
        threshold=threshold,
        progress=not no_progress,
    )
    click.echo(
        f"test on {r['backend']}{' (balanced)' if balanced_test else ''}: {format_metrics(r['test'])}"
    )
    for w in r["test"]["warnings"]:
        click.echo(f"note: {w}")
    click.echo(f"written: {r['out']}")


@click.command("predict")
@click.option("--run", "run_dir", required=True, type=str, help="A finished run directory.")
@click.argument("images", nargs=-1, required=True)
@click.option("--format", "fmt", default="json", show_default=True, help="json | csv.")
@click.option("--out", default=None, help="Write to FILE instead of stdout.")
@click.option(
    "--backend", default="statevector", show_default=True, help="Backend of the quantum head."
)
@_shots_option
@_threshold_option
@_device_option
@click.option(
    "--explain",
    "explain",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write a Grad-CAM overlay PNG of the predicted class for each image, and an "
    "index.html of them, into this folder.",
)
@click.option(
    "--frames",
    default=None,
    help="Which frame of a DICOM cine loop [default: the run's choice]: max-contrast | middle | "
    "an index | all (one prediction per frame, named PATH#FRAME). Each DICOM row names its frame.",
)
@click.option(
    "--exclude-train/--include-train",
    "exclude_train",
    default=True,
    show_default=True,
    help="Leave out the images the run trained on (its split.json names them), or score them "
    "too, marked trained_on and left out of the metrics.",
)
def predict_cmd(
    run_dir, images, fmt, out, backend, shots, threshold, device, explain, frames, exclude_train
) -> None:
    """Class probabilities and predicted label for each image (files or folders).

    Images inside folders named like the run's classes (e.g. an ImageFolder's normal/ and
    stenosis/) carry their label, and the metrics of those the run did not train on are printed
    on stderr. A data set's contact_sheet.png and preview.png are skipped.

    \b
    Examples:
      qsdaqec predict --run runs/tour data/aug/test/stenosis/stenosis_img_0069.png
      qsdaqec predict --run runs/tour data/aug/test --format csv --out predictions.csv
      qsdaqec predict --run runs/tour data/angio --threshold youden
      qsdaqec predict --run runs/tour data/aug/test/stenosis --explain explain/
    """
    from ..train import format_predictions, labelled_metrics, predict

    if fmt not in ("json", "csv"):
        raise ConfigError(f"--format {fmt!r}: choose json or csv")
    rows = predict(
        run_dir,
        list(images),
        backend=backend,
        shots=shots,
        device=device,
        threshold=threshold,
        explain=explain,
        frames=frames,
        exclude_train=exclude_train,
    )
    if explain is not None:
        err(f"Grad-CAM overlays: {explain / 'index.html'}")
    for line in _label_notes(rows, RunDir(run_dir).read_info().classes):
        err(line)
    m = labelled_metrics(rows, run_dir, threshold)
    if m is not None:
        err(f"labelled images: {format_metrics(m)}")
    text = format_predictions(rows, fmt)
    if out:
        atomic_write_text(out, text)
        err(f"{len(rows)} prediction(s) -> {out}")
    else:  # a file name that is not UTF-8 goes out as the bytes it has on disk, like `ls`
        click.echo(text.encode("utf-8", errors="surrogateescape"), nl=False)


def _label_notes(rows: list[dict], classes: list[str]) -> list[str]:
    """Why some images have no label: their folders are not named like the run's classes (a
    user's pos/ and neg/ would otherwise pass silently as unlabelled)."""
    loose = [r for r in rows if "label" not in r]
    folders = sorted({Path(str(r["image"]).split("#")[0]).parent.name for r in loose})
    if not loose or (len(loose) == len(rows) and len(folders) < 2):
        return []  # a folder of unlabelled images: nothing to say
    named = ", ".join(f"{f}/" for f in folders[:4]) + (" ..." if len(folders) > 4 else "")
    return [
        f"{len(loose)} image(s) in {named} have no label and are left out of the metrics: only "
        f"folders named like the run's classes ({', '.join(c + '/' for c in classes)}) label "
        "their images"
    ]


COMMANDS: list[click.Command] = [fit_cmd, evaluate_cmd, predict_cmd]
