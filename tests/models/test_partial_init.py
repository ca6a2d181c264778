"""``ModelCfg.init_partial``: a whole-body network started from a body-17 one. Every tensor of matching name and
shape is copied; the head's keypoint rows start from the same keypoint or the body keypoint a new one belongs to."""
from __future__ import annotations

import pytest
import torch

from kdpose.engine.config import ModelCfg
from kdpose.errors import CheckpointError
from kdpose.models import create_model, load_weights, save_weights
from kdpose.skeletons import get_skeleton, keypoint_origins
from kdpose.tasks.base import build_model

SIZE = (64, 64)


def test_keypoint_origins_of_whole_body_from_body():
    names = get_skeleton("coco_wholebody").keypoint_names
    coco = get_skeleton("coco").keypoint_names
    origins = keypoint_origins("coco", "wholebody")
    assert len(origins) == 133
    assert origins[:17] == tuple(range(17))
    by_name = {n: coco[o] for n, o in zip(names, origins)}
    assert by_name["left_big_toe"] == by_name["left_heel"] == "left_ankle"
    assert by_name["right_small_toe"] == "right_ankle"
    assert {by_name[n] for n in names[23:91]} == {"nose"}
    assert {by_name[n] for n in names[91:112]} == {"left_wrist"}
    assert {by_name[n] for n in names[112:133]} == {"right_wrist"}
    # the other way round every body keypoint has itself; an unrelated layout has no origin for most keypoints
    assert keypoint_origins("wholebody", "coco") == tuple(range(17))
    assert keypoint_origins("hand", "coco") == (None,) * 17


def _body_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return create_model("rtmpose-t", layout="coco", input_size=SIZE).state_dict()


def test_partial_load_maps_the_keypoint_rows_and_copies_the_rest(tmp_path):
    path = save_weights(create_model("rtmpose-t", layout="coco", input_size=SIZE), tmp_path / "body.safetensors")
    body = load_weights(create_model("rtmpose-t", layout="coco", input_size=SIZE), path).state_dict()
    torch.manual_seed(1)
    model = create_model("rtmpose-t", layout="coco_wholebody", input_size=SIZE)
    # the file's header says coco: its keypoint rows are mapped onto the 133 keypoints
    with pytest.warns(UserWarning, match=r"partial load into the model: (\d+) of \1 tensors loaded, 0 keep"):
        load_weights(model, path, loads="partial", layout="coco_wholebody")
    own = model.state_dict()
    # the head's keypoint layer is the only tensor with one row per keypoint
    rows = {k for k, v in body.items() if v.ndim and v.shape[0] == 17 and own[k].shape[0] == 133}
    assert rows == {"head.final_layer.weight", "head.final_layer.bias"}
    for key in rows:
        origins = keypoint_origins("coco", "coco_wholebody")
        assert torch.equal(own[key], body[key][list(origins)])
    for key in set(body) - rows:
        assert torch.equal(own[key], body[key]), key


def test_a_state_dict_has_no_layout_so_the_keypoint_layer_keeps_its_initialisation():
    body = _body_state()
    torch.manual_seed(1)
    model = create_model("rtmpose-t", layout="coco_wholebody", input_size=SIZE)
    before = model.state_dict()["head.final_layer.weight"].clone()
    with pytest.warns(UserWarning, match=r"2 keep their initialisation \(head.final_layer\), 2 tensors of the file"):
        load_weights(model, body, loads="partial")
    assert torch.equal(model.state_dict()["head.final_layer.weight"], before)
    assert torch.equal(model.state_dict()["head.cls_x.weight"], body["head.cls_x.weight"])


def test_partial_load_of_an_unrelated_state_is_an_error():
    model = create_model("rtmpose-t", layout="coco_wholebody", input_size=SIZE)
    with pytest.raises(CheckpointError, match=r"<state_dict>: no tensor matches the model by name and shape"):
        load_weights(model, {"fc.weight": torch.zeros(3, 3)}, loads="partial", layout="coco_wholebody")


def test_recipe_init_partial_reads_the_layout_from_the_weights_file(tmp_path):
    """The recipe route: ``model.init_partial: true`` with a kdpose .safetensors whose header says coco."""
    torch.manual_seed(0)
    body_model = create_model("rtmpose-t", layout="coco", input_size=SIZE)
    path = save_weights(body_model, tmp_path / "body.safetensors")
    cfg = ModelCfg(name="rtmpose-t", layout="coco_wholebody", input_size=SIZE, init_weights=str(path),
                   init_partial=True)
    with pytest.warns(UserWarning, match="partial load into the model"):
        model = build_model(cfg)
    got = model.state_dict()["head.final_layer.bias"]
    want = body_model.state_dict()["head.final_layer.bias"]
    assert torch.equal(got[:17], want)
    assert torch.equal(got[91:112], want[9].expand(21)) and torch.equal(got[23:91], want[0].expand(68))
    # without init_partial the same file is refused with the mismatch named, as before
    with pytest.raises(CheckpointError, match="shape mismatches: head.final_layer.weight"):
        build_model(ModelCfg(name="rtmpose-t", layout="coco_wholebody", input_size=SIZE, init_weights=str(path)))
