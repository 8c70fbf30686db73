import hashlib

import numpy as np
import pytest
import torch
from torchvision.models import Weights, WeightsEnum, mobilenet_v2, resnet18

from qsdaqec.errors import ConfigError
from qsdaqec.models import (
    NOT_CACHED_MESSAGE,
    DenseHead,
    SDAQECModel,
    build_model,
    cached_weights_path,
)
from qsdaqec.models import weights as weights_mod


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


def _hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def _serve(monkeypatch, url):
    """torchvision's ImageNet weights of every network at ``url`` (no network in tests: a
    file:// URL, or a name already in the hub cache)."""

    class Served(WeightsEnum):
        V1 = Weights(url=url, transforms=None, meta={})

    monkeypatch.setattr(weights_mod, "_weights_enum", lambda arch: Served.V1)


def _ref_state(seed=1):
    torch.manual_seed(seed)
    return mobilenet_v2(weights=None).state_dict()


def test_auto_offline_trains_from_scratch_with_one_notice(tmp_path, monkeypatch):
    _hub(tmp_path, monkeypatch)
    model, used, msg = build_model("sdaqec", head=DenseHead(), weights="auto")
    assert used == "none" and msg == NOT_CACHED_MESSAGE and not model.prep.normalize
    with pytest.raises(ConfigError, match="--weights imagenet: not in .* cannot be reached"):
        build_model("sdaqec", head=DenseHead(), weights="imagenet")


def test_imagenet_from_the_cache_with_its_hash_checked(tmp_path, monkeypatch):
    _hub(tmp_path, monkeypatch)
    ref = _ref_state()
    path = cached_weights_path("mobilenet_v2")
    assert path.parent == tmp_path / "hub" / "checkpoints" and path.name.endswith(".pth")
    path.parent.mkdir(parents=True)
    torch.save(ref, path)  # its SHA-256 does not match the hash in torchvision's file name
    with pytest.raises(ConfigError, match="hash mismatch.*delete it"):
        build_model("sdaqec", head=DenseHead(), weights="auto")
    good = path.with_name("mobilenet_v2-x.pth")  # a name without a hash is not checked
    path.rename(good)
    _serve(monkeypatch, f"https://example.org/{good.name}")  # in the cache: not downloaded
    model, used, msg = build_model("sdaqec", head=DenseHead(), weights="imagenet")
    assert used == "imagenet" and msg is None and model.prep.normalize
    assert torch.equal(model.backbone[0][0].weight, ref["features.0.0.weight"])
    base, used, _ = build_model("mobilenet_v2", weights="imagenet")
    assert used == "imagenet"
    assert torch.equal(base.body[0][0][0].weight, ref["features.0.0.weight"])


