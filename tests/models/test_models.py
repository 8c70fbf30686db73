import pytest
import torch

from qsdaqec.errors import ConfigError
from qsdaqec.models import (
    NOT_CACHED_MESSAGE,
    DenseHead,
    SDAQECModel,
    build_model,
    cached_weights_path,
)


def test_sdaqec_classical_shapes():
    torch.manual_seed(0)
    model, used, msg = build_model("sdaqec", head=DenseHead(), weights="none")
    assert isinstance(model, SDAQECModel) and isinstance(model.head, DenseHead)
    assert used == "none" and msg is None
    x = torch.rand(3, 1, 32, 32)
    model.eval()
    f = model.features(x)
    assert f.shape == (3, 256) and (f >= 0).all()  # after ReLU
    assert model(x).shape == (3, 2)
    assert torch.allclose(model.head(f), model(x))


@pytest.mark.parametrize(
    "arch,dim", [("resnet18", 512), ("mobilenet_v2", 1280), ("densenet121", 1024)]
)
def test_baselines(arch, dim):
    model, used, _ = build_model(arch, weights="none")
    model.eval()
    x = torch.rand(2, 1, 32, 32)
    assert model.features(x).shape == (2, dim)
    assert model(x).shape == (2, 2)
    assert model.feature_dim == dim


@pytest.mark.slow
def test_vgg16_baseline():
    model, _, _ = build_model("vgg16", weights="none")
    assert model.eval()(torch.rand(2, 1, 32, 32)).shape == (2, 2)


def test_bad_names():
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("alexnet")
    with pytest.raises(ConfigError, match="needs its head"):
        build_model("sdaqec")
    with pytest.raises(ConfigError, match="weights"):
        build_model("sdaqec", head=DenseHead(), weights="coco")


def test_imagenet_weights_only_from_local_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    # not cached: from scratch, said clearly, recorded as none
    model, used, msg = build_model("sdaqec", head=DenseHead(), weights="imagenet")
    assert used == "none" and msg == NOT_CACHED_MESSAGE and not model.prep.normalize
    # cached: loaded from the file torchvision would have downloaded, ImageNet normalisation on
    from torchvision.models import mobilenet_v2

    torch.manual_seed(1)
    ref = mobilenet_v2(weights=None)
    path = cached_weights_path("mobilenet_v2")
    assert path.parent == tmp_path / "checkpoints" and path.name.endswith(".pth")
    path.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), path)
    model, used, msg = build_model("sdaqec", head=DenseHead(), weights="imagenet")
    assert used == "imagenet" and msg is None and model.prep.normalize
    assert torch.equal(model.backbone[0][0].weight, ref.features[0][0].weight)
    base, used, _ = build_model("mobilenet_v2", weights="imagenet")
    assert used == "imagenet"
    assert torch.equal(base.body[0][0][0].weight, ref.features[0][0].weight)
