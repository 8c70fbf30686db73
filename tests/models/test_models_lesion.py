"""The lesion-aware network: a dilated last stage, the lesion map, lesion pooling."""

import pytest
import torch
from torchvision.models import mobilenet_v2

from qsdaqec.errors import ConfigError
from qsdaqec.models import DenseHead, SDAQECModel, build_model
from qsdaqec.models.lesion import dilate_last_stage, lesion_pool


def test_dilated_last_stage_doubles_the_map_and_keeps_the_weights():
    plain = mobilenet_v2(weights=None).features.eval()
    dilated = dilate_last_stage(mobilenet_v2(weights=None).features).eval()
    assert plain.state_dict().keys() == dilated.state_dict().keys()
    x = torch.rand(1, 3, 128, 128)
    assert plain(x).shape[-2:] == (4, 4) and dilated(x).shape[-2:] == (8, 8)


def test_lesion_pool_follows_the_lesion_map():
    deep = torch.zeros(2, 3, 4, 4)
    deep[:, 0, 1, 2] = 5.0  # a feature only at one cell
    logits = torch.full((2, 1, 4, 4), -10.0)
    logits[1] = 0.0
    logits[0, 0, 1, 2] = 10.0  # image 0: the coarse map points at that cell
    pooled = lesion_pool(deep, logits)
    assert pooled[0, 0] == pytest.approx(5.0, abs=1e-3)  # all weight on the lesion cell
    assert pooled[1, 0] == pytest.approx(5.0 / 16)  # a flat map: the average pool


def test_sdaqec_model_with_lesion_map():
    model, _, _ = build_model(
        "sdaqec", head=DenseHead(), output_stride=16, pooling="lesion", lesion_map=True
    )
    model.eval()
    x = torch.rand(3, 1, 64, 64)
    z, lesion = model.features_and_map(x)
    assert z.shape == (3, 256) and lesion.fine.shape == (3, 1, 8, 8)
    assert lesion.coarse.shape == (3, 1, 4, 4)  # the stride-16 map's grid
    logits, lesion2 = model.forward_with_map(x)
    assert logits.shape == (3, 2) and torch.allclose(lesion.fine, lesion2.fine)
    assert torch.allclose(model(x), logits)
    assert torch.allclose(model.lesion_logits(x), lesion.fine)
    # the lesion map is frozen with the features in stage 2
    assert model.lesion in model.feature_modules()


def test_the_papers_model_has_no_lesion_map():
    model, _, _ = build_model("sdaqec", head=DenseHead())
    assert model.lesion is None and model.features_and_map(torch.rand(2, 1, 64, 64))[1] is None
    with pytest.raises(ConfigError, match="no lesion map"):
        model.lesion_logits(torch.rand(2, 1, 64, 64))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"output_stride": 8}, "output stride 8"),
        ({"pooling": "max"}, "unknown pooling"),
        ({"pooling": "lesion"}, "needs the lesion map"),
    ],
)
def test_bad_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        SDAQECModel(DenseHead(), **kw)
