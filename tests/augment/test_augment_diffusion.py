import math
import warnings

import numpy as np
import pytest
import torch

from qsdaqec.augment import (
    DiffusionConfig,
    LowSNRWarning,
    SimpleDiffusionAugmentor,
    alpha_bars,
    augment_training_split,
    linear_beta_schedule,
    measured_snr_db,
    regenerate,
    snr_db,
)
from qsdaqec.augment.diffusion import n_to_generate
from qsdaqec.errors import ConfigError, DataError


def toy(n_major=20, n_minor=6, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_major + n_minor, 1, size, size, generator=g)
    y = torch.tensor([0] * n_major + [1] * n_minor)
    return x, y


# ----------------------------------------------------------------- schedule


def test_linear_schedule_and_alpha_bar_values():
    betas = linear_beta_schedule(5, 1e-4, 0.02)
    assert torch.allclose(
        betas, torch.tensor([1e-4, 0.005075, 0.01005, 0.015025, 0.02], dtype=torch.float64)
    )
    ab = alpha_bars(betas)
    expected = np.cumprod(1 - np.array([1e-4, 0.005075, 0.01005, 0.015025, 0.02]))
    assert np.allclose(ab.numpy(), expected)
    assert ab[0] == pytest.approx(0.9999)
    assert ab[-1] == pytest.approx(0.950630, abs=1e-6)
    assert torch.all(ab[1:] < ab[:-1])


def test_single_step_uses_beta_end():
    assert linear_beta_schedule(1, 1e-4, 0.02).tolist() == [0.02]


def test_snr_formula():
    assert snr_db(0.5) == pytest.approx(0.0)
    assert snr_db(0.9) == pytest.approx(10 * math.log10(9))
    # measured SNR of unit-variance signal with unit noise equals the nominal one
    x = torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / x.std(
        dim=(1, 2, 3), keepdim=True, unbiased=False
    )
    assert measured_snr_db(x, 0.9) == pytest.approx(snr_db(0.9), abs=1e-6)


# ----------------------------------------------------------------- core behaviour


def test_ratio_reached_exactly():
    x, y = toy(20, 6)
    res = SimpleDiffusionAugmentor(DiffusionConfig(rho_target=0.7)).augment(x, y)
    assert res.generated == 8  # ceil(0.7 * 20) - 6
    assert res.counts_after == {0: 20, 1: 14}
    assert res.ratio_after == pytest.approx(0.7)
    assert res.ratio_after >= 0.7
    # originals first and unchanged
    assert torch.equal(res.images[:26], x) and torch.equal(res.labels[:26], y)
    assert res.synthetic.sum() == 8 and torch.all(res.labels[res.synthetic] == 1)
    # sources are minority rows, round robin
    assert res.source_index[res.synthetic].tolist() == [20, 21, 22, 23, 24, 25, 20, 21]
    assert res.minority == 1 and res.majority == 0


@pytest.mark.parametrize(
    "n_maj,n_min,rho", [(100, 10, 0.7), (7, 1, 0.33), (320, 80, 0.5), (10, 3, 1.0)]
)
def test_ratio_smallest_count_that_reaches_target(n_maj, n_min, rho):
    k = n_to_generate(n_min, n_maj, rho)
    assert (n_min + k) / n_maj >= rho - 1e-12
    assert k == 0 or (n_min + k - 1) / n_maj < rho


def test_float_safe_ratio():
    # 0.7 * 100 = 70.00000000000001 in floating point: must still be 70, not 71
    assert n_to_generate(10, 100, 0.7) == 60


def test_deterministic_under_seed_and_seed_changes_output():
    x, y = toy()
    a = SimpleDiffusionAugmentor(DiffusionConfig(seed=3)).augment(x, y)
    b = SimpleDiffusionAugmentor(DiffusionConfig(seed=3)).augment(x, y)
    c = SimpleDiffusionAugmentor(DiffusionConfig(seed=4)).augment(x, y)
    assert torch.equal(a.images, b.images) and torch.equal(a.t, b.t) and torch.equal(a.seed, b.seed)
    assert not torch.equal(a.images, c.images)


def test_each_synthetic_regenerates_from_its_provenance():
    x, y = toy()
    cfg = DiffusionConfig(seed=11, source_order="random")
    res = SimpleDiffusionAugmentor(cfg).augment(x, y)
    for j in torch.nonzero(res.synthetic).flatten().tolist():
        again = regenerate(x, int(res.source_index[j]), int(res.t[j]), int(res.seed[j]), cfg)
        assert torch.allclose(again, res.images[j], atol=1e-6)


def test_random_t_covers_range_and_fixed_t():
    x, y = toy(200, 2)
    res = SimpleDiffusionAugmentor(DiffusionConfig(seed=0)).augment(x, y)
    ts = set(res.t[res.synthetic].tolist())
    assert ts == {1, 2, 3, 4, 5}
    res = SimpleDiffusionAugmentor(DiffusionConfig(t=3)).augment(x, y)
    assert set(res.t[res.synthetic].tolist()) == {3}
    assert set(res.t[~res.synthetic].tolist()) == {0}


