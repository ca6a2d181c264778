"""Backbone pre-training tags (the UDP CSPNeXt files of the RTMPose / DWPose configs, ImageNet HRNet-W32 of SDPose-B):
tag -> official URL and sha256 prefix, backbone-only and partial loads, and one-line errors offline. Nothing is
downloaded: files are written into a temporary cache and the network is cut off."""
from __future__ import annotations

import dataclasses
import hashlib
import urllib.error
import urllib.request
import warnings

import pytest
import torch

from kdpose.tasks import build_model
from kdpose.engine.config import ModelCfg
from kdpose.errors import CheckpointError
from kdpose.models import PRETRAINED, create_model, load_model, load_weights
from kdpose.models.weights import load_partial
from kdpose.models.backbones.hrnet import HRNet

MMPOSE = "https://download.openmmlab.com/mmpose/"
RTM = MMPOSE + "v1/projects/rtmpose/"
BACKBONE_TAGS = {
    "cspnext-t.udp-aic-coco": (RTM + "cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth",
                               "cbed682d", "cspnext-t-udp", (192, 256), "backbone"),
    "cspnext-s.udp-aic-coco": (RTM + "cspnext-s_udp-aic-coco_210e-256x192-92f5a029_20230130.pth",
                               "92f5a029", "cspnext-s-udp", (192, 256), "backbone"),
    "cspnext-m.udp-aic-coco": (RTM + "cspnext-m_udp-aic-coco_210e-256x192-f2f7d6f6_20230130.pth",
                               "f2f7d6f6", "cspnext-m-udp", (192, 256), "backbone"),
    "cspnext-l.udp-aic-coco": (RTM + "cspnext-l_udp-aic-coco_210e-256x192-273b7631_20230130.pth",
                               "273b7631", "cspnext-l-udp", (192, 256), "backbone"),
    "cspnext-x.udp-body7": (MMPOSE + "v1/projects/rtmposev1/cspnext-x_udp-body7_210e-384x288-d28b58e6_20230529.pth",
                            "d28b58e6", "cspnext-x-udp", (288, 384), "backbone"),
    "hrnet-w32.imagenet": (MMPOSE + "pretrain_models/hrnet_w32-36af842e.pth", "36af842e", "hrnet-w32", (192, 256),
                           "backbone-partial"),
}


