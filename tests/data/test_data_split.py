import numpy as np
import pytest
import torch

from qsdaqec.data import (
    class_counts,
    describe,
    grouped_split,
    imbalance_ratio,
    load_dataset,
    stratified_split,
)
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
    with pytest.raises(DataError, match="class 1 has only 2 image"):
        stratified_split(np.array([0] * 20 + [1] * 2), 0.15, 0.15)
    with pytest.raises(DataError, match="class 'stenosis' has only 2 image"):
        stratified_split(np.array([0] * 20 + [1] * 2), classes=["normal", "stenosis"])
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


# --- grouped_split: whole groups (patients) per part ------------------------------------------


def _patients(n_pos: int, n_neg: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Frames of patients of uneven size: a positive patient has some stenosis frames and some
    normal ones (as a lesion video's neighbours are), a negative one only normal frames."""
    rng = np.random.default_rng(seed)
    labels: list[int] = []
    groups: list[str] = []
    for p in range(n_pos + n_neg):
        k = int(rng.integers(3, 15))
        pos = p < n_pos
        labels += [int(pos and rng.random() < 0.6) for _ in range(k - 1)] + [int(pos)]
        groups += [f"p{p}"] * k
    return np.array(labels), groups


def test_grouped_split_keeps_groups_whole_and_covers_everything():
    labels, groups = _patients(30, 50)
    s = grouped_split(labels, groups, 0.15, 0.15, seed=2)
    allidx = np.concatenate([s.train, s.val, s.test])
    assert sorted(allidx.tolist()) == list(range(len(labels)))
    where = {}
    for part in ("train", "val", "test"):
        for i in getattr(s, part):
            assert where.setdefault(groups[i], part) == part, f"{groups[i]} straddles parts"
    for part in (s.train, s.val, s.test):
        assert set(labels[part]) == {0, 1}


def test_grouped_split_respects_fractions_roughly():
    labels, groups = _patients(60, 100, seed=1)
    s = grouped_split(labels, groups, 0.2, 0.1, seed=0)
    n = len(labels)
    assert abs(len(s.val) / n - 0.2) < 0.05 and abs(len(s.test) / n - 0.1) < 0.05
    pos_groups = {g for g, y in zip(groups, labels, strict=True) if y == 1}
    val_pos = {groups[i] for i in s.val} & pos_groups
    assert abs(len(val_pos) / len(pos_groups) - 0.2) < 0.1  # stratified by group


def test_grouped_split_is_deterministic_and_seeded():
    labels, groups = _patients(20, 30)
    a, b = grouped_split(labels, groups, seed=4), grouped_split(labels, groups, seed=4)
    c = grouped_split(labels, groups, seed=5)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)


def test_grouped_split_ungrouped_images_are_groups_of_their_own():
    labels = np.array([0] * 20 + [1] * 8)
    s = grouped_split(labels, [None] * 28, 0.25, 0.25, seed=0)
    assert s.sizes() == {"train": 14, "val": 7, "test": 7}
    assert class_counts(labels[s.val]).tolist() == [5, 2]


def test_grouped_split_too_few_groups_is_a_clear_error():
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    groups = ["a", "b", "c", "c", "d", "d", "e", "e"]
    with pytest.raises(DataError, match=r"class 1 has only 2 group\(s\); need at least 3"):
        grouped_split(labels, groups, 0.15, 0.15)
    with pytest.raises(DataError, match=r"class 'stenosis' has only 2 group\(s\)"):
        grouped_split(labels, groups, classes=["normal", "stenosis"])
    s = grouped_split(labels, groups, 0.0, 0.3)  # without val, two positive patients suffice
    assert len(s.val) == 0 and 1 in labels[s.test] and 1 in labels[s.train]
    with pytest.raises(DataError, match="one group per image"):
        grouped_split(labels, groups[:-1])
    with pytest.raises(ConfigError):
        grouped_split(labels, groups, 0.6, 0.6)
