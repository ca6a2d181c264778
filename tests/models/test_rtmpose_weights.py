"""Weights: official MMPose/DWPose .pth files (safe loading), kdpose .safetensors, mismatch errors, URL cache."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import pickle
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import kdpose
from kdpose.errors import CheckpointError, UnknownNameError
from kdpose.models import PRETRAINED, create_model, list_pretrained, load_model, load_weights, save_weights
from kdpose.model_info import ModelInfo
from kdpose.models.weights import read_weights_metadata
from kdpose.models._download import download_weights

SIZE = (64, 64)  # small crops keep these tests fast; key names do not depend on the input size


@pytest.fixture(scope="module")
def trained_state():
    """A state_dict with non-default values everywhere (as a trained checkpoint would have)."""
    torch.manual_seed(3)
    model = create_model("rtmpose-t", input_size=SIZE)
    state = model.state_dict()
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = v + 0.05 * torch.randn_like(v) if "running_var" not in k else v.uniform_(0.5, 1.5)
        else:
            state[k] = torch.tensor(1234, dtype=v.dtype)
    return state


@pytest.fixture()  # per test: outputs are compared bit for bit, under the same thread settings
def reference_output(trained_state):
    model = create_model("rtmpose-t", input_size=SIZE)
    model.load_state_dict(trained_state)
    x = torch.randn(2, 3, SIZE[1], SIZE[0], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return x, model.eval()(x)


def _save_official(obj, path: Path) -> None:
    """Write ``obj`` like MMPose's publish_model.py (legacy, non-zip torch.save) with numpy 1.x global names."""
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    path.write_bytes(buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))


def _official_meta():
    return {"mmengine_version": "0.7.1", "mmpose_version": "1.0.0", "epoch": 420, "iter": 123456, "seed": 21,
            "cfg": "model = dict(type='TopdownPoseEstimator', ...)",
            "dataset_meta": {"dataset_name": "coco", "num_keypoints": 17,
                             "sigmas": np.array([0.026, 0.025, 0.025] + [0.035] * 14, dtype=np.float32),
                             "keypoint_colors": np.array([[51, 153, 255]] * 17, dtype=np.uint8),
                             "flip_indices": [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15],
                             "area_scale": np.float64(1.25)}}


def _assert_same_output(model, reference_output):
    x, ref = reference_output
    with torch.no_grad():
        out = model(x)
    assert torch.equal(out.x, ref.x) and torch.equal(out.y, ref.y)


def test_official_pth_with_numpy_meta_loads_without_pickle_execution(tmp_path, trained_state, reference_output):
    path = tmp_path / "rtmpose-t_simcc-aic-coco_pt-aic-coco_420e-256x192-00000000_20230126.pth"
    _save_official({"meta": _official_meta(), "state_dict": trained_state}, path)
    assert b"numpy.core.multiarray" in path.read_bytes()  # written with numpy 1.x names, like the real files
    model = load_model("rtmpose-t", weights=path, input_size=SIZE)
    assert not model.training
    _assert_same_output(model, reference_output)
    assert model.state_dict()["backbone.stem.0.bn.num_batches_tracked"].item() == 1234


def test_arbitrary_pickled_object_is_refused(tmp_path, trained_state):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    _save_official({"meta": {"hook": Evil()}, "state_dict": trained_state}, path)
    with pytest.raises(CheckpointError) as err:
        load_model("rtmpose-t", weights=path, input_size=SIZE)
    msg = str(err.value)
    assert str(path) in msg and "system" in msg and "refused" in msg
    assert not marker.exists()


def test_pickled_class_instance_is_refused_and_named(tmp_path):
    path = tmp_path / "obj.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {}, "meta": functools.partial(print, "hi")}, f, protocol=2)
    with pytest.raises(CheckpointError, match="functools.partial"):
        load_model("rtmpose-t", weights=path, input_size=SIZE)


def test_raw_training_checkpoint_uses_the_ema_swapped_state_dict(tmp_path, trained_state, reference_output):
    ema = {f"module.{k}": v * 0 for k, v in trained_state.items()}
    ema["steps"] = torch.tensor(1000)
    ckpt = {"meta": _official_meta(), "state_dict": trained_state, "ema_state_dict": ema,
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.004, "params": [0, 1]}]}}
    path = tmp_path / "epoch_420.pth"
    torch.save(ckpt, path)
    _assert_same_output(load_model("rtmpose-t", weights=path, input_size=SIZE), reference_output)