@pytest.fixture()
def no_network(monkeypatch, tmp_path):
    """An empty cache and no network: any download attempt fails like an unreachable host."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("KDPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KDPOSE_OFFLINE", raising=False)
    return tmp_path / "cache"


def _cache_file(cache, tag: str, obj, monkeypatch) -> None:
    """Write ``obj`` into the cache under the tag's official file name and let the tag accept its digest (the real
    file's digest starts with the registered prefix; this stand-in's does not)."""
    cfg = PRETRAINED[tag]
    path = cache / cfg.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(PRETRAINED, tag, dataclasses.replace(cfg, sha256=digest[:8]))


@pytest.mark.parametrize("tag", sorted(BACKBONE_TAGS))
def test_tag_resolves_to_the_official_file(tag):
    url, sha, model, size, loads = BACKBONE_TAGS[tag]
    cfg = PRETRAINED[tag]
    assert (cfg.url, cfg.sha256, cfg.model, cfg.input_size, cfg.loads) == (url, sha, model, size, loads)
    # the digest prefix is the one in the official file name (all that is published)
    assert f"-{sha}" in cfg.file_name
    with torch.device("meta"):
        assert create_model(cfg.model, layout=cfg.layout, input_size=cfg.input_size).input_size == size


def test_recipe_init_weights_tag_offline_is_one_line(no_network, monkeypatch):
    monkeypatch.setenv("KDPOSE_OFFLINE", "1")
    cfg = ModelCfg(name="rtmpose-m", init_weights="cspnext-m.udp-aic-coco", init_prefix="backbone.")
    with pytest.raises(CheckpointError) as err:
        build_model(cfg)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(BACKBONE_TAGS["cspnext-m.udp-aic-coco"][0]) and "KDPOSE_OFFLINE is set" in msg
    assert str(no_network / "cspnext-m_udp-aic-coco_210e-256x192-f2f7d6f6_20230130.pth") in msg


def test_unreachable_network_is_one_line(no_network):
    with pytest.raises(CheckpointError) as err:
        build_model(ModelCfg(name="sdpose-b", init_weights="hrnet-w32.imagenet"))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(MMPOSE + "pretrain_models/hrnet_w32-36af842e.pth: download failed")
    assert not any(no_network.glob("*.pth"))


def test_cached_file_with_another_digest_is_refused(no_network):
    no_network.mkdir(parents=True)
    (no_network / PRETRAINED["cspnext-s.udp-aic-coco"].file_name).write_bytes(b"not the official file")
    with pytest.raises(CheckpointError, match=r"sha256 mismatch: expected 92f5a029\.\.\."):
        load_weights(create_model("rtmpose-s"), "cspnext-s.udp-aic-coco")


def _udp_checkpoint(size: str) -> dict:
    """An MMPose-style UDP pre-training file: CSPNeXt backbone + a 19-keypoint (AIC + COCO) heatmap head."""
    net = create_model(f"cspnext-{size}-udp")
    state = {k: v for k, v in net.state_dict().items() if k.startswith("backbone.")}
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()}
    state["head.final_layer.weight"] = torch.randn(19, 256, 1, 1)
    state["head.final_layer.bias"] = torch.randn(19)
    return {"meta": {"epoch": 210}, "state_dict": state}


def test_udp_tag_starts_the_backbone_only(no_network, monkeypatch):
    ckpt = _udp_checkpoint("t")
    _cache_file(no_network, "cspnext-t.udp-aic-coco", ckpt, monkeypatch)
    model = build_model(ModelCfg(name="rtmpose-t", init_weights="cspnext-t.udp-aic-coco", init_prefix="backbone."))
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][f"backbone.{key}"]), key
    # the tag alone says backbone: no init_prefix needed, and load_model(tag) builds the UDP model with its head
    # initialised (the file's head predicts 19 keypoints)
    again = build_model(ModelCfg(name="rtmpose-t", init_weights="cspnext-t.udp-aic-coco"))
    assert all(torch.equal(a, b) for a, b in zip(again.backbone.state_dict().values(),
                                                 model.backbone.state_dict().values()))
    with pytest.warns(RuntimeWarning, match="holds a backbone only"):
        udp = load_model("cspnext-t.udp-aic-coco")
    assert udp.model_name == "cspnext-t-udp" and udp.head.final_layer.weight.shape[0] == 17
    assert torch.equal(udp.backbone.stem[0].conv.weight, ckpt["state_dict"]["backbone.stem.0.conv.weight"])
    # the whole file into a model is refused: its head does not fit
    with pytest.raises(CheckpointError, match="head.final_layer.weight"):
        load_weights(create_model("cspnext-t-udp"), "cspnext-t.udp-aic-coco", loads="model")


def _imagenet_hrnet_w32() -> dict:
    """A stand-in for MMPose's ImageNet HRNet-W32 file: bare keys of the full 4-stage backbone (64-plane layer1)
    plus the classification head's tensors."""
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in HRNet(32).state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 2048), torch.randn(1000)
    state["head.0.0.0.conv1.weight"] = torch.randn(32, 32, 1, 1)
    return state


