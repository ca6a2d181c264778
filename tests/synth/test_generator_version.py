"""Cached synthetic splits are keyed on ``GENERATOR_VERSION`` (``kdpose.tasks.synthetic``): a change of the labels
that keeps the version would make every recipe silently train and validate on the old renders. This test pins a
fingerprint of the labels of a few small renders to the version, so such a change fails here until the version is
bumped (and its new fingerprints recorded below)."""
from __future__ import annotations

import hashlib
import json

import pytest

from kdpose.data.synth import GENERATOR_VERSION, SynthConfig, write_coco_dataset

# version -> {case: sha256 of the labels}; the labels are rounded (0.01) so that the last-bit
# differences of numpy's maths between CPUs do not count, only changes of the generator
FINGERPRINTS = {
    "kdpose-synth 1.0": {
        "standard-rgb-coco": "1c4f6c46c3c014715af90171eb9cc6efe66f42438df269f52c887e3b2ac3ad4f",
        "hard-rgb-coco": "12fcf7bace9685ccdac9f4456028c945d81fb03c93a3a6ea8ec2b3164d43122a",
        "standard-depth-coco": "ef0f42538bcfae0acf86e13d04d30b99c97285cbc4210ced0dcd72f6c224a513",
        "standard-rgb-wholebody": "f6ff60d86f25fb9f2e28811ca9c62b5394f9ee2147f7db5ee5b8883d53d00b9f",
    },
}
CASES = {name: tuple(name.split("-")) for name in FINGERPRINTS["kdpose-synth 1.0"]}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in sorted(value.items())}
    return value


def label_fingerprint(path) -> str:
    """sha256 of the images and annotations of a COCO file (every field: boxes, keypoints, whole-body parts,
    segmentations, flags), floats rounded to 0.01."""
    data = json.loads(path.read_text())
    return hashlib.sha256(json.dumps(_rounded([data["images"], data["annotations"]])).encode()).hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_labels_changed_only_with_the_generator_version(tmp_path, case):
    preset, modality, layout = CASES[case]
    cfg = SynthConfig.from_preset(preset, width=192, height=144, modality=modality, layout=layout)
    path = write_coco_dataset(tmp_path / case, cfg, 3, seed=11, split="val")
    known = FINGERPRINTS.get(GENERATOR_VERSION, {})
    assert label_fingerprint(path) == known.get(case), (
        f"the labels of the {case} render changed: bump GENERATOR_VERSION (data/synth/config.py; cached splits are "
        "keyed on it) and record the new fingerprints in this file")