def test_kdpose_trainer_checkpoint_prefers_ema(tmp_path, trained_state, reference_output):
    zeros = {k: torch.zeros_like(v) for k, v in trained_state.items()}
    path = tmp_path / "last.pth"
    torch.save({"format": "kdpose-train-1", "model": zeros, "ema": {"module": trained_state, "steps": 7},
                "epoch": 3, "optimizer": {"state": {}, "param_groups": []}}, path)
    _assert_same_output(load_model("rtmpose-t", weights=path, input_size=SIZE), reference_output)
    torch.save({"format": "kdpose-train-1", "model": trained_state, "ema": None, "epoch": 3}, path)
    _assert_same_output(load_model("rtmpose-t", weights=path, input_size=SIZE), reference_output)


def test_ddp_module_prefix_is_stripped(tmp_path, trained_state, reference_output):
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in trained_state.items()}}, path)
    _assert_same_output(load_model("rtmpose-t", weights=path, input_size=SIZE), reference_output)


def test_dwpose_distiller_checkpoint_parts(tmp_path, trained_state, reference_output):
    other = {k: (v * 0 if v.is_floating_point() else v) for k, v in trained_state.items()}
    state = {**{f"student.{k}": v for k, v in trained_state.items()},
             **{f"teacher.{k}": v for k, v in other.items()},
             "distill_losses.loss_fea.align.weight": torch.zeros(384, 384, 1, 1),
             "distill_losses.loss_fea.align.bias": torch.zeros(384)}
    path = tmp_path / "dw-l-t.pth"
    _save_official({"meta": _official_meta(), "state_dict": state}, path)
    _assert_same_output(load_model("rtmpose-t", weights=path, input_size=SIZE), reference_output)  # stage 1
    # stage 2 (head-aware self-KD): teacher backbone + student head
    stage2 = {**{f"teacher.{k}": v for k, v in trained_state.items() if k.startswith("backbone.")},
              **{f"teacher.{k}": v for k, v in other.items() if k.startswith("head.")},
              **{f"student.{k}": v for k, v in trained_state.items() if k.startswith("head.")},
              **{f"student.{k}": v for k, v in other.items() if k.startswith("backbone.")}}
    path2 = tmp_path / "dw-tt.pth"
    torch.save({"state_dict": stage2}, path2)
    model = load_model("rtmpose-t", weights=path2, input_size=SIZE, distiller_part="stage2")
    _assert_same_output(model, reference_output)
    # by default such a file is not silently read as stage 1 (its student.backbone is the untrained one)
    with pytest.raises(CheckpointError, match="looks like a DWPose stage-2 distiller checkpoint.*distiller_part"):
        load_model("rtmpose-t", weights=path2, input_size=SIZE)
    assert load_model("rtmpose-t", weights=path2, input_size=SIZE, distiller_part="student") is not None


