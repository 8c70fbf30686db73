"""The built-in data's class lies in the lesions, not in the image as a whole.

Generator version 5 dimmed every vessel beyond a severe lesion; image-wide statistics alone
(no lesion geometry) then told the classes apart with AUC 0.85, and the model learned that.
Here a logistic regression on a small set of image-wide statistics (intensity percentiles,
dark-pixel fractions, the radial power spectrum, vesselness energy and area) must stay at
cross-validated AUC <= 0.60 on the built-in data set, and the same check must catch version
5's fading when it is put back (so the check can fail).
"""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from qsdaqec.data import synth
from qsdaqec.data.synth import SynthConfig, synthesize

BANDS = ((1, 3), (3, 6), (6, 12), (12, 24), (24, 48), (48, 64))


def image_statistics(img: np.ndarray) -> np.ndarray:
    """Statistics of the whole image: nothing here knows where a lesion is."""
    x = img.astype(np.float64) / 255.0
    out = [x.mean(), x.std(), *np.percentile(x, [1, 5, 10, 25, 50, 75, 90, 95, 99])]
    out += [(x < t).mean() for t in (0.1, 0.2, 0.3, 0.4)]
    power = np.abs(np.fft.fftshift(np.fft.fft2(x - x.mean()))) ** 2
    n = x.shape[0]
    yy, xx = np.indices(power.shape)
    r = np.hypot(yy - n / 2, xx - n / 2)
    out += [np.log(power[(r >= a) & (r < b)].mean() + 1e-12) for a, b in BANDS]
    for s in (1.0, 2.0, 3.0):  # Sato-style tubeness of dark ridges: energy and area
        hrr = ndimage.gaussian_filter(x, s, order=(2, 0))
        hcc = ndimage.gaussian_filter(x, s, order=(0, 2))
        hrc = ndimage.gaussian_filter(x, s, order=(1, 1))
        lam = 0.5 * (hrr + hcc) + np.sqrt(0.25 * (hrr - hcc) ** 2 + hrc**2)
        tube = s * s * np.clip(lam, 0, None)
        out += [tube.mean(), (tube > 0.02).mean()]
    return np.asarray(out)


def statistics_auc(cfg: SynthConfig) -> float:
    labels = synth._labels(cfg)
    feats = np.stack(
        [image_statistics(synthesize(cfg, i, bool(labels[i]))[0]) for i in range(cfg.n)]
    )
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(clf, feats, labels, cv=folds, scoring="roc_auc").mean())


def test_image_wide_statistics_do_not_separate_the_builtin_classes():
    auc = statistics_auc(SynthConfig())  # the built-in data set itself
    assert auc <= 0.60, f"image-wide statistics separate the classes: CV AUC {auc:.3f}"


def test_the_check_catches_version_5s_distal_fading(monkeypatch):
    def faded(cfg, index, branches, stenoses):  # every lesion dims what lies beyond it
        return [{**s, "drop": 0.8} for s in stenoses]

    monkeypatch.setattr(synth, "_slow_flow_sites", faded)
    auc = statistics_auc(SynthConfig(n=400))
    assert auc > 0.75, f"the check missed an image-wide class cue: CV AUC {auc:.3f}"


@pytest.mark.parametrize("positive", [False, True])
def test_slow_flow_is_drawn_alike_for_both_classes(positive):
    """Normal images dim beyond a vessel site as often as stenosis images beyond a lesion."""
    cfg = SynthConfig(n=400)
    share = np.mean([bool(synthesize(cfg, i, positive)[1]["slow_flow"]) for i in range(300)])
    expected = 1 - np.mean([(1 - cfg.slow_flow_prob) ** k for k in (1, 2)])  # 1-2 sites
    assert abs(share - expected) < 0.06
