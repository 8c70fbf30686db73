"""The training actually learns, and its guards act: the loss falls and validation AUC clears
chance by a wide margin on an easy set, for both heads; class weights are the ones applied to
the loss; noise matching really diffuses majority images in the batches.

Each test is a few seconds on 2 CPU cores (32 px, 64 images)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from train_helpers import tiny_cfg

from qsdaqec.train import fit, stage1


@pytest.fixture(scope="module")
def easy_data(tmp_path_factory):
    """Noise images; a stenosis image carries one bright 8x8 square somewhere (an easy task).
    40 normal, 24 stenosis: the training split is imbalanced, so augmentation has work."""
    root = tmp_path_factory.mktemp("easy") / "data"
    rng = np.random.default_rng(0)
    for name, n in (("normal", 40), ("stenosis", 24)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = 0.3 + 0.08 * rng.standard_normal((32, 32))
            if name == "stenosis":
                r, c = rng.integers(6, 18, 2)
                img[r : r + 8, c : c + 8] += 0.5
            pixels = (np.clip(img, 0, 1) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def _fit(data, out, **kw):
    base = dict(epochs=6, batch_size=16, patience=0, val_frac=0.25, test_frac=0.25)
    return fit(tiny_cfg(data, out, **{**base, **kw}), log=lambda m: None)


@pytest.mark.parametrize("head", ["classical", "quantum"])
def test_loss_falls_and_validation_auc_clears_chance(easy_data, tmp_path, head):
    run = _fit(easy_data, tmp_path / head, head=head, epochs=8)
    hist = json.loads((run / "history.json").read_text())
    losses = [r["train_loss"] for r in hist]
    assert min(losses[-2:]) < 0.9 * losses[0], losses
    best = max(r["val_auc"] for r in hist)
    assert best >= 0.85, [r["val_auc"] for r in hist]


def _record_batches(monkeypatch):
    """Wrap stage 1's epoch loop: every (images, labels) batch, and the loss it used."""
    seen = {"x": [], "y": [], "criterion": []}
    real = stage1.train_epoch

    def spy(ctx, opt, criterion, steps, n_steps, desc, accel=None, after_step=None):
        steps = list(steps)
        seen["criterion"].append(criterion)
        for _, x, y in steps:
            seen["x"].append(x.detach().clone())
            seen["y"].append(y.clone())
        return real(ctx, opt, criterion, steps, n_steps, desc, accel, after_step)

    monkeypatch.setattr(stage1, "train_epoch", spy)
    return seen


def test_class_weights_are_the_ones_applied(easy_data, tmp_path, monkeypatch):
    seen = _record_batches(monkeypatch)
    run = _fit(easy_data, tmp_path / "w", head="classical", epochs=1, augment=False)
    y = torch.cat(seen["y"])  # one epoch: every training image once (the last may be dropped)
    train_labels = torch.tensor(
        json.loads((run / "run.json").read_text())["data"]["train_class_counts"]
    )
    expected = train_labels.sum() / (2 * train_labels.float())
    assert torch.allclose(seen["criterion"][0].weight, expected)
    assert y.numel() >= train_labels.sum() - 1
    seen["criterion"].clear()
    _fit(easy_data, tmp_path / "plain", head="classical", epochs=1, class_weighted=False)
    assert torch.equal(seen["criterion"][0].weight, torch.ones(2))


@pytest.mark.parametrize("noise_match,input", [(True, "gray"), (True, "vessel"), (False, "gray")])
def test_noise_matching_diffuses_majority_images(
    easy_data, tmp_path, monkeypatch, noise_match, input
):
    """Without flips every clean training image reappears bit for bit in its batch; with noise
    matching a share of the majority rows (about the minority's synthetic share) does not. With
    vessel input (channels made once, train/channels.py) the diffused rows get the channels of
    their diffused image, not of the clean one."""
    seen = _record_batches(monkeypatch)
    views = dict(flips=False, rot90=False, affine_degrees=0.0, affine_scale=0.0, affine_shift=0.0)
    run = _fit(
        easy_data, tmp_path / str(noise_match), head="classical", epochs=2, input=input,
        noise_match=noise_match, rho_target=1.0, **views,
    )  # fmt: skip
    aug = json.loads((run / "run.json").read_text())["augmentation"]
    from qsdaqec.data import load_dataset

    ds = load_dataset(easy_data, 32)
    originals = ds.images[ds.labels == 0].flatten(1)
    x, y = torch.cat(seen["x"]), torch.cat(seen["y"])
    majority = x[y == 0][:, :1].flatten(1)  # the image itself is channel 0 of either input
    clean = (majority[:, None, :] == originals[None]).all(dim=-1).any(dim=-1)
    diffused = 1.0 - float(clean.float().mean())
    if noise_match:
        p = aug["noise_match"]["probability"]
        assert p > 0.2 and abs(diffused - p) < 0.2, (diffused, p)
    else:
        assert aug["noise_match"] == "off" and diffused == 0.0
    if input == "vessel":
        from qsdaqec.models import InputChannels

        remade = InputChannels("vessel").channels(x[:, :1].contiguous())
        assert torch.allclose(remade, x, atol=1e-5)  # every row's maps are its own image's


def test_weight_average_is_bias_corrected():
    """A short run's average is not mostly its first weights: each step weighs decay**age,
    normalised over the steps taken (a plain EMA would keep 0.9**6 = 53 % of step 1 here)."""
    from qsdaqec.train.stage1 import _corrected_ema

    decay, steps = 0.9, [torch.tensor([float(i)]) for i in range(1, 8)]
    avg = [steps[0].clone()]  # AveragedModel copies the first step's weights
    update = _corrected_ema(decay)
    for n, p in enumerate(steps[1:], start=1):
        update(avg, [p], torch.tensor(n))
    w = torch.tensor([decay ** (len(steps) - 1 - i) for i in range(len(steps))])
    assert torch.allclose(avg[0], (w / w.sum() * torch.cat(steps)).sum().reshape(1))
