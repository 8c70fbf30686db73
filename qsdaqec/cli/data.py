"""``qsdaqec data``: make the synthetic angiograms, import public data sets, summarise a data
set."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from ..data.importers import IMPORTERS, SEVERITIES, ImportOptions, ImportResult, import_dataset
from ..data.synth import PRESETS, SynthConfig, builtin_dataset_dir, generate_synthetic
from ..errors import ConfigError

_D = SynthConfig()  # the options' defaults are SynthConfig's field defaults
_I = ImportOptions()


@click.group("data")
def data() -> None:
    """Synthetic angiography data, public stenosis data sets, data-set summaries.

    \b
    Examples:
      qsdaqec data synth --out data/angio-seed1 --n 400 --seed 1
      qsdaqec data import cadica downloads/CADICA --out data/cadica
      qsdaqec data info data/angio
      qsdaqec data info data/aug
    """


@data.command("synth")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create (ImageFolder layout).",
)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="builtin",
    show_default=True,
    help="Base configuration: builtin (the default data set's) or heldout (a second, fixed "
    "configuration to check a model on data it was not tuned on); options given override it.",
)
@click.option("--n", "n", type=int, default=_D.n, show_default=True, help="Number of images.")
@click.option(
    "--minority-frac",
    type=float,
    default=_D.minority_frac,
    show_default=True,
    help="Fraction of stenosis images.",
)
@click.option("--size", type=int, default=_D.size, show_default=True, help="Image side in pixels.")
@click.option("--seed", type=int, default=_D.seed, show_default=True)
@click.option(
    "--severity",
    type=(float, float),
    default=_D.severity,
    show_default=True,
    metavar="LOW HIGH",
    help="Range of the stenosis diameter reduction (0..1).",
)
@click.option(
    "--stenoses",
    "n_stenoses",
    type=(int, int),
    default=_D.n_stenoses,
    show_default=True,
    metavar="LOW HIGH",
    help="Stenoses per positive image.",
)
@click.option(
    "--noise",
    type=float,
    default=_D.noise,
    show_default=True,
    help="Noise level (0 = none, 1 = default).",
)
@click.option(
    "--sheet-tiles",
    type=int,
    default=_D.contact_sheet_tiles,
    show_default=True,
    help="Tiles in contact_sheet.png.",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty.")
@click.pass_context
def synth(
    ctx, out, preset, n, minority_frac, size, seed, severity, n_stenoses, noise, sheet_tiles, force
) -> None:
    """Generate synthetic X-ray coronary angiograms: classes normal and stenosis.

    Writes OUT/normal/*.png, OUT/stenosis/*.png, OUT/manifest.json (seed, parameters,
    stenosis locations and severities), OUT/lesions.json (the lesion boxes fit learns where to
    look from) and OUT/contact_sheet.png. The same options give byte-identical files.

    \b
    Examples:
      qsdaqec data synth --out data/angio-1000
      qsdaqec data synth --out data/heldout --preset heldout
      qsdaqec data synth --out data/hard --n 1000 --severity 0.4 0.6 --noise 1.5
    """
    given = {
        "n": n,
        "minority_frac": minority_frac,
        "size": size,
        "seed": seed,
        "severity": tuple(severity),
        "n_stenoses": tuple(n_stenoses),
        "noise": noise,
        "contact_sheet_tiles": sheet_tiles,
    }
    source = {"n_stenoses": "n_stenoses", "contact_sheet_tiles": "sheet_tiles"}
    explicit = {
        k: v
        for k, v in given.items()
        if ctx.get_parameter_source(source.get(k, k)) != click.core.ParameterSource.DEFAULT
        or preset == "builtin"
    }
    cfg = dataclasses.replace(PRESETS[preset], **explicit)
    t0 = time.perf_counter()
    path = generate_synthetic(out, cfg, overwrite=force)
    click.echo(
        f"wrote {cfg.n} images ({cfg.n - cfg.n_positive} normal, {cfg.n_positive} stenosis, "
        f"{cfg.size}x{cfg.size}) to {path} in {time.perf_counter() - t0:.1f}s; "
        f"preview: {path / 'contact_sheet.png'}"
    )


@data.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(IMPORTERS.names()))
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create; an existing non-empty folder is refused.",
)
@click.option(
    "--min-severity",
    type=click.Choice(SEVERITIES),
    default=_I.min_severity,
    show_default=True,
    help="cadica only: the mildest lesion class that makes a frame stenosis (p50_70: a "
    ">= 50 % diameter reduction). Frames with milder lesions only are skipped.",
)
@click.pass_context
def import_(ctx, fmt, source, out, min_severity) -> None:
    """Turn a public coronary stenosis data set, as unzipped, into an image folder.

    FORMAT is one of: arcade (ARCADE's stenosis task, Zenodo 10390295), danilov (Danilov et
    al. 2021, Mendeley ydrm75xywg), cadica (CADICA, Mendeley p9bpx9ctcv). SOURCE is the folder
    the download unpacked to.

    Writes OUT/normal/*.png and OUT/stenosis/*.png (8-bit grayscale, original size; arcade
    keeps its own split: OUT/{train,val,test}/{normal,stenosis}/), OUT/lesions.json (the
    lesion boxes, and each image's patient as its group) and OUT/import.json (counts, the
    class rule, what was skipped and why). Any malformed annotation stops the import with one
    line naming the file and the entry; nothing is written until all are checked.

    \b
    Examples:
      qsdaqec data import arcade downloads/arcade --out data/arcade
      qsdaqec data import danilov "downloads/Stenosis detection" --out data/danilov
      qsdaqec data import cadica downloads/CADICA --out data/cadica --min-severity p70_90
      qsdaqec data info data/cadica --image-size 128
    """
    given = ctx.get_parameter_source("min_severity") != click.core.ParameterSource.DEFAULT
    if given and fmt != "cadica":
        raise ConfigError(f"--min-severity applies to cadica only, not {fmt}")
    result = import_dataset(fmt, source, out, ImportOptions(min_severity=min_severity))
    click.echo(_import_summary(fmt, result))


def _import_summary(fmt: str, r: ImportResult) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
    parts = ""
    if r.parts is not None:
        parts = "; " + ", ".join(f"{p} {sum(c.values())}" for p, c in r.parts.items())
    line = f"imported {sum(r.counts.values())} {fmt} images ({counts}{parts})"
    line += f", {r.groups} group{'s' if r.groups != 1 else ''}" if r.groups else ", no groups"
    line += f", skipped {r.skipped}" if r.skipped else ""
    line += f"; wrote {r.out} (lesions.json, import.json)"
    if len(r.counts) < 2:
        line += "; only one class: add images of the other before training"
    return line


@data.command("info")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--skip-bad", is_flag=True, help="List unreadable files instead of failing.")
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed.")
@click.option("--val-frac", type=float, default=0.15, show_default=True)
@click.option("--test-frac", type=float, default=0.15, show_default=True)
@click.option(
    "--image-size",
    type=int,
    default=None,
    help="Resize to this size (needed when image sizes differ).",
)
@click.option("--positive", default=None, help="Name of the diagnosis class.")
@click.option(
    "--frames",
    default="max-contrast",
    show_default=True,
    help="Which frame of a multi-frame DICOM file: max-contrast | middle | a frame index.",
)
def info(path, skip_bad, seed, val_frac, test_frac, image_size, positive, frames) -> None:
    """Class counts, imbalance ratio, split sizes and skipped files of a data set.

    PATH is an ImageFolder tree (PATH/<class>/<image>), a folder already split into
    PATH/{train,val,test}/<class>/ (what `qsdaqec augment` writes) or a MedMNIST-style .npz;
    without PATH, the built-in synthetic data set (generated on first use). A split folder or a
    .npz with its own train/val/test keeps them; otherwise a stratified split with --seed is
    shown. Synthetic images (syn_*) are counted per part.

    \b
    Examples:
      qsdaqec data info
      qsdaqec data info data/angio --seed 3
      qsdaqec data info data/angio --skip-bad --image-size 64
    """
    from ..data import describe, load_dataset  # torch: only when it runs
    from ..data.dicom import dicom_summary, parse_frame
    from ..data.lesions import find_lesions

    if path is None:
        path = builtin_dataset_dir()
    frame = parse_frame(frames)
    data_set = load_dataset(
        path, image_size, skip_bad=skip_bad, positive=positive, frame=frame, min_classes=1
    )
    split, how = data_set.split, "predefined (train/val/test folders)"
    if not Path(path).is_dir():
        how = "predefined"
    if split is None:
        lesions = find_lesions(path)
        split, how = _info_split(data_set, lesions, val_frac, test_frac, seed)
    click.echo(f"data set: {path}")
    click.echo(describe(data_set, split))
    click.echo(f"{'split method' if split is not None else 'split'}: {how}")
    if Path(path).is_dir():
        files = [Path(path) / i for i in data_set.ids if (Path(path) / i).is_file()]
        for line in (_colour_note(files), dicom_summary(files)):
            if line:
                click.echo(line)


def _info_split(data_set, lesions, val_frac, test_frac, seed):
    """The split ``fit`` would make, and how; ``(None, why not)`` when it cannot make one (one
    class, too few images of a class): the summary still shows the counts."""
    from ..data import grouped_split, stratified_split
    from ..errors import DataError

    counts = data_set.labels.bincount(minlength=len(data_set.classes)).tolist()
    present = [c for c, k in zip(data_set.classes, counts, strict=True) if k]
    if len(present) < 2:
        return None, (
            f"none: only one class ({present[0]}); fit needs images of two classes, e.g. "
            "normal/ and stenosis/"
        )
    groups = lesions.groups(data_set.ids) if lesions is not None else []
    try:
        if any(g is not None for g in groups):
            split = grouped_split(
                data_set.labels,
                groups,
                val_frac,
                test_frac,
                seed,
                positive=data_set.positive,
                classes=data_set.classes,
            )
            return split, f"by group (patient or video, from lesions.json), seed {seed}"
        split = stratified_split(
            data_set.labels, val_frac, test_frac, seed, classes=data_set.classes
        )
        return split, f"stratified, seed {seed}"
    except DataError as e:
        return None, f"not possible: {e}"


def _colour_note(files: list[Path]) -> str | None:
    """A line when some image files are in colour: the loader reads them as grey (ITU-R 601
    luma), as the model sees them."""
    from PIL import Image  # header reads only

    colour = 0
    for f in files:
        try:
            with Image.open(f) as im:
                colour += im.mode not in ("1", "L", "LA", "I", "I;16", "F")
        except OSError:
            continue  # DICOM and unreadable files are reported elsewhere
    if not colour:
        return None
    return (
        f"colour: {colour} image(s) stored in colour, converted to grey as fit and predict "
        "read them"
    )


COMMANDS: list[click.Command] = [data]
