import torch

from qsdaqec.models import InputChannels
from qsdaqec.train.augmentation import affine, augment_batch, flip, rot90
from qsdaqec.train.config import FitConfig


def _images(n=6, size=16):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(1))


def test_views_are_seeded_and_label_preserving_transforms():
    x = _images()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(flip(x, g1), flip(x, g2))
    turned = rot90(x, torch.Generator().manual_seed(0))
    for a, b in zip(x, turned, strict=True):  # each image as it was, or transposed
        assert torch.equal(a, b) or torch.equal(a.transpose(-1, -2), b)
    same = affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)
    assert torch.allclose(same, x, atol=1e-5)  # the identity warp
    moved = affine(x, torch.Generator().manual_seed(0), 15.0, 0.1, 0.1)
    assert moved.shape == x.shape and not torch.allclose(moved, x)


def test_augment_batch_applies_what_the_config_asks():
    x = _images()
    off = FitConfig(
        flips=False, rot90=False, affine_degrees=0.0, affine_scale=0.0, affine_shift=0.0
    )
    assert torch.equal(augment_batch(x, off, torch.Generator().manual_seed(0)), x)
    cfg = FitConfig(flips=True, rot90=True, affine_degrees=10.0)
    a = augment_batch(x, cfg, torch.Generator().manual_seed(3))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_flips_and_turns_of_vessel_channels_are_the_channels_of_the_turned_image():
    """Training caches the channels and then flips and turns them (train/channels.py)."""
    prep = InputChannels("vessel")
    x = _images(size=48)
    for view in (lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.transpose(-1, -2)):
        assert torch.allclose(prep.channels(view(x)), view(prep.channels(x)), atol=1e-5)
    # channels passed in are taken as they are
    assert torch.equal(prep(prep.channels(x)), prep(x))