def test_mismatched_checkpoint_lists_missing_unexpected_and_shapes(tmp_path, trained_state):
    state = dict(trained_state)
    del state["head.gau.gamma"]
    state["head.extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_model("rtmpose-t", weights=path, input_size=SIZE)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "1 missing keys: head.gau.gamma" in msg
    assert "1 unexpected keys: head.extra.weight" in msg
    # a body-17 file into a whole-body-133 model: shape mismatches are listed with both shapes
    torch.save({"state_dict": trained_state}, path)
    with pytest.raises(CheckpointError) as err:
        load_model("rtmpose-t", weights=path, layout="coco_wholebody", input_size=SIZE)
    assert "head.final_layer.weight (17, 384, 7, 7) vs model (133, 384, 7, 7)" in str(err.value)



def test_a_file_of_another_network_says_what_it_holds(tmp_path, trained_state):
    """A kdpose weights file states what it holds (its header); a file that does not fit says so, in one line."""
    model = create_model("rtmpose-t", input_size=SIZE)
    model.load_state_dict(trained_state)
    body = save_weights(model, tmp_path / "body.safetensors")
    # the same keypoint count, another layout: loaded without a word before, every keypoint named and flipped wrong
    with pytest.raises(CheckpointError, match=r"body.safetensors: holds rtmpose-t weights for layout 'coco', not "
                                              r"'dih' \(leave the layout out to use the file's\)"):
        load_model("rtmpose-t", weights=body, layout="dih")
    assert load_model("rtmpose-t", weights=body, layout="body").info.layout == "coco"   # an alias is the same layout
    # a pose model's file for the person detector: was "layout 'coco': the person detector has no keypoint layout"
    with pytest.raises(CheckpointError, match=r"body.safetensors: holds rtmpose-t, a topdown model; kdpose-det-nano "
                                              r"is a detection model"):
        load_model("kdpose-det-nano", weights=body)
    # another size or network: the key lists say what differs, the first words say why
    with pytest.raises(CheckpointError, match=r"body.safetensors: holds rtmpose-t \(layout coco, input 64x64\); "
                                              r"built rtmpose-t \(layout coco, input 96x128\): does not match the "
                                              r"model: 3 shape mismatches"):
        load_model("rtmpose-t", weights=body, input_size=(96, 128))
    with pytest.raises(CheckpointError, match=r"holds rtmpose-t \(layout coco, input 64x64\); built rtmpose-s "):
        load_model("rtmpose-s", weights=body)

def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such weights file"):
        load_model("rtmpose-t", weights=tmp_path / "nope.pth", input_size=SIZE)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_model("rtmpose-t", weights=junk, input_size=SIZE)
    bad_st = tmp_path / "junk.safetensors"
    bad_st.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_model("rtmpose-t", weights=bad_st, input_size=SIZE)


def test_a_file_that_is_no_pytorch_checkpoint_says_what_it_is_not(tmp_path, trained_state):
    """Was "refused to load: the file pickles something other than plain tensors", a security refusal, for each."""
    whole = tmp_path / "whole.pth"
    torch.save({"state_dict": trained_state}, whole)
    protocol4 = tmp_path / "p4.pth"
    torch.save({"state_dict": trained_state}, protocol4, pickle_protocol=4)
    onnx_bytes = b"\x08\x07\x12\x07pytorch\x1a\x052.1.0:\x8f\x03\n\x05input"  # how a torch ONNX export starts
    files = {"empty.pth": (b"", r"empty.pth: an empty file, not a PyTorch checkpoint$"),
             "cut.pth": (whole.read_bytes()[:4096], r"cut.pth: not a readable PyTorch checkpoint: a zip archive cut "
                                                     r"short, corrupt or of something else \(torch.load: RuntimeError"),
             "model.onnx": (onnx_bytes, r"model.onnx: an ONNX model, not a PyTorch checkpoint \(it carries its own "
                                        r"weights: pass it as the model, not as weights\)$"),
             "renamed.pth": (onnx_bytes, r"renamed.pth: not a PyTorch checkpoint \(torch.load: UnpicklingError: "
                                         r"Unsupported operand 8\)$"),
             "p4.pth": (protocol4.read_bytes(), r"p4.pth: pickled with protocol 4, which "
                                                r"torch.load\(weights_only=True\) does not read")}
    for name, (data, expected) in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=expected) as err:
            load_model("rtmpose-t", weights=path, input_size=SIZE)
        assert "refused" not in str(err.value) and "\n" not in str(err.value), name
    # torch's own "Detected pickle protocol 4 ... please file an issue" warning printed two lines above the error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="p4.pth: pickled with protocol 4"):
            load_model("rtmpose-t", weights=tmp_path / "p4.pth", input_size=SIZE)
    assert not [w for w in caught if "pickle protocol" in str(w.message)]


def test_a_safetensors_file_under_a_pth_name_loads_as_safetensors(tmp_path, trained_state, reference_output):
    model = create_model("rtmpose-t", input_size=SIZE)
    model.load_state_dict(trained_state)
    renamed = tmp_path / "rtmpose-t.pth"
    save_weights(model, tmp_path / "rtmpose-t.safetensors").rename(renamed)
    loaded = load_model("rtmpose-t", weights=renamed)   # its header's input size, as for a .safetensors name
    assert loaded.info.input_size == SIZE
    _assert_same_output(loaded, reference_output)