def test_imagenet_download_through_the_weights_url(tmp_path, monkeypatch):
    """No network: the 'download' reads a file:// URL whose name carries the file's hash."""
    _hub(tmp_path, monkeypatch)
    monkeypatch.delenv(weights_mod.OFFLINE_ENV, raising=False)
    ref = _ref_state(seed=2)
    src = tmp_path / "served" / "tmp.pth"
    src.parent.mkdir()
    torch.save(ref, src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    served = src.rename(src.with_name(f"mobilenet_v2-{digest}.pth"))
    _serve(monkeypatch, served.as_uri())
    model, used, msg = build_model("sdaqec", head=DenseHead(), weights="auto")
    assert used == "imagenet" and msg is None
    assert torch.equal(model.backbone[0][0].weight, ref["features.0.0.weight"])
    assert (tmp_path / "hub" / "checkpoints" / served.name).is_file()  # cached for next time


def test_a_download_whose_hash_differs_from_its_name_is_refused(tmp_path, monkeypatch, capsys):
    _hub(tmp_path, monkeypatch)
    monkeypatch.delenv(weights_mod.OFFLINE_ENV, raising=False)
    served = tmp_path / "served" / "mobilenet_v2-00000000.pth"  # not its SHA-256
    served.parent.mkdir()
    torch.save(_ref_state(), served)
    _serve(monkeypatch, served.as_uri())
    with pytest.raises(ConfigError, match="download of the ImageNet weights failed.*hash"):
        build_model("sdaqec", head=DenseHead(), weights="auto")
    assert not (tmp_path / "hub" / "checkpoints" / served.name).exists()  # nothing kept
    assert capsys.readouterr().out == ""  # torch.hub's 'Downloading' line goes to stderr


def test_user_weights_from_a_file_or_a_run(tmp_path, monkeypatch):
    _hub(tmp_path, monkeypatch)
    ref = _ref_state(seed=3)
    tv = tmp_path / "mine.pt"
    torch.save(ref, tv)  # torchvision's layout
    model, used, _ = build_model("sdaqec", head=DenseHead(), weights=str(tv))
    assert used == str(tv) and model.prep.normalize
    assert torch.equal(model.backbone[0][0].weight, ref["features.0.0.weight"])
    run = tmp_path / "run"  # a previous run: its model.pt, backbone and projection reused
    run.mkdir()
    torch.save({"model": model.state_dict()}, run / "model.pt")
    (run / "run.json").write_text('{"status": "finished", "weights": {"normalize": false}}')
    again, used, _ = build_model("sdaqec", head=DenseHead(), weights=str(run))
    assert used == str(run / "model.pt") and not again.prep.normalize
    assert torch.equal(again.proj[0].weight, model.proj[0].weight)
    assert not torch.equal(again.head.linear.weight, model.head.linear.weight)  # head is new


def test_weights_that_do_not_fit_are_one_clear_error(tmp_path, monkeypatch):
    _hub(tmp_path, monkeypatch)
    torch.manual_seed(0)
    r18 = tmp_path / "r18.pt"
    torch.save(resnet18(weights=None).state_dict(), r18)
    with pytest.raises(ConfigError, match="r18.pt: does not fit this network's backbone"):
        build_model("sdaqec", head=DenseHead(), weights=str(r18))
    with pytest.raises(ConfigError, match="r18.pt: does not fit mobilenet_v2"):
        build_model("mobilenet_v2", weights=str(r18))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="junk.pt: weights file is unreadable"):
        build_model("sdaqec", head=DenseHead(), weights=str(junk))
    (tmp_path / "notrun").mkdir()
    with pytest.raises(ConfigError, match="notrun: not a finished run directory"):
        build_model("sdaqec", head=DenseHead(), weights=str(tmp_path / "notrun"))
    with pytest.raises(ConfigError, match="no such file or run directory"):
        build_model("sdaqec", head=DenseHead(), weights=str(tmp_path / "missing.pt"))


def test_vessel_input_channels():
    """Gray plus Sato maps: a dark tube lights up in the vessel channels, the background not;
    on noise it tracks scikit-image's sato() (black_ridges; its Gaussian derivatives are
    sampled differently, so the maps agree closely, not exactly)."""
    from qsdaqec.models import InputChannels, sato

    x = torch.full((1, 1, 64, 64), 0.8)
    x[..., 30:34] = 0.2  # a dark vertical vessel 4 px wide
    out = InputChannels("vessel")(x)
    assert out.shape == (1, 3, 64, 64) and torch.equal(out[:, :1], x)
    centre, background = out[0, 1:, 20:44, 31:33].mean(), out[0, 1:, 20:44, 5:10].mean()
    assert centre > 0.1 and background < 1e-3
    skimage = pytest.importorskip("skimage.filters")
    img = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    ours = sato(img, (1.0, 2.0))[0, 0].numpy()
    ref = skimage.sato(img[0, 0].numpy().astype("float64"), sigmas=(1.0, 2.0), black_ridges=True)
    inner = (slice(10, -10), slice(10, -10))
    assert np.corrcoef(ours[inner].ravel(), ref[inner].ravel())[0, 1] > 0.97
    assert abs(ours[inner].mean() / ref[inner].mean() - 1) < 0.1
    dense = InputChannels("gray")(x)
    assert torch.equal(dense, x.expand(-1, 3, -1, -1))
