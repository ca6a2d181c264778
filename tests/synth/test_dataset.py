"""On-the-fly datasets: deterministic per index (any access order), the same scenes as the written files."""
from __future__ import annotations

import numpy as np

from kdpose.data import load_coco_keypoints
from kdpose.data.sample import Sample
from kdpose.data.synth import SynthConfig, write_coco_dataset
from kdpose.data.synth.dataset import INFINITE_LENGTH, SyntheticPoseDataset, SyntheticSceneDataset


def _cfg():
    return SynthConfig(width=96, height=72, max_people=3, distance_range=(1.5, 5.0))


def test_items_are_deterministic_per_index_in_any_order():
    a = SyntheticPoseDataset(_cfg(), length=6, seed=4)
    b = SyntheticPoseDataset(_cfg(), length=6, seed=4)
    forward = [a[i] for i in range(6)]
    backward = [b[i] for i in reversed(range(6))][::-1]
    for x, y in zip(forward, backward):
        assert isinstance(x, Sample) and x.image.shape == (72, 96, 3)
        assert np.array_equal(x.image, y.image) and np.array_equal(x.keypoints, y.keypoints)
        assert np.array_equal(x.bbox, y.bbox) and x.visible.sum() >= 1
    assert len(a) == 6 and len(SyntheticPoseDataset(_cfg())) == INFINITE_LENGTH
    other = SyntheticPoseDataset(_cfg(), length=6, seed=5)[0]
    assert not np.array_equal(other.image, forward[0].image)


def test_samples_match_what_the_readers_load_from_the_written_files(tmp_path):
    cfg = _cfg()
    path = write_coco_dataset(tmp_path, cfg, 3, seed=2)
    from_files = load_coco_keypoints(path, "coco", mode="eval")
    scenes = SyntheticSceneDataset(cfg, length=3, seed=2)
    in_memory = [s for i in range(3) for s in scenes.samples(i)]
    assert len(from_files) == len(in_memory)
    for f, m in zip(from_files, in_memory):
        assert f.image_id == m.image_id  # (annotation ids are numbered per file, per scene in memory)
        assert np.allclose(f.keypoints, m.keypoints, atol=0.006)
        assert np.array_equal(f.visible, m.visible) and np.array_equal(f.flags, m.flags)
        assert np.allclose(f.bbox, m.bbox, atol=0.006) and f.area == m.area
        import cv2

        on_disk = cv2.imread(f.image_path)
        assert np.array_equal(on_disk, m.image)  # same pixels, JPEG artefacts included


def test_scene_dataset_gives_masks_and_depth():
    scenes = SyntheticSceneDataset(_cfg().replace(modality="depth"), length=2, seed=0)
    scene = scenes[1]
    assert scene.image.dtype == np.uint16 and scene.masks().shape == (len(scene.instances), 72, 96)


def test_topdown_dataset_wraps_the_synthetic_stream():
    """The engine's path: SyntheticPoseDataset -> TopDownDataset (crop, normalise, SimCC targets) -> collate."""
    import torch

    from kdpose.codecs.simcc import SimCCCodec
    from kdpose.data import TopDownDataset, build_train_pipeline, collate_topdown
    from kdpose.skeletons import get_skeleton

    codec = SimCCCodec((48, 64))
    source = SyntheticPoseDataset(_cfg(), length=4, seed=1)
    data = TopDownDataset(source, codec, build_train_pipeline(get_skeleton("coco"), (48, 64)))
    batch = collate_topdown([data[i] for i in range(4)])
    assert batch.inputs.shape == (4, 3, 64, 48) and batch.inputs.dtype == torch.float32
    assert batch.keypoints.shape == (4, 17, 2) and float(batch.visible.sum()) > 0
    assert torch.equal(collate_topdown([data[0]]).inputs, batch.inputs[:1])  # deterministic per index


def test_dataloader_workers_give_the_same_items():
    """Worker-safe: two DataLoader worker processes produce exactly the items of direct indexing."""
    import torch

    data = SyntheticPoseDataset(_cfg(), length=4, seed=8)
    direct = [data[i].keypoints for i in range(4)]
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2, collate_fn=lambda s: s)
    loaded = [s.keypoints for s in loader]
    assert all(np.array_equal(a, b) for a, b in zip(direct, loaded)) and len(loaded) == 4
