import math

import numpy as np
import pytest

from qsdaqec.metrics import classification_metrics, confusion_matrix, format_metrics, roc_curve


def test_known_confusion_matrix():
    y = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.7, 0.4, 0.9, 0.8, 0.3, 0.6, 0.55, 0.2]
    m = classification_metrics(y, p)
    # TN=3 FP=1 FN=2 TP=4
    assert m["confusion_matrix"] == [[3, 1], [2, 4]]
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["sensitivity"] == pytest.approx(4 / 6)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))
    assert m["n"] == 10 and m["n_positive"] == 6
    assert m["warnings"] == []
    from sklearn.metrics import f1_score, roc_auc_score

    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["f1"] == pytest.approx(f1_score(y, np.array(p) >= 0.5))


def test_positive_class_zero():
    # the diagnosis class may be index 0: metrics follow `positive`, not the index order
    y = [0, 0, 1, 1]
    p0 = [0.9, 0.4, 0.2, 0.1]  # probability of class 0
    m = classification_metrics(y, p0, positive=0)
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["sensitivity"] == pytest.approx(0.5)
    assert m["specificity"] == pytest.approx(1.0)
    assert m["auc"] == pytest.approx(1.0)


def test_perfect_and_inverted():
    assert classification_metrics([0, 1], [0.0, 1.0])["auc"] == 1.0
    m = classification_metrics([0, 1], [1.0, 0.0])
    assert m["auc"] == 0.0 and m["accuracy"] == 0.0


def test_one_class_is_nan_not_crash():
    m = classification_metrics([1, 1, 1], [0.9, 0.2, 0.8])
    assert math.isnan(m["auc"]) and math.isnan(m["specificity"])
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert any("one class" in w for w in m["warnings"])
    m = classification_metrics([0, 0], [0.1, 0.2])
    assert math.isnan(m["sensitivity"]) and math.isnan(m["f1"]) and m["specificity"] == 1.0
    line = format_metrics(m)
    assert "nan" not in line and "sens n/a" in line and line.endswith("(n=2, one class)")
    assert format_metrics(classification_metrics([0, 1], [0.2, 0.7])).endswith("(n=2)")
    fpr, tpr = roc_curve([0, 0], [0.1, 0.2])
    assert fpr.size == 0


def test_confusion_matrix_helper_and_errors():
    assert confusion_matrix([0, 1, 1], [1, 1, 0]).tolist() == [[0, 1], [1, 1]]
    with pytest.raises(ValueError):
        classification_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        classification_metrics([], [])


def test_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        y[:2] = [0, 1]
        p = np.round(rng.random(50), 1)  # many ties
        assert classification_metrics(y, p)["auc"] == pytest.approx(roc_auc_score(y, p))


def test_operating_points_are_the_roc_thresholds_they_name():
    from qsdaqec.metrics import operating_points

    y = [0, 0, 1, 1, 1, 0]
    p = [0.1, 0.4, 0.35, 0.8, 0.9, 0.5]
    pts = operating_points(y, p)
    # at 0.8 two of three positives and no negative (Youden 2/3, the best); finding all three
    # positives takes 0.35, where two negatives (0.4, 0.5) count as positive too
    assert pts == {"youden": 0.8, "sens90": 0.35}
    m = classification_metrics(y, p, threshold=pts["sens90"])
    assert m["sensitivity"] == 1.0 and m["specificity"] == pytest.approx(1 / 3)
    # class 0 as the positive one: its probabilities are 1 - p
    flipped = operating_points(y, [1 - v for v in p], positive=0)
    assert set(flipped) == {"youden", "sens90"} and 0 <= flipped["sens90"] <= 1
    assert operating_points([1, 1], [0.2, 0.9]) is None
