import numpy as np
import pytest
import torch

from qsdaqec.data import class_counts, describe, imbalance_ratio, load_dataset, stratified_split
from qsdaqec.errors import ConfigError, DataError


def test_split_is_stratified_disjoint_and_complete():
    labels = np.array([0] * 80 + [1] * 20)
    s = stratified_split(labels, 0.15, 0.15, seed=1)
    allidx = np.concatenate([s.train, s.val, s.test])
    assert sorted(allidx.tolist()) == list(range(100))
    assert s.sizes() == {"train": 70, "val": 15, "test": 15}
    for part in (s.train, s.val, s.test):
        assert set(labels[part]) == {0, 1}
    assert class_counts(labels[s.val]).tolist() == [12, 3]
    assert class_counts(labels[s.test]).tolist() == [12, 3]


def test_split_is_deterministic_and_seeded():
    labels = torch.tensor([0] * 30 + [1] * 10)
    a = stratified_split(labels, seed=5)
    b = stratified_split(labels, seed=5)
    c = stratified_split(labels, seed=6)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)


def test_every_class_in_every_split_when_possible():
    labels = np.array([0] * 50 + [1] * 3)
    s = stratified_split(labels, 0.1, 0.1)
    for part in (s.train, s.val, s.test):
        assert 1 in labels[part]


def test_too_small_class_is_a_clear_error():
    with pytest.raises(DataError, match="class 1 has only 2 sample"):
        stratified_split(np.array([0] * 20 + [1] * 2), 0.15, 0.15)
    # without a val split two samples are enough
    s = stratified_split(np.array([0] * 20 + [1] * 2), 0.0, 0.2)
    assert len(s.val) == 0 and 1 in np.array([0] * 20 + [1] * 2)[s.test]


@pytest.mark.parametrize("val,test", [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)])
def test_bad_fractions(val, test):
    with pytest.raises(ConfigError):
        stratified_split(np.array([0, 1] * 10), val, test)


def test_counts_and_imbalance():
    labels = np.array([0, 0, 0, 0, 1])
    assert class_counts(labels).tolist() == [4, 1]
    assert class_counts(labels, 3).tolist() == [4, 1, 0]
    assert imbalance_ratio(class_counts(labels)) == pytest.approx(0.25)
    assert imbalance_ratio([5, 5]) == 1.0


def test_describe(folder):
    data = load_dataset(folder)
    text = describe(data, stratified_split(data.labels, 0.25, 0.25))
    assert "normal" in text and "stenosis" in text and "(positive)" in text
    assert "imbalance ratio (minority/majority): 0.500" in text
    assert "train 6 (4/2)" in text
