import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qsdaqec.augment.distance import (
    compare,
    feature_network,
    fid,
    kid,
    mmd2_unbiased,
)
from qsdaqec.errors import ConfigError, DataError


def blobs(n, seed, size=32):
    """Smooth random images in [0, 1] (one distribution, different draws per seed)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size // 4, size // 4, generator=g)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return torch.sigmoid(2 * x)


def test_mmd2_matches_naive_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.5

    def k(a, b):
        return (float(a @ b) / 3 + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_same_distribution_near_zero_shifted_larger():
    net = feature_network("random-conv", seed=0)
    a, b = blobs(48, 1, 64), blobs(48, 2, 64)
    same, same_std = kid(net(a), net(b))
    noisy = (b + 0.3 * torch.randn(b.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    noised, _ = kid(net(a), net(noisy))
    brighter, _ = kid(net(a), net(b * 0.7 + 0.3))
    assert abs(same) < 3 * same_std + 1e-3
    assert noised > abs(same) + 5 * same_std
    assert brighter > 10 * max(abs(same), same_std)


def test_feature_net_is_fixed_and_labelled():
    a = blobs(4, 0)
    n1, n2 = feature_network("random-conv", seed=0), feature_network("random-conv", seed=0)
    assert torch.equal(n1(a), n2(a))
    assert not torch.equal(n1(a), feature_network("random-conv", seed=1)(a))
    out = compare(blobs(8, 1), blobs(8, 2))
    assert out["feature_net"] == "random-conv(seed=0)"
    assert "not a trained network" in out["feature_net_description"]
    assert "fid_inception" not in out  # FID only with user-supplied Inception weights
    assert set(out) >= {"kid", "kid_std", "n_real", "n_synthetic"}


def test_kid_needs_two_samples():
    with pytest.raises(DataError, match="at least 2"):
        kid(torch.zeros(1, 4), torch.zeros(5, 4))


def test_fid_of_identical_sets_is_zero_and_shift_is_positive():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=g, dtype=torch.float64)
    assert abs(fid(x, x)) < 1e-6
    assert fid(x, x + 1.0) == pytest.approx(8.0, rel=1e-3)


def test_mobilenet_not_in_cache_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match="not in the torch hub cache"):
        feature_network("mobilenet_v2")


def test_inception_needs_a_valid_weights_file(tmp_path):
    with pytest.raises(ConfigError, match="inception_weights"):
        feature_network("inception")
    bad = tmp_path / "w.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError, match="not a torchvision Inception-v3 state dict"):
        feature_network("inception", inception_weights=bad)


def test_unknown_feature_net():
    with pytest.raises(ConfigError, match="feature_net"):
        feature_network("vgg")


@pytest.mark.slow
def test_fid_with_user_supplied_inception_weights(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    out = compare(blobs(6, 1, 64), blobs(6, 2, 64), inception_weights=path)
    assert (
        np.isfinite(out["fid_inception"]) and out["fid_feature_net"] == "inception_v3(user weights)"
    )
    assert "biased" in out["fid_note"]