def test_a_trainer_checkpoint_of_another_network_says_what_it_holds(tmp_path, trained_state):
    """last.pt / best.pt state their network in the recipe they hold; a size or network mismatch names it, as a
    .safetensors header does (was the bare list of shape mismatches)."""
    from kdpose.engine.checkpoint import save_checkpoint
    from kdpose.engine.config import ModelCfg, RecipeCfg, recipe_to_dict

    recipe = RecipeCfg(model=ModelCfg(name="rtmpose-t", layout="body", input_size=SIZE))
    last = tmp_path / "last.pt"
    save_checkpoint(last, {"model": {f"model.{k}": v for k, v in trained_state.items()}, "ema": None,
                           "config": recipe_to_dict(recipe)})
    with pytest.raises(CheckpointError, match=r"last.pt: holds rtmpose-t \(layout coco, input 64x64\); built "
                                              r"rtmpose-t \(layout coco, input 96x128\): does not match the model: "
                                              r"3 shape mismatches"):
        load_model("rtmpose-t", weights=last, input_size=(96, 128))
    with pytest.raises(CheckpointError, match=r"holds rtmpose-t \(layout coco, input 64x64\); built rtmpose-s "):
        load_model("rtmpose-s", weights=last, input_size=SIZE)
    assert load_model("rtmpose-t", weights=last, input_size=SIZE).info.input_size == SIZE
    # without an input size or layout, the recipe's are taken (as from a .safetensors header)
    loaded = load_model("rtmpose-t", weights=last)
    assert loaded.info.input_size == SIZE and loaded.info.layout == "coco"
    # a checkpoint without a recipe says nothing it does not know
    save_checkpoint(last, {"model": {f"model.{k}": v for k, v in trained_state.items()}, "ema": None})
    with pytest.raises(CheckpointError) as err:
        load_model("rtmpose-t", weights=last, input_size=(96, 128))
    assert "holds" not in str(err.value) and "3 shape mismatches" in str(err.value)


def test_list_pretrained_wants_a_glob_string():
    with pytest.raises(TypeError, match=r"list_pretrained: pattern must be a glob string such as 'rtmpose-\*', "
                                        r"got int 3"):
        list_pretrained(3)


