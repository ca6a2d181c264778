"""Detector scenes read from a split that ``write_coco_dataset`` rendered once are the scenes rendered on the fly:
the same pixels (the written JPEG is the on-the-fly JPEG), boxes to the JSON's 0.01 px, the same unlabelled people,
so the same training items and validation ground truth."""
import numpy as np
import torch

from kdpose.data.synth import SynthConfig, annotation_path, write_coco_dataset
from kdpose.detection.data import (CachedScenes, RenderedScenes, SceneDetectionDataset, load_eval_set,
                                   render_eval_set)

STANDARD = SynthConfig.from_preset("standard", width=320, height=240, max_people=4)


def test_cached_scenes_equal_rendered_scenes(tmp_path):
    write_coco_dataset(tmp_path, STANDARD, 5, seed=3, split="train")
    cached = CachedScenes(annotation_path(tmp_path, STANDARD, "train"))  # files relative to the JSON's folder
    rendered = RenderedScenes(STANDARD, 5, seed=3, split="train")
    assert len(cached) == len(rendered) == 5
    unlabelled = 0
    for i in range(5):
        a, b = cached.targets(i), rendered.targets(i)
        assert np.array_equal(cached.image(i), rendered.image(i))
        assert (a.image_id, a.width, a.height) == (b.image_id, b.width, b.height) == (i + 1, 320, 240)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.011)
        assert a.unlabelled.tolist() == b.unlabelled.tolist()
        np.testing.assert_array_equal(a.areas, b.areas)
        unlabelled += int(a.unlabelled.sum())
    assert unlabelled > 0  # the standard preset's unlabelled people are read back as such

    # training items, augmentation included (epoch 2's flips and zooms), are the same from either source
    kw = dict(input_size=(160, 160), seed=3, ignore_unlabelled=True)
    from_files, on_the_fly = SceneDetectionDataset(cached, **kw), SceneDetectionDataset(rendered, **kw)
    for ds in (from_files, on_the_fly):
        ds.set_epoch(2)
    for i in range(5):
        x, y = from_files[i], on_the_fly[i]
        assert torch.equal(x.inputs, y.inputs) and x.image_id == y.image_id and x.ratio == y.ratio
        np.testing.assert_allclose(x.boxes, y.boxes, atol=0.011)
        assert x.ignore.tolist() == y.ignore.tolist()

    # the validation set read from the files (images on access) has the rendered one's ground truth
    files = load_eval_set(annotation_path(tmp_path, STANDARD, "train"), tmp_path, ignore_unlabelled=True)
    memory = render_eval_set(STANDARD, 5, seed=3, split="train", ignore_unlabelled=True)
    assert len(files.images) == 5 and all(np.array_equal(p, q) for p, q in zip(files.images[1:4], memory.images[1:4]))
    for a, b in zip(files.coco_gt["annotations"], memory.coco_gt["annotations"]):
        assert {k: a[k] for k in ("id", "image_id", "iscrowd", "area")} == {k: b[k] for k in ("id", "image_id",
                                                                                              "iscrowd", "area")}
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=0.021)
    assert sum(a["iscrowd"] for a in files.coco_gt["annotations"]) == unlabelled