def test_imagenet_hrnet_partial_load_into_sdpose_b(no_network, monkeypatch):
    state = _imagenet_hrnet_w32()
    _cache_file(no_network, "hrnet-w32.imagenet", state, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(ModelCfg(name="sdpose-b", init_weights="hrnet-w32.imagenet"))
    said = [str(w.message) for w in caught if "partial load" in str(w.message)]
    assert len(said) == 1 and "partial load into backbone: 863 of 930 tensors loaded, 67 keep their " \
                               "initialisation (layer1, transition1)" in said[0], said
    own = model.backbone.state_dict()
    for key in ("conv1.weight", "bn2.running_var", "stage2.0.branches.1.3.conv2.weight",
                "stage3.3.fuse_layers.0.2.0.weight", "transition2.2.0.0.weight"):
        assert torch.equal(own[key], state[key]), key
    # SDPose's 32-plane layer1 and the transition after it have other shapes: left as initialised
    assert own["layer1.0.conv1.weight"].shape != state["layer1.0.conv1.weight"].shape
    assert own["transition1.0.0.weight"].shape != state["transition1.0.0.weight"].shape
    assert not any(k.startswith(("stage4", "fc", "head")) for k in own)


def test_partial_load_of_an_unrelated_file_is_an_error():
    model = create_model("sdpose-b")
    with pytest.raises(CheckpointError, match=r"<state_dict>: no tensor matches the model's backbone"):
        load_partial(model, {"fc.weight": torch.zeros(3, 3)})
    with pytest.raises(CheckpointError, match="loads='everything': expected one of model, backbone, backbone-partial"):
        load_weights(model, {"fc.weight": torch.zeros(3, 3)}, loads="everything")


def test_a_tag_without_its_input_size_names_the_one_size_registered():
    """Tags are written without their size in prose and issues ("rtmpose-m.synth-standard"): the stem resolves when
    one size is registered, names the sizes when several are, and listings keep the full tags."""
    from kdpose.errors import UnknownNameError
    from kdpose.models import PRETRAINED, list_pretrained
    from kdpose.models.pretrained import get_pretrained_cfg

    assert "rtmpose-m.synth-standard" in PRETRAINED
    assert get_pretrained_cfg("rtmpose-m.synth-standard").tag == "rtmpose-m.synth-standard_128x96"
    assert PRETRAINED["cspnext-m-udp.synth-standard"].loads == "model"  # not the -backbone tag beside it
    assert "rtmpose-m.synth-standard" not in list_pretrained() and "rtmpose-m.synth-standard_128x96" in list_pretrained()
    with pytest.raises(UnknownNameError, match="several input sizes: rtmpose-m.aic-coco_256x192, rtmpose-m.aic-coco_384x288"):
        get_pretrained_cfg("rtmpose-m.aic-coco")
    assert "" not in PRETRAINED and "rtmpose-m.synth" not in PRETRAINED  # only a whole stem, with a WxH suffix


def test_a_shipped_backbone_tag_is_refused_where_poses_are_wanted(tmp_path, capsys):
    """A backbone-only tag used to load as a whole pose model with a random head: `kdpose infer` printed junk poses
    (every score 0) and `kdpose export` wrote the file, without a word. Building a model from it (to train) still
    works, with a warning; predicting, exporting or teaching with it is refused."""
    from kdpose import PoseEstimator
    from kdpose.cli.main import main
    from kdpose.errors import ConfigError

    tag = "cspnext-t-udp.synth-demo-backbone_96x64"
    with pytest.warns(RuntimeWarning, match="holds a backbone only: the head would have random weights"):
        model = load_model(tag)
    assert model.model_name == "cspnext-t-udp"
    with pytest.raises(ConfigError, match=f"'{tag}' holds a backbone only.*model.init_weights: {tag}"):
        PoseEstimator(tag)
    assert main(["export", tag, "--out", str(tmp_path / "bb.onnx"), "--no-check"]) == 2
    assert "holds a backbone only" in capsys.readouterr().err and not (tmp_path / "bb.onnx").exists()
    # a whole network's tag, and a backbone tag's model given other weights, are not affected
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model("rtmpose-s.synth-demo_96x64")


def test_an_unknown_tag_in_the_pretrained_table_names_the_close_ones():
    """PRETRAINED[tag] (the README's way to read a tag's facts) raised a bare KeyError: 'nosuch'."""
    from kdpose.errors import UnknownNameError
    from kdpose.models import PRETRAINED

    with pytest.raises(UnknownNameError, match="did you mean rtmpose-m.synth-standard_128x96"):
        PRETRAINED["rtmpose-m.synth-standrd"]
    with pytest.raises(KeyError):  # still a KeyError for dict-minded callers
        PRETRAINED["nosuch"]
    assert PRETRAINED.get("nosuch") is None and "nosuch" not in PRETRAINED
    assert PRETRAINED["rtmpose-m.synth-standard"].tag == "rtmpose-m.synth-standard_128x96"
