"""``qsdaqec augment``: augment the training split of a dataset and write it out."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from ..augment.registry import AUGMENTORS
from ._output import err

COMMANDS: list[click.Command] = []


@click.command(
    "augment",
    epilog="""\b
Examples:
  qsdaqec augment --data data/angio --out data/angio-aug
  qsdaqec augment --data data/angio --out data/angio-balanced --rho-target 1.0 --t 3 --seed 1
  qsdaqec augment --data data/angio --out data/angio-ddpm --augmentor ddpm --ddpm-train-steps 100
  qsdaqec augment --data data/angio --out data/angio-noisy --beta-end 0.2   # warns: low SNR
""",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="ImageFolder (DIR/<class>/*.png) or .npz dataset.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="New folder: OUT/{train,val,test}/<class>/, manifest.json, preview.png.",
)
@click.option(
    "--augmentor",
    type=click.Choice(AUGMENTORS.names()),
    default="simple",
    show_default=True,
    help="; ".join(f"{name}: {a.summary}" for name, a in AUGMENTORS.items()) + ".",
)
@click.option("--steps", type=int, default=None, help="T of the forward schedule  [simple: 5]")
@click.option("--beta-start", type=float, default=None, help="First beta  [1e-4]")
@click.option("--beta-end", type=float, default=None, help="Last beta  [0.02]")
@click.option(
    "--rho-target", type=float, default=None, help="Generate until minority/majority >= this  [0.7]"
)
@click.option(
    "--t", "t_step", default=None, help='Step of each synthetic sample: "random" or 1..T  [random]'
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the split, the augmentor and KID."
)
@click.option(
    "--val-frac",
    type=float,
    default=None,
    help="Validation fraction  [0.15; a .npz with predefined splits keeps its own]",
)
@click.option("--test-frac", type=float, default=None, help="Test fraction  [0.15]")
@click.option(
    "--image-size", type=int, default=None, help="Resize images to this many pixels  [native]"
)
@click.option("--minority", default=None, help="Class name to oversample  [the smallest class]")
@click.option("--ddpm-size", type=int, default=None, help="DDPM resolution  [32]")
@click.option("--ddpm-steps", type=int, default=None, help="DDPM chain length T  [200]")
@click.option(
    "--ddpm-schedule", type=click.Choice(["cosine", "linear"]), default=None, help="[cosine]"
)
@click.option("--ddpm-train-steps", type=int, default=None, help="DDPM optimisation steps  [600]")
@click.option("--ddpm-channels", type=int, default=None, help="UNet base channels  [16]")
@click.option(
    "--distance/--no-distance",
    default=True,
    show_default=True,
    help="Report KID between real and synthetic minority images.",
)
@click.option(
    "--feature-net",
    type=click.Choice(["random-conv", "mobilenet_v2"]),
    default="random-conv",
    show_default=True,
    help="Features for KID (mobilenet_v2 only from the torch hub cache).",
)
@click.option(
    "--inception-weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="torchvision Inception-v3 weights file; enables FID (never downloaded).",
)
@click.option(
    "--num-threads",
    "threads",
    type=int,
    default=None,
    help="torch CPU threads (1 avoids thrashing on a busy machine)  [default: torch's]",
)
@click.option("--threads", "threads_old", type=int, default=None, hidden=True)
@click.option("--force", "overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--overwrite", "overwrite_old", is_flag=True, hidden=True)
def augment_cmd(
    data_dir,
    out_dir,
    augmentor,
    steps,
    beta_start,
    beta_end,
    rho_target,
    t_step,
    seed,
    val_frac,
    test_frac,
    image_size,
    minority,
    ddpm_size,
    ddpm_steps,
    ddpm_schedule,
    ddpm_train_steps,
    ddpm_channels,
    distance,
    feature_net,
    inception_weights,
    threads,
    threads_old,
    overwrite,
    overwrite_old,
):
    """Augment the TRAINING split only with synthetic minority images; val/test stay untouched.

    Loads the dataset, makes a stratified train/val/test split (--seed), generates minority
    samples until minority/majority >= --rho-target, and writes the augmented train split plus
    the untouched val/test splits as ImageFolders, a manifest.json with the provenance of every
    file (source id, t, seed for each synthetic image) and a preview grid.
    """
    from ..augment.pipeline import AugmentOptions, augment_dataset  # torch: only when it runs

    # --threads and --overwrite: the old spellings, kept hidden for one release
    threads = threads if threads is not None else threads_old
    overwrite = overwrite or overwrite_old
    if threads is not None:
        import torch

        if threads < 1:
            raise click.BadParameter("must be >= 1", param_hint="--num-threads")
        torch.set_num_threads(threads)

    opts = AugmentOptions(
        data=data_dir,
        out=out_dir,
        augmentor=augmentor,
        steps=steps,
        beta_start=beta_start,
        beta_end=beta_end,
        rho_target=rho_target,
        t=t_step,
        seed=seed,
        val_frac=val_frac,
        test_frac=test_frac,
        image_size=image_size,
        minority=minority,
        ddpm_size=ddpm_size,
        ddpm_steps=ddpm_steps,
        ddpm_schedule=ddpm_schedule,
        ddpm_train_steps=ddpm_train_steps,
        ddpm_channels=ddpm_channels,
        distance=distance,
        feature_net=feature_net,
        inception_weights=inception_weights,
        overwrite=overwrite,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = augment_dataset(opts, echo=click.echo)
    for w in caught:
        err(f"warning: {w.message}")
    click.echo(summary)


COMMANDS.append(augment_cmd)
