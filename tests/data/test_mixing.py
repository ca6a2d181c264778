"""Mixing training sources at set ratios (DWPose: COCO-WholeBody + UBody)."""
from __future__ import annotations

import numpy as np
import pytest

from kdpose.data.mixing import CONCATENATE, draw_indices, mix_samples, mixed_counts
from kdpose.data.sample import Sample
from kdpose.errors import ConfigError


def _samples(tag: str, n: int) -> list[Sample]:
    return [Sample(image_path=f"{tag}/{i}.jpg", image_id=i, bbox=np.zeros(4, np.float32),
                   keypoints=np.zeros((3, 2), np.float32), visible=np.ones(3, np.float32)) for i in range(n)]


def test_counts_follow_the_set_share():
    # primary 60 kept whole; extra share 0.4 -> mixed size 100, extra 40 (subsampled from 100 or repeated from 25)
    assert mixed_counts(60, [0.4], [100]) == [40]
    assert mixed_counts(60, [0.4], [25]) == [40]
    # concatenation (MMPose CombinedDataset) counts towards the fixed part: (60 + 20) / (1 - 0.2) = 100 -> 20
    assert mixed_counts(60, [CONCATENATE, 0.2], [20, 7]) == [20, 20]
    with pytest.raises(ConfigError, match="sum"):
        mixed_counts(10, [0.6, 0.5], [5, 5])
    with pytest.raises(ConfigError, match="ratios"):
        mixed_counts(10, [1.5], [5])


def test_draw_repeats_whole_passes_then_subsets():
    idx = draw_indices(4, 10, np.random.default_rng(0))
    counts = np.bincount(idx, minlength=4)
    assert len(idx) == 10 and counts.min() >= 2 and counts.max() <= 3  # floor/ceil of 10 / 4
    assert len(set(draw_indices(10, 6, np.random.default_rng(0)).tolist())) == 6  # no repeats when enough


def test_mix_samples_is_deterministic_and_keeps_the_primary():
    coco, ubody = _samples("coco", 30), _samples("ubody", 50)
    mixed = mix_samples(coco, [(ubody, 0.25)], seed=3)
    assert len(mixed) == 40 and mixed[:30] == coco
    assert sum(s.image_path.startswith("ubody") for s in mixed) == 10
    assert [s.image_path for s in mixed] == [s.image_path for s in mix_samples(coco, [(ubody, 0.25)], seed=3)]
    assert [s.image_path for s in mixed] != [s.image_path for s in mix_samples(coco, [(ubody, 0.25)], seed=4)]
    assert len(mix_samples(coco, [(ubody, CONCATENATE)])) == 80


def _coco_file(path, prefix: str, ids: list[int]) -> str:
    import json

    images = [{"id": i, "file_name": f"{prefix}{i}.jpg", "width": 10, "height": 10} for i in ids]
    anns = [{"id": 100 + i, "image_id": i, "bbox": [0, 0, 5, 5], "num_keypoints": 1} for i in ids]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return str(path)


def test_write_mixed_annotations_renumbers_prefixes_and_applies_frame_step(tmp_path):
    import json

    from kdpose.data.mixing import AnnotationSource, write_mixed_annotations

    coco = _coco_file(tmp_path / "coco.json", "c", [5, 7, 9])
    ubody = _coco_file(tmp_path / "ubody.json", "u", list(range(0, 100)))  # frame_step 10 keeps ids 0, 10, ..., 90
    out = tmp_path / "mixed.json"
    taken = write_mixed_annotations(AnnotationSource(coco, "coco/train2017"),
                                    [AnnotationSource(ubody, "UBody/images", ratio=0.25, frame_step=10)], out, seed=1)
    assert taken == {coco: 3, ubody: 1}  # 3 / (1 - 0.25) = 4 images in all
    mixed = json.loads(out.read_text())
    assert [img["id"] for img in mixed["images"]] == [1, 2, 3, 4]
    assert [a["image_id"] for a in mixed["annotations"]] == [1, 2, 3, 4]
    assert mixed["images"][0]["file_name"] == "coco/train2017/c5.jpg"
    name = mixed["images"][3]["file_name"]
    assert name.startswith("UBody/images/u") and int(name[len("UBody/images/u"):-4]) % 10 == 0
    assert mixed["categories"] == [{"id": 1, "name": "person"}]