def test_safetensors_save_and_reload_is_identical(tmp_path, trained_state, reference_output):
    model = create_model("rtmpose-t", input_size=SIZE)
    model.load_state_dict(trained_state)
    path = save_weights(model, tmp_path / "sub" / "rtmpose-t.safetensors", metadata={"note": "test"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["rtmpose-t.safetensors"]  # no temp files left
    meta = read_weights_metadata(path)
    # the model's facts in the one kdpose.* format that ONNX exports use too (kdpose.model_info)
    assert meta["kdpose.model"] == "rtmpose-t" and meta["kdpose.skeleton"] == "coco"
    assert json.loads(meta["kdpose.input_size"]) == [64, 64] and meta["kdpose.task"] == "topdown"
    assert meta["note"] == "test" and meta["kdpose_version"] == kdpose.__version__
    assert json.loads(meta["kdpose.codec"]) == {"type": "simcc", "input_size": [64, 64], "sigma": [2.83, 2.83],
                                                "split_ratio": 2.0, "use_dark": False}
    assert ModelInfo.from_metadata(meta) == model.info
    reloaded = kdpose.load_model("rtmpose-t", weights=str(path))  # layout and input size come from the header
    assert reloaded.input_size == SIZE
    _assert_same_output(reloaded, reference_output)
    for k, v in reloaded.state_dict().items():
        assert torch.equal(v, trained_state[k]) and v.dtype == trained_state[k].dtype
    # the same weights give the same bytes (safetensors wrote its header from a hash map: another order, another
    # checksum, on every save of a finished run's weights)
    again = save_weights(model, tmp_path / "again.safetensors", metadata={"note": "test"})
    assert again.read_bytes() == path.read_bytes()
    with pytest.raises(CheckpointError, match="safetensors"):
        save_weights(model, tmp_path / "x.pth")


def test_load_weights_accepts_a_state_dict(trained_state, reference_output):
    model = load_weights(create_model("rtmpose-t", input_size=SIZE), trained_state).eval()
    _assert_same_output(model, reference_output)


# ---------------------------------------------------------------------------------------------- URLs and cache
class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        _CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture()
def http_root(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_CountingHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _CountingHandler.requests = []
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_url_downloads_once_verifies_sha256_and_works_offline(http_root, tmp_path, monkeypatch, trained_state,
                                                             reference_output):
    root, base = http_root
    cache = tmp_path / "cache"
    monkeypatch.setenv("KDPOSE_CACHE", str(cache))
    monkeypatch.delenv("KDPOSE_OFFLINE", raising=False)
    model = create_model("rtmpose-t", input_size=SIZE)
    model.load_state_dict(trained_state)
    save_weights(model, root / "t.safetensors")
    digest = hashlib.sha256((root / "t.safetensors").read_bytes()).hexdigest()
    url = f"{base}/t.safetensors"

    _assert_same_output(load_model("rtmpose-t", weights=url, input_size=SIZE, sha256=digest), reference_output)
    assert _CountingHandler.requests == ["/t.safetensors"] and (cache / "t.safetensors").is_file()
    _assert_same_output(load_model("rtmpose-t", weights=url, input_size=SIZE, sha256=digest), reference_output)
    assert len(_CountingHandler.requests) == 1  # cached: never fetched again

    monkeypatch.setenv("KDPOSE_OFFLINE", "1")
    _assert_same_output(load_model("rtmpose-t", weights=url, input_size=SIZE), reference_output)
    with pytest.raises(CheckpointError, match="KDPOSE_OFFLINE"):
        load_model("rtmpose-t", weights=f"{base}/other.safetensors", input_size=SIZE)
    assert len(_CountingHandler.requests) == 1


def test_url_hash_mismatch_is_refused_and_not_cached(http_root, tmp_path, monkeypatch):
    root, base = http_root
    monkeypatch.setenv("KDPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KDPOSE_OFFLINE", raising=False)
    # MMPose file names carry the sha256 prefix: a file whose content does not match is refused
    name = "rtmpose-t_simcc-aic-coco_pt-aic-coco_420e-256x192-deadbeef_20230126.pth"
    (root / name).write_bytes(b"tampered")
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        download_weights(f"{base}/{name}")
    assert not (tmp_path / "cache" / name).exists()
    # README: "on a failed download the error is one line naming the URL and where to put the file"
    with pytest.raises(CheckpointError, match=r"missing\.pth: download failed .*; download it on a machine with "
                                              r"network access and copy it to .*cache/missing\.pth$"):
        download_weights(f"{base}/missing.pth")


def test_pretrained_registry_is_consistent(monkeypatch, tmp_path):
    assert len(list_pretrained("dwpose-*")) == 5 and "rtmpose-m.body7_256x192" in list_pretrained()
    for tag, cfg in PRETRAINED.items():
        # <network>.<training>; a backbone pre-training file is named after its backbone (cspnext-m.udp-aic-coco holds
        # the backbone of zoo model cspnext-m-udp)
        assert tag.startswith(cfg.model + ".") or (cfg.loads != "model" and cfg.model.startswith(tag.split(".")[0]))
        if cfg.asset:   # shipped in kdpose/assets: no URL, a file inside the package
            assert not cfg.url and Path(cfg.location).is_file() and cfg.file_name == cfg.asset
            continue
        assert cfg.url.endswith(".pth") and cfg.file_name in cfg.url
        assert len(cfg.sha256) in (7, 8) and cfg.sha256 in cfg.file_name
        with torch.device("meta"):
            model = create_model(cfg.model, layout=cfg.layout, input_size=cfg.input_size)
        assert model.input_size == cfg.input_size
    # a tag resolves layout, input size and URL; offline without a cached file is a clear error, no network
    monkeypatch.setenv("KDPOSE_CACHE", str(tmp_path))
    monkeypatch.setenv("KDPOSE_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="rtmpose-l_simcc-ucoco_dw-ucoco_270e-384x288-2438fd99_20230728.pth"):
        load_model("dwpose-l.ucoco_384x288")
    with pytest.raises(CheckpointError, match="rtmpose-l_simcc-coco-wholebody_pt-aic-coco_270e-384x288"):
        load_model("dwpose-l", weights="rtmpose-l.coco-wholebody_384x288")  # a tag as weights of another name
    with pytest.raises(UnknownNameError, match="did you mean"):
        load_model("rtmpose-m.body8_256x192")
