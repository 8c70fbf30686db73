import torch

from qsdaqec.augment import DiffusionConfig, SimpleDiffusionAugmentor
from qsdaqec.augment.noise_match import NoiseMatch


def _matcher(p: float = 0.5) -> NoiseMatch:
    return NoiseMatch(SimpleDiffusionAugmentor(DiffusionConfig()), majority=0, probability=p)


def test_probability_is_the_synthetic_share_of_the_minority():
    labels = torch.tensor([0] * 10 + [1] * 3 + [1] * 5)
    synthetic = torch.tensor([False] * 13 + [True] * 5)
    m = NoiseMatch.for_training_set(SimpleDiffusionAugmentor(), labels, synthetic)
    assert m.majority == 0 and abs(m.probability - 5 / 8) < 1e-12
    assert (
        NoiseMatch.for_training_set(SimpleDiffusionAugmentor(), labels, synthetic & False) is None
    )


def test_only_majority_rows_are_noised_at_the_expected_rate():
    torch.manual_seed(0)
    x = torch.rand(4000, 1, 8, 8) * 0.5 + 0.25
    y = torch.tensor([0, 1] * 2000)
    out = _matcher(0.3)(x, y, torch.Generator().manual_seed(1))
    changed = (out != x).flatten(1).any(1)
    assert not changed[y == 1].any()
    rate = changed[y == 0].float().mean().item()
    assert abs(rate - 0.3) < 0.03
    assert out.min() >= 0 and out.max() <= 1 and out.dtype == x.dtype
    # the noise has the schedule's size: 1 - alpha_bar_T = 0.0494 at most, in [-1, 1] space
    d = (out - x)[changed].std().item() * 2
    assert 0.02 < d < 0.25


def test_deterministic_under_the_generator_and_input_untouched():
    x = torch.rand(16, 1, 8, 8)
    y = torch.zeros(16, dtype=torch.int64)
    x0 = x.clone()
    a = _matcher()(x, y, torch.Generator().manual_seed(3))
    b = _matcher()(x, y, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(x, x0) and not torch.equal(a, x)
