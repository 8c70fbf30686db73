import pytest
import torch

from qsdaqec.augment import augment_training_split
from qsdaqec.augment.ddpm import DDPM, DDPMAugmentor, DDPMConfig, TinyUNet, n_params
from qsdaqec.errors import ConfigError


def tiny_cfg(**kw):
    base = dict(
        image_size=8,
        steps=10,
        train_steps=3,
        base_channels=4,
        channel_mults=(1, 2),
        batch_size=4,
        sample_batch=8,
        seed=0,
    )
    base.update(kw)
    return DDPMConfig(**base)


def toy(n_major=12, n_minor=4, size=16):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n_major + n_minor, 1, size, size, generator=g), torch.tensor(
        [0] * n_major + [1] * n_minor
    )


def test_unet_shapes_and_default_size():
    net = TinyUNet(1, 16, (1, 2, 2))
    x = torch.randn(2, 1, 32, 32)
    assert net(x, torch.tensor([0, 199])).shape == x.shape
    assert 100_000 <= n_params(net) <= 1_000_000  # the default model


def test_tiny_train_and_sample_is_deterministic():
    x, y = toy()
    a = DDPMAugmentor(tiny_cfg()).augment(x, y)
    b = DDPMAugmentor(tiny_cfg()).augment(x, y)
    assert a.generated == 5  # ceil(0.7 * 12) - 4
    assert torch.equal(a.images, b.images)
    syn = a.images[a.synthetic]
    assert syn.shape == (5, 1, 16, 16)  # upsampled back to the input size
    assert syn.min() >= 0 and syn.max() <= 1
    assert torch.all(a.source_index[a.synthetic] == -1)
    assert a.info["train_images"] == 4 and a.info["unet_params"] > 0
    c = DDPMAugmentor(tiny_cfg(seed=1)).augment(x, y)
    assert not torch.equal(a.images[a.synthetic], c.images[c.synthetic])


def test_ddpm_training_reduces_loss():
    x = torch.zeros(8, 1, 8, 8) - 0.5
    model = DDPM(tiny_cfg(train_steps=60, lr=5e-3)).fit(x)
    first, last = sum(model.losses[:10]) / 10, sum(model.losses[-10:]) / 10
    assert last < first


def test_ddpm_symmetric_range_and_nothing_to_do():
    x, y = toy()
    res = DDPMAugmentor(tiny_cfg(value_range="-1,1")).augment(x * 2 - 1, y)
    syn = res.images[res.synthetic]
    assert syn.min() >= -1 and syn.max() <= 1
    res = DDPMAugmentor(tiny_cfg(rho_target=0.3)).augment(x, y)
    assert res.generated == 0 and "already" in res.reason


def test_ddpm_only_sees_training_minority():
    x, y = toy(20, 8)

    class Split:
        train, val, test = (
            list(range(0, 14)) + [20, 21, 22, 23],
            [14, 15, 16, 24, 25],
            [17, 18, 19, 26, 27],
        )

    aug = DDPMAugmentor(tiny_cfg())
    out = augment_training_split(x, y, Split, augmentor=aug)
    assert out.result.info["train_images"] == 4  # rows 20..23 only
    assert sorted(out.index[~out.synthetic].tolist()) == sorted(Split.train)


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"image_size": 12}, "image_size"),
        ({"steps": 1}, "steps"),
        ({"schedule": "sqrt"}, "schedule"),
        ({"beta_start": 0.5, "beta_end": 0.1}, "beta_start"),
        ({"train_steps": -1}, "train_steps"),
        ({"rho_target": 0}, "rho_target"),
        ({"ema_decay": 1.0}, "ema_decay"),
    ],
)
def test_ddpm_bad_config(kw, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        DDPMAugmentor(tiny_cfg(**kw))


@pytest.mark.slow
def test_default_ddpm_shapes_one_step():
    x, y = toy(12, 4, size=64)
    res = DDPMAugmentor(DDPMConfig(train_steps=2, steps=20)).augment(x, y)
    assert res.images.shape[1:] == (1, 64, 64)
