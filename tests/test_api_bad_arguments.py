"""Bad arguments to the public API fail at the boundary with a typed error whose message names the argument (and the
file, for files) and the problem, never with a raw error from deep inside ("'int' object is not iterable",
AttributeError on None). Each case: the call, the exception type, a fragment of its message."""
from __future__ import annotations

import re

import numpy as np
import pytest

import kdpose
from kdpose.data.synth import SynthConfig
from kdpose.errors import CheckpointError, ConfigError, DataError, UnknownNameError
from kdpose.models import list_pretrained, load_weights


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("KDPOSE_OFFLINE", "1")  # nothing here may download


@pytest.fixture(scope="module")
def tiny():
    return kdpose.create_model("rtmpose-t", input_size=(64, 64))


@pytest.fixture(scope="module")
def estimator(tiny):
    return kdpose.PoseEstimator(tiny)


IMAGE = np.zeros((64, 48, 3), np.uint8)
SIZE_PROBLEM = "input_size must be (w, h), two positive integers"


def folder(tmp_path, name):
    """A folder with a file's name (``model.onnx``): the path exists, so "no such file" would mislead."""
    path = tmp_path / name
    path.mkdir()
    return path


# (label, call(tmp_path, tiny model, estimator), exception type, message fragment); {tmp} in the fragment is tmp_path
CASES = [
    # names looked up in a registry
    ("get_skeleton int", lambda t, m, e: kdpose.get_skeleton(3), TypeError, "get_skeleton: name must be a string"),
    ("get_skeleton None", lambda t, m, e: kdpose.get_skeleton(None), TypeError, "got NoneType None"),
    ("get_skeleton list", lambda t, m, e: kdpose.get_skeleton(["coco"]), TypeError, "got list ['coco']"),
    ("get_skeleton unknown", lambda t, m, e: kdpose.get_skeleton("cocoo"), UnknownNameError, "did you mean coco"),
    ("get_layout int", lambda t, m, e: kdpose.get_layout(3), UnknownNameError, "unknown layout '3' (available: coco"),
    ("get_layout unknown", lambda t, m, e: kdpose.get_layout("bdy"), UnknownNameError, "unknown layout 'bdy'"),
    ("list_models int", lambda t, m, e: kdpose.list_models(3), TypeError, "list_models: pattern must be a glob"),
    ("list_pretrained int", lambda t, m, e: list_pretrained(3), TypeError, "list_pretrained: pattern must be a glob"),
    # create_model / load_model
    ("create_model int", lambda t, m, e: kdpose.create_model(3), TypeError, "create_model: name must be a string"),
    ("create_model None", lambda t, m, e: kdpose.create_model(None), TypeError, "create_model: name must be a string"),
    ("create_model unknown", lambda t, m, e: kdpose.create_model("rtmpose-x1"), UnknownNameError,
     "unknown model 'rtmpose-x1'; did you mean rtmpose-x"),
    ("create_model layout int", lambda t, m, e: kdpose.create_model("rtmpose-t", layout=3), TypeError,
     "create_model: layout must be a string"),
    ("create_model layout unknown", lambda t, m, e: kdpose.create_model("rtmpose-t", layout="foo"),
     UnknownNameError, "unknown skeleton 'foo'"),
    ("create_model size 3 numbers", lambda t, m, e: kdpose.create_model("rtmpose-t", input_size=(64, 64, 3)),
     ConfigError, SIZE_PROBLEM),
    ("create_model size int", lambda t, m, e: kdpose.create_model("rtmpose-t", input_size=192), ConfigError,
     SIZE_PROBLEM),
    ("create_model size zero", lambda t, m, e: kdpose.create_model("rtmpose-t", input_size=(0, 256)), ConfigError,
     SIZE_PROBLEM),
    ("create_model size negative", lambda t, m, e: kdpose.create_model("rtmpose-t", input_size=(-192, 256)),
     ConfigError, SIZE_PROBLEM),
    ("create_model size strings", lambda t, m, e: kdpose.create_model("rtmpose-t", input_size=("a", "b")),
     ConfigError, SIZE_PROBLEM),
    ("load_model int", lambda t, m, e: kdpose.load_model(3), TypeError, "load_model: name must be a string"),
    ("load_model unknown", lambda t, m, e: kdpose.load_model("nope"), UnknownNameError, "unknown model 'nope'"),
    ("load_model unknown tag", lambda t, m, e: kdpose.load_model("rtmpose-t.nope"), UnknownNameError,
     "unknown pretrained weights 'rtmpose-t.nope'; did you mean"),
    # a file given as the name was "unknown pretrained weights 'model.onnx'", as if missing from a list
    ("load_model onnx file", lambda t, m, e: kdpose.load_model("model.onnx"), UnknownNameError,
     "model.onnx: an ONNX file, not a zoo name or pretrained tag (load_model builds PyTorch models); run it with "
     "kdpose.PoseEstimator('model.onnx')"),
    ("load_model weights file", lambda t, m, e: kdpose.load_model(str(kdpose.save_weights(m, t / "w.safetensors"))),
     UnknownNameError, "{tmp}/w.safetensors: a weights file, not a zoo name or pretrained tag; name the model and "
     "give the file as its weights: load_model('rtmpose-t', weights='{tmp}/w.safetensors')"),
    ("load_model pth file", lambda t, m, e: kdpose.load_model("best.pth"), UnknownNameError,
     "load_model('MODEL', weights='best.pth'), or --model MODEL --weights best.pth (MODEL: the zoo name"),
    ("load_model weights int", lambda t, m, e: kdpose.load_model("rtmpose-t", weights=3), TypeError,
     "load_model: weights must be a file path, URL, pretrained tag or state_dict, got int 3"),
    ("load_model weights missing", lambda t, m, e: kdpose.load_model("rtmpose-t", weights=t / "no.safetensors"),
     CheckpointError, "{tmp}/no.safetensors: no such weights file"),
    ("load_model weights folder", lambda t, m, e: kdpose.load_model("rtmpose-t", weights=t), CheckpointError,
     "{tmp}: a directory, not a weights file"),
    ("load_model size", lambda t, m, e: kdpose.load_model("rtmpose-t", input_size=(64, 64, 3)), ConfigError,
     "load_model: " + SIZE_PROBLEM),
    ("load_model layout int", lambda t, m, e: kdpose.load_model("rtmpose-t", layout=3), TypeError,
     "load_model: layout must be a string"),
    ("load_model device", lambda t, m, e: kdpose.load_model("rtmpose-t", device="gpu"), ConfigError,
     "load_model: unknown device 'gpu'"),
    # weights files
    ("save_weights path int", lambda t, m, e: kdpose.save_weights(m, 3), TypeError,
     "save_weights: path must be a file path"),
    ("save_weights path None", lambda t, m, e: kdpose.save_weights(m, None), TypeError,
     "save_weights: path must be a file path"),
    ("save_weights folder", lambda t, m, e: kdpose.save_weights(m, t), CheckpointError,
     "{tmp}: kdpose writes weights as .safetensors"),
    ("save_weights model None", lambda t, m, e: kdpose.save_weights(None, t / "a.safetensors"), TypeError,
     "save_weights: model must be a kdpose model"),
    ("save_weights metadata int", lambda t, m, e: kdpose.save_weights(m, t / "a.safetensors", metadata=3), TypeError,
     "save_weights: metadata must be a dict"),
    ("load_weights None", lambda t, m, e: load_weights(m, None), TypeError, "load_weights: weights must be"),
    ("load_weights folder", lambda t, m, e: load_weights(m, t), CheckpointError, "{tmp}: a directory"),
    ("load_weights model None", lambda t, m, e: load_weights(None, t / "a.safetensors"), TypeError,
     "load_weights: model must be a torch nn.Module"),
    # PoseEstimator(...)
    ("estimator model int", lambda t, m, e: kdpose.PoseEstimator(3), TypeError,
     "PoseEstimator: model must be a zoo name"),
    ("estimator model None", lambda t, m, e: kdpose.PoseEstimator(None), TypeError,
     "PoseEstimator: model must be a zoo name"),
    ("estimator onnx missing", lambda t, m, e: kdpose.PoseEstimator(str(t / "no.onnx")), CheckpointError,
     "{tmp}/no.onnx: no such ONNX file"),
    ("estimator onnx folder", lambda t, m, e: kdpose.PoseEstimator(str(folder(t, "m.onnx"))), CheckpointError,
     "{tmp}/m.onnx: a directory, not an ONNX file"),
    ("estimator backend", lambda t, m, e: kdpose.PoseEstimator(m, backend="tf"), ConfigError,
     "PoseModel instance runs with backend='torch'"),
    ("estimator device int", lambda t, m, e: kdpose.PoseEstimator(m, device=3), ConfigError, "unknown device '3'"),
    ("estimator device cuda:x", lambda t, m, e: kdpose.PoseEstimator(m, device="cuda:x"), ConfigError,
     "unknown device 'cuda:x' (use cpu, cuda, cuda:N or mps)"),
    ("estimator weights int", lambda t, m, e: kdpose.PoseEstimator("rtmpose-t", weights=3), TypeError,
     "weights must be a file path"),
    ("estimator weights folder", lambda t, m, e: kdpose.PoseEstimator("rtmpose-t", weights=t), CheckpointError,
     "{tmp}: a directory"),
    ("estimator size", lambda t, m, e: kdpose.PoseEstimator("rtmpose-t", weights=t / "w.safetensors",
                                                            input_size=(1, 2, 3)), ConfigError,
     "PoseEstimator: " + SIZE_PROBLEM),
    ("estimator bbox_thr", lambda t, m, e: kdpose.PoseEstimator(m, bbox_thr="a"), TypeError,
     "PoseEstimator: bbox_thr must be a number"),
    ("estimator nms_thr", lambda t, m, e: kdpose.PoseEstimator(m, nms_thr="a"), TypeError,
     "PoseEstimator: nms_thr must be a number"),
    # a score and an OKS: out of [0, 1] they dropped every detector box or switched NMS off, silently
    ("estimator bbox_thr 30", lambda t, m, e: kdpose.PoseEstimator(m, bbox_thr=30), ConfigError,
     "PoseEstimator: bbox_thr must be >= 0 and <= 1, got 30"),
    ("estimator nms_thr 90", lambda t, m, e: kdpose.PoseEstimator(m, nms_thr=90), ConfigError,
     "PoseEstimator: nms_thr must be >= 0 and <= 1, got 90"),
    # one (N, 4) array for a list of N images was split into one box per image
    ("estimator list + 2-D boxes", lambda t, m, e: e([np.zeros((64, 64, 3), np.uint8)] * 2,
                                                     bboxes=np.array([[0, 0, 9, 9], [1, 1, 9, 9]], float)),
     DataError, "bboxes: a list of images takes a list with one (N_i, 4) box array per image, got one array of "
                "shape (2, 4)"),
    ("BottomUpEstimator size 0", lambda t, m, e: kdpose.BottomUpEstimator("mpm-1s", input_size=(0, 184)),
     ConfigError, "BottomUpEstimator: input_size must be (w, h), two positive integers"),
    ("BottomUpEstimator peak 1.5", lambda t, m, e: kdpose.BottomUpEstimator("mpm-1s", peak_threshold=1.5),
     ConfigError, "BottomUpEstimator: peak_threshold must be >= 0 and <= 1, got 1.5"),
    ("estimator padding", lambda t, m, e: kdpose.PoseEstimator(m, padding=0), ConfigError,
     "PoseEstimator: padding must be > 0"),
    ("estimator max_batch", lambda t, m, e: kdpose.PoseEstimator(m, max_batch="a"), TypeError,
     "PoseEstimator: max_batch must be an integer"),
    ("estimator max_batch zero", lambda t, m, e: kdpose.PoseEstimator(m, max_batch=0), ConfigError,
     "PoseEstimator: max_batch must be >= 1, got 0"),
    ("estimator max_batch negative", lambda t, m, e: kdpose.PoseEstimator(m, max_batch=-4), ConfigError,
     "PoseEstimator: max_batch must be >= 1, got -4"),
    ("estimator threads", lambda t, m, e: kdpose.PoseEstimator(m, threads="a"), TypeError,
     "PoseEstimator: threads must be an integer"),
    ("estimator threads zero", lambda t, m, e: kdpose.PoseEstimator(m, threads=0), ConfigError,
     "threads must be >= 1"),
    ("estimator score_mode", lambda t, m, e: kdpose.PoseEstimator(m, score_mode="x"), ConfigError,
     "score_mode must be one of"),
    ("estimator detector int", lambda t, m, e: kdpose.PoseEstimator(m, detector=3), ConfigError,
     "detector must be None, a callable or a detection-results file"),
    ("estimator detector missing", lambda t, m, e: kdpose.PoseEstimator(m, detector=str(t / "no.json")), DataError,
     "{tmp}/no.json: no such detection-results file"),
    # PoseEstimator.__call__
    ("call None", lambda t, m, e: e(None), DataError, "image: expected a numpy array or a PIL image"),
    ("call missing file", lambda t, m, e: e(str(t / "no.jpg")), DataError, "{tmp}/no.jpg: image file not found"),
    ("call folder", lambda t, m, e: e(str(t)), DataError, "{tmp}: cannot read image"),
    ("call empty array", lambda t, m, e: e(np.zeros((0, 0, 3), np.uint8)), DataError, "image is empty"),
    ("call bboxes string", lambda t, m, e: e(IMAGE, bboxes="a"), DataError, "bboxes: expected (N, 4) xyxy boxes"),
    ("call bboxes 3 numbers", lambda t, m, e: e(IMAGE, bboxes=[[1, 2, 3]]), DataError, "got shape (1, 3)"),
    ("call list, bboxes int", lambda t, m, e: e([IMAGE], bboxes=3), DataError,
     "bboxes: a list of images takes one box array per image"),
    ("call list, bboxes count", lambda t, m, e: e([IMAGE, IMAGE], bboxes=[[0, 0, 5, 5]]), DataError,
     "2 images but 1 box arrays"),
    # PersonDetector(...)
    ("detector model int", lambda t, m, e: kdpose.PersonDetector(3), ConfigError, "model must be a PersonDetectorModel"),
    ("detector unknown", lambda t, m, e: kdpose.PersonDetector("nope"), ConfigError, "unknown detector 'nope'"),
    ("detector onnx missing", lambda t, m, e: kdpose.PersonDetector(str(t / "no.onnx")), CheckpointError,
     "{tmp}/no.onnx: no such ONNX file"),
    ("detector weights missing", lambda t, m, e: kdpose.PersonDetector(str(t / "no.safetensors")), CheckpointError,
     "{tmp}/no.safetensors: no such weights file"),
    ("detector onnx folder", lambda t, m, e: kdpose.PersonDetector(str(folder(t, "d.onnx"))), CheckpointError,
     "{tmp}/d.onnx: a directory, not an ONNX file"),
    ("detector weights folder", lambda t, m, e: kdpose.PersonDetector(str(folder(t, "d.safetensors"))),
     CheckpointError, "{tmp}/d.safetensors: a directory, not a weights file"),
    ("detector folder", lambda t, m, e: kdpose.PersonDetector(str(t)), CheckpointError,
     "{tmp}: a directory, not a detector file (.onnx or .safetensors)"),
    ("detector name, weights folder", lambda t, m, e: kdpose.PersonDetector("tiny", weights=t), CheckpointError,
     "{tmp}: a directory, not a weights file"),
    ("detector score_thr", lambda t, m, e: kdpose.PersonDetector(score_thr="a"), TypeError,
     "PersonDetector: score_thr must be a number"),
    ("detector iou_thr None", lambda t, m, e: kdpose.PersonDetector(iou_thr=None), TypeError,
     "PersonDetector: iou_thr must be a number"),
    ("detector iou_thr range", lambda t, m, e: kdpose.PersonDetector(iou_thr=2), ConfigError,
     "PersonDetector: iou_thr must be >= 0 and <= 1"),
    ("detector max_det", lambda t, m, e: kdpose.PersonDetector(max_det=0), ConfigError,
     "PersonDetector: max_det must be >= 1"),
    ("detector input_size", lambda t, m, e: kdpose.PersonDetector(input_size=320), ConfigError,
     "PersonDetector: " + SIZE_PROBLEM),
    # images, evaluation, export, runtime, bottom-up
    ("read_image int", lambda t, m, e: kdpose.read_image(3), TypeError, "read_image: path must be a file path"),
    ("read_image folder", lambda t, m, e: kdpose.read_image(t), DataError, "{tmp}: cannot read image"),
    ("coco eval gt int", lambda t, m, e: kdpose.coco_keypoint_eval(3, []), TypeError,
     "gt must be a COCO annotation file path or dict"),
    ("coco eval gt missing", lambda t, m, e: kdpose.coco_keypoint_eval(t / "no.json", []), DataError,
     "{tmp}/no.json: file not found"),
    ("coco eval gt folder", lambda t, m, e: kdpose.coco_keypoint_eval(t, []), DataError,
     "{tmp}: is a directory, expected a JSON file"),
    ("coco eval layout int", lambda t, m, e: kdpose.coco_keypoint_eval(t, [], 3), TypeError,
     "layout must be a string"),
    ("wholebody eval gt None", lambda t, m, e: kdpose.wholebody_eval(None, []), TypeError,
     "gt must be a COCO annotation file path or dict"),
    ("export_onnx model None", lambda t, m, e: kdpose.export_onnx(None, t / "a.onnx"), TypeError,
     "export_onnx: model must be a kdpose PoseModel"),
    ("OrtRunner path int", lambda t, m, e: kdpose.OrtRunner(3), TypeError, "OrtRunner: path must be a file path"),
    ("OrtRunner folder", lambda t, m, e: kdpose.OrtRunner(folder(t, "m.onnx")), CheckpointError,
     "{tmp}/m.onnx: a directory, not an ONNX file"),
    ("OrtRunner missing", lambda t, m, e: kdpose.OrtRunner(t / "no.onnx"), CheckpointError,
     "{tmp}/no.onnx: no such ONNX file"),
    ("BottomUpEstimator int", lambda t, m, e: kdpose.BottomUpEstimator(3), TypeError,
     "BottomUpEstimator: model must be a zoo name"),
    # the synthetic generator's settings
    ("synth width str", lambda t, m, e: SynthConfig(width="640").validated(), ConfigError,
     "synth: width must be an integer, got str '640'"),
    ("synth layout list", lambda t, m, e: SynthConfig(layout=["coco"]).validated(), ConfigError,
     "synth: layout must be a string"),
    ("synth layout unknown", lambda t, m, e: SynthConfig(layout="x").validated(), ConfigError,
     "synth: unknown layout 'x' (valid: coco, wholebody)"),
    ("synth max_people None", lambda t, m, e: SynthConfig(max_people=None).validated(), ConfigError,
     "synth: max_people must be an integer"),
    ("synth distance_range int", lambda t, m, e: SynthConfig(distance_range=3).validated(), ConfigError,
     "synth: distance_range must be a (low, high) pair of numbers"),
    ("synth jpeg_quality 3 numbers", lambda t, m, e: SynthConfig(jpeg_quality=(1, 2, 3)).validated(), ConfigError,
     "synth: jpeg_quality must be a (low, high) pair"),
    ("synth occlusion None", lambda t, m, e: SynthConfig(occlusion=None).validated(), ConfigError,
     "synth: occlusion must be a number"),
    ("synth background int", lambda t, m, e: SynthConfig(background_dir=3).validated(), ConfigError,
     "synth: background_dir must be a folder path"),
    ("synth background missing", lambda t, m, e: SynthConfig(background_dir=str(t / "none")).validated(),
     ConfigError, "{tmp}/none: background folder does not exist"),
    ("synth preset unknown", lambda t, m, e: SynthConfig.from_preset("x"), ConfigError,
     "synth: unknown preset 'x' (valid: hard, standard)"),
    ("synth preset setting unknown", lambda t, m, e: SynthConfig.from_preset(bogus=1), ConfigError,
     "synth: unknown setting(s) bogus (valid: width, height"),
]


@pytest.mark.filterwarnings("ignore:kdpose. no weights given")
@pytest.mark.parametrize("call, error, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_is_a_clear_typed_error(call, error, fragment, tmp_path, tiny, estimator):
    with pytest.raises(error, match=re.escape(fragment.format(tmp=tmp_path))) as info:
        call(tmp_path, tiny, estimator)
    assert "\n" not in str(info.value)  # one line, as the CLI prints it


@pytest.mark.parametrize("size", [(64, 64), [64, 64], (np.int64(64), 64), (64.0, 64.0)])
def test_valid_input_sizes_still_build(size):
    assert tuple(kdpose.create_model("rtmpose-t", input_size=size).info.input_size) == (64, 64)
