import numpy as np
import pytest
import torch

from kdpose.inference.estimator import PoseEstimator
from kdpose.models import create_model, save_weights


def test_zoo_name_with_weights_reads_layout_and_size_from_the_file(tmp_path):
    torch.manual_seed(0)
    model = create_model("rtmpose-t", layout="coco", input_size=(64, 96)).eval()
    path = save_weights(model, tmp_path / "t.safetensors", metadata={"layout": "coco", "input_size": "64x96",
                                                                     "model": "rtmpose-t"})
    est = PoseEstimator("rtmpose-t", weights=str(path), nms_thr=None)
    assert est.input_size == (64, 96) and est.skeleton.name == "coco"
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 70, 110], [80, 5, 150, 115]], np.float32)
    got = est.predict_arrays(image, bboxes=boxes)
    # same numbers as running the model by hand on the crops the pipeline made
    from kdpose.inference.topdown import back_project, crop_people

    batch = crop_people([image], [boxes], (64, 96), est.backend.mean, est.backend.std)
    with torch.no_grad():
        kpts, scores = model.codec.decode(model(torch.from_numpy(batch.inputs)))
    ref = back_project(kpts.numpy(), batch.center, batch.scale, (64, 96))
    np.testing.assert_allclose(np.sort(got.scores, 0), np.sort(scores.numpy(), 0), atol=1e-5)
    for i in range(2):
        j = int(np.flatnonzero(np.all(got.bboxes == boxes[i], 1))[0])
        np.testing.assert_allclose(got.keypoints[j], ref[i], atol=1e-3)


def test_random_weights_warn():
    with pytest.warns(RuntimeWarning, match="random weights"):
        PoseEstimator("rtmpose-t", input_size=(64, 96))