def test_value_range_unit_and_symmetric_with_clamping():
    x, y = toy(20, 6)
    x[20:] = 1.0  # saturated minority: noise pushes beyond the range, must be clamped
    cfg = DiffusionConfig(beta_end=0.3, t=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowSNRWarning)
        r01 = SimpleDiffusionAugmentor(cfg).augment(x, y)
        cfg_sym = DiffusionConfig(beta_end=0.3, t=5, value_range="-1,1")
        r11 = SimpleDiffusionAugmentor(cfg_sym).augment(x * 2 - 1, y)
    syn01 = r01.images[r01.synthetic]
    syn11 = r11.images[r11.synthetic]
    assert syn01.min() >= 0 and syn01.max() <= 1
    assert syn11.min() >= -1 and syn11.max() <= 1
    assert (syn01 == 1.0).any() and (syn11 == 1.0).any()
    # same diffusion, only the range differs: the [-1,1] result is the affine image of [0,1]
    assert torch.allclose(syn11, syn01 * 2 - 1, atol=1e-5)
    assert r01.snr["clamped_fraction"] > 0


def test_output_stays_close_to_source_at_small_t():
    x, y = toy(20, 6)
    res = SimpleDiffusionAugmentor(DiffusionConfig(t=1)).augment(x, y)
    syn = res.images[res.synthetic]
    src = x[res.source_index[res.synthetic]]
    # alpha_bar_1 = 0.9999: noise std in [0,1] units is 0.5 * sqrt(1e-4) = 0.005
    assert (syn - src).abs().mean() < 0.02


def test_images_outside_declared_range_are_rejected():
    x, y = toy()
    with pytest.raises(DataError, match="value_range"):
        SimpleDiffusionAugmentor().augment(x * 255, y)
    with pytest.raises(DataError, match="value_range"):
        SimpleDiffusionAugmentor().augment(x * 2 - 1, y)


# ----------------------------------------------------------------- edge cases


def test_ratio_already_met_generates_nothing_and_says_so():
    x, y = toy(10, 8)
    res = SimpleDiffusionAugmentor(DiffusionConfig(rho_target=0.7)).augment(x, y)
    assert res.generated == 0
    assert "already" in res.reason and "nothing generated" in res.reason
    assert torch.equal(res.images, x) and not res.synthetic.any()


def test_minority_with_zero_images_is_a_data_error():
    x, y = toy(10, 0)
    with pytest.raises(DataError, match="minority class 1 has 0 images"):
        SimpleDiffusionAugmentor().augment(x, y, minority=1)
    with pytest.raises(DataError, match="only one class"):
        SimpleDiffusionAugmentor().augment(x, y)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"steps": 0}, "steps"),
        ({"beta_start": 0.0}, "beta_start"),
        ({"beta_end": 1.0}, "beta_end"),
        ({"beta_end": -0.1}, "beta_end"),
        ({"beta_start": 0.05, "beta_end": 0.02}, "beta_start"),
        ({"rho_target": 0.0}, "rho_target"),
        ({"rho_target": -1.0}, "rho_target"),
        ({"t": 6}, "t"),
        ({"t": "sometimes"}, "t"),
        ({"source_order": "zigzag"}, "source_order"),
        ({"value_range": "0,255"}, "value_range"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        SimpleDiffusionAugmentor(DiffusionConfig(**kwargs))


def test_high_beta_end_warns_with_measured_snr():
    x, y = toy()
    with pytest.warns(LowSNRWarning, match=r"measured SNR at t=5 is -?\d+\.\d dB"):
        res = SimpleDiffusionAugmentor(DiffusionConfig(beta_end=0.5, t=5)).augment(x, y)
    assert res.warnings and "mostly noise" in res.warnings[0]
    assert res.snr["worst_measured_db"] < 0


def test_default_schedule_does_not_warn():
    x, y = toy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", LowSNRWarning)
        res = SimpleDiffusionAugmentor().augment(x, y)
    assert res.warnings == []
    assert res.snr["nominal_db"][-1] == pytest.approx(12.845, abs=1e-3)


# ----------------------------------------------------------------- training split only


class FakeSplit:
    def __init__(self, train, val, test):
        self.train, self.val, self.test = (np.asarray(a) for a in (train, val, test))


def test_only_train_rows_are_augmented_and_nothing_leaks():
    x, y = toy(40, 12, seed=1)
    ids = [f"img_{i:03d}" for i in range(len(y))]
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(y))
    split = FakeSplit(np.sort(perm[:30]), np.sort(perm[30:41]), np.sort(perm[41:]))
    before = x.clone()
    out = augment_training_split(x, y, split, DiffusionConfig(rho_target=1.0))
    # the inputs, in particular val/test rows, are not modified
    assert torch.equal(x, before)
    held = set(split.val.tolist()) | set(split.test.tolist())
    # originals in the augmented train set are exactly the train rows
    assert sorted(out.index[~out.synthetic].tolist()) == sorted(split.train.tolist())
    # no synthetic image's source is a val/test row, and no held-out id appears in provenance
    assert set(out.source_index[out.synthetic].tolist()) <= set(split.train.tolist())
    prov = out.provenance(ids)
    held_ids = {ids[i] for i in held}
    assert not {p["source_id"] for p in prov} & held_ids
    # no synthetic image equals (or is a noisy copy of) a val/test image more than of its source
    for j in torch.nonzero(out.synthetic).flatten().tolist():
        src = int(out.source_index[j])
        d_src = (out.images[j] - x[src]).abs().mean()
        d_held = min((out.images[j] - x[i]).abs().mean() for i in held)
        assert d_src < d_held
    # ratio computed on the training split only
    tr_labels = y[torch.as_tensor(split.train)]
    n_maj = int((tr_labels == 0).sum())
    assert int((out.labels == 1).sum()) == math.ceil(n_maj * 1.0)


def test_overlapping_split_is_rejected():
    x, y = toy()
    with pytest.raises(DataError, match="both train and val"):
        augment_training_split(x, y, FakeSplit([0, 1, 20, 21], [1], [2]))
