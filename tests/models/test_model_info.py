"""ModelInfo: every zoo network is built with its facts, which weights files and ONNX exports record in one format
and the backends, ``load_model`` and distillation read back (no attribute probing)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kdpose.errors import ConfigError
from kdpose.model_info import DEPTH_MEAN, DEPTH_STD, MMPOSE_MEAN, ModelInfo
from kdpose.models import MODELS, create_model, list_models, load_model, model_task, save_weights
from kdpose.models.weights import read_weights_metadata


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_is_built_with_its_facts(name):
    with torch.device("meta"):  # the facts, not the weights: build on the meta device (fast for the big ones)
        model = create_model(name)
    info = model.info
    assert isinstance(info, ModelInfo) and info.name in MODELS and info.task == model_task(name)
    assert tuple(info.input_size) == tuple(model.codec.input_size)
    assert info.codec and info.codec["type"]
    assert len(info.mean) == len(info.std) == info.in_channels
    if info.task == "detection":
        assert info.layout is None
    else:
        assert info.layout == model.skeleton.name
    assert ModelInfo.from_metadata(info.to_metadata()) == info


def test_metadata_round_trip_and_older_headers():
    info = create_model("mpm-2s", width=16, input_size=(64, 48)).info
    assert info.in_channels == 1 and info.channel_order == "D" and (info.mean, info.std) == (DEPTH_MEAN, DEPTH_STD)
    back = ModelInfo.from_metadata(info.to_metadata())
    assert back == info and back.codec == info.codec and back.kwargs == {"width": 16, "in_channels": 1}
    assert back.codec["limbs"][0] == [0, 1]  # the PAF limb tree travels with the codec
    legacy = {"model": "rtmpose-t", "layout": "coco", "input_size": "96x128", "codec": json.dumps({"type": "simcc"})}
    old = ModelInfo.from_metadata(legacy)
    assert (old.name, old.layout, old.input_size, old.mean) == ("rtmpose-t", "coco", (96, 128), MMPOSE_MEAN)
    assert ModelInfo.from_metadata({"format": "pt"}) is None
    with pytest.raises(ValueError, match="in_channels|mean/std"):
        ModelInfo("x", "topdown", "coco", (8, 8), in_channels=1)


def test_weights_and_onnx_carry_the_same_facts(tmp_path):
    pytest.importorskip("onnx")
    from kdpose.export import export_onnx
    from kdpose.export.runtime import OrtRunner

    pytest.importorskip("onnxruntime")
    model = create_model("mpm-1s", width=8, input_size=(64, 48)).eval()
    weights = save_weights(model, tmp_path / "m.safetensors")
    header = read_weights_metadata(weights)
    onnx_file = export_onnx(model, tmp_path / "m.onnx")
    runner = OrtRunner(onnx_file)
    props = runner.meta.to_props()
    for key, value in model.info.to_metadata().items():  # one format: the same strings in both files
        assert header[key] == value == props[key], key
    assert runner.meta.model_info() == model.info


def test_load_model_rebuilds_a_pose_machine_from_its_header(tmp_path):
    torch.manual_seed(0)
    student = create_model("mpm-2s", width=8, input_size=(64, 48), sigma=3.0).eval()
    path = save_weights(student, tmp_path / "student.safetensors")
    loaded = load_model("mpm-2s", weights=path)  # width, input size and codec settings come from the file
    assert loaded.info == student.info and loaded.codec.sigma == 3.0
    x = torch.randn(1, 1, 48, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x).heatmaps, student(x).heatmaps)


def test_backends_read_normalisation_from_the_model():
    from kdpose.inference.backends import TorchBackend

    model = create_model("rtmpose-t", input_size=(64, 64))
    backend = TorchBackend(model, threads=1)
    assert (backend.mean, backend.std, backend.channel_order) == (model.info.mean, model.info.std, "RGB")
    with pytest.raises(ConfigError, match="BottomUpEstimator"):
        TorchBackend(create_model("mpm-1s", width=8), threads=1)


def test_a_teacher_with_another_normalisation_sees_its_own_input():
    from dataclasses import replace

    from kdpose.distill import FrozenTeacher
    from kdpose.tasks.base import frozen_teacher_for

    student = create_model("rtmpose-t", input_size=(64, 64))
    teacher = create_model("rtmpose-s", input_size=(64, 64))
    assert frozen_teacher_for(teacher, student) is teacher  # same normalisation: nothing to do
    teacher.info = replace(teacher.info, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))
    frozen = frozen_teacher_for(teacher, student)
    assert isinstance(frozen, FrozenTeacher)
    pixel = torch.full((1, 3, 1, 1), 128.0)
    student_input = (pixel - torch.tensor(student.info.mean).view(1, 3, 1, 1)) / torch.tensor(
        student.info.std).view(1, 3, 1, 1)
    assert np.allclose(frozen.prepare(student_input).numpy(), 128.0 / 255.0, atol=1e-5)
    with pytest.raises(ConfigError, match="channel"):
        frozen_teacher_for(create_model("mpm-1s", width=8), create_model("cpm-1s", in_channels=3))
