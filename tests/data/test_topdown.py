from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import torch

from kdpose.data.sample import Batch, Sample
from kdpose.data.topdown import TopDownDataset, collate_topdown
from kdpose.data.transforms import build_train_pipeline
from kdpose.errors import DataError
from kdpose.skeletons import get_skeleton


@dataclass
class DummyTarget:
    coords: np.ndarray  # (K, 2) keypoints / input size
    weights: np.ndarray  # (K,)


class DummyCodec:
    input_size = (48, 64)

    def encode(self, keypoints, visible):
        return DummyTarget(coords=(keypoints / np.array(self.input_size)).astype(np.float32),
                           weights=visible.astype(np.float32))


def make_samples(n=6, tmp_path=None):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)
        kpts = np.stack([rng.uniform(30, 90, 17), rng.uniform(20, 80, 17)], -1).astype(np.float32)
        path = ""
        if tmp_path is not None:
            path = str(tmp_path / f"{i}.png")
            cv2.imwrite(path, img)
        out.append(Sample(image_path=path, image_id=100 + i, bbox=np.array([25, 15, 95, 85], np.float32),
                          keypoints=kpts, visible=np.ones(17, np.float32), ann_id=i, bbox_score=0.5 + i / 100,
                          image=None if tmp_path is not None else img))
    return out


def test_items_and_batch_shapes():
    ds = TopDownDataset(make_samples(), DummyCodec(), build_train_pipeline(get_skeleton("coco"), (48, 64)))
    item = ds[0]
    assert item.inputs.shape == (3, 64, 48) and item.inputs.dtype == np.float32
    batch = collate_topdown([ds[i] for i in range(4)])
    assert isinstance(batch, Batch) and len(batch) == 4
    assert batch.inputs.shape == (4, 3, 64, 48)
    assert batch.target.coords.shape == (4, 17, 2) and isinstance(batch.target.coords, torch.Tensor)
    assert batch.keypoints.shape == (4, 17, 2) and batch.visible.shape == (4, 17)
    assert batch.image_id.tolist() == [100, 101, 102, 103]
    assert batch.image_id.dtype == torch.int64
    np.testing.assert_allclose(batch.bbox_score.numpy(), [0.5, 0.51, 0.52, 0.53], rtol=1e-6)
    torch.testing.assert_close(batch.target.coords * torch.tensor([48.0, 64.0]), batch.keypoints)


def test_item_seeding_independent_of_order_and_epoch_dependent():
    samples = make_samples()
    ds = TopDownDataset(samples, DummyCodec(), build_train_pipeline(get_skeleton("coco"), (48, 64)), seed=3)
    forward = [ds[i].keypoints for i in range(6)]
    backward = [ds[i].keypoints for i in reversed(range(6))][::-1]
    for a, b in zip(forward, backward):
        np.testing.assert_array_equal(a, b)
    other = TopDownDataset(samples, DummyCodec(), build_train_pipeline(get_skeleton("coco"), (48, 64)), seed=3)
    np.testing.assert_array_equal(other[2].inputs, ds[2].inputs)  # a fresh copy (another worker) agrees
    ds.set_epoch(1)
    assert any(not np.array_equal(ds[i].keypoints, forward[i]) for i in range(6))


def test_set_stage_and_default_val_pipeline():
    ds = TopDownDataset(make_samples(), DummyCodec(), build_train_pipeline(get_skeleton("coco"), (48, 64)))
    ds.set_stage("weak")
    assert ds.pipeline.stage == "weak"
    val = TopDownDataset(make_samples(), DummyCodec())
    item = val[0]
    np.testing.assert_allclose(item.center, [60, 50])
    np.testing.assert_allclose(item.scale, [87.5, 87.5 * 64 / 48], rtol=1e-6)
    with pytest.raises(ValueError):
        val.set_stage("weak")


def test_reads_images_from_disk_and_skips_bad_ones(tmp_path, caplog):
    samples = make_samples(4, tmp_path)
    (tmp_path / "1.png").write_bytes(b"not an image")
    ds = TopDownDataset(samples, DummyCodec())
    assert ds[0].inputs.shape == (3, 64, 48)
    with pytest.raises(DataError, match="1.png: cannot decode image"):
        ds[1]
    skipping = TopDownDataset(samples, DummyCodec(), skip_bad_images=True)
    with caplog.at_level("WARNING"):
        item = skipping[1]
    assert item.image_id == 102  # the next readable sample
    assert "1.png" in caplog.text and str(tmp_path / "1.png") in skipping.bad_images


def test_depth_samples_give_one_channel():
    depth = np.full((100, 120), 3000, np.uint16)
    s = make_samples(1)[0]
    s.image = depth
    item = TopDownDataset([s], DummyCodec())[0]
    assert item.inputs.shape == (1, 64, 48)
    np.testing.assert_allclose(item.inputs.max(), 3.0 / 8.0 - 0.5, atol=1e-6)


def test_torch_dataloader_with_workers_matches_main_process():
    ds = TopDownDataset(make_samples(), DummyCodec(), build_train_pipeline(get_skeleton("coco"), (48, 64)))
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_topdown)
    batches = list(loader)
    main = collate_topdown([ds[i] for i in range(3)])
    torch.testing.assert_close(batches[0].inputs, main.inputs)


def test_real_simcc_codec_batches(fixtures):
    from kdpose.codecs import SimCCCodec
    from kdpose.data import load_coco_keypoints

    codec = SimCCCodec((48, 64))
    ds = TopDownDataset(load_coco_keypoints(fixtures / "coco/test_coco.json"), codec,
                        build_train_pipeline(get_skeleton("coco"), (48, 64)))
    batch = collate_topdown([ds[i] for i in range(3)])
    assert batch.target.x_labels.shape == (3, 17, 96) and batch.target.y_labels.shape == (3, 17, 128)
    assert batch.target.weights.shape == (3, 17)
