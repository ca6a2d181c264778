"""Issue 22's contract for the shipped `standard` teacher, through kdpose's own commands only:

    kdpose synth --preset standard --split val --seed S  ->  kdpose infer --model TAG --bboxes <ground truth> --json
    ->  kdpose eval

reproduces the AP the teacher's file declares (its 500-image val split, ``val_metrics`` in the file's header) for
any seed S, within the spread of AP over sets this small (measured over six fresh seeds, BENCHMARKS.md "The
`standard` teacher"). A wrong preset, crop, decoder, inverse warp or scoring rule in any of the three commands moves
AP far outside that band (the hard preset alone takes the same teacher from 0.50 to 0.18)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

from kdpose.cli.main import main  # noqa: E402
from kdpose.models import PRETRAINED  # noqa: E402
from kdpose.models.weights import read_weights_metadata  # noqa: E402

TAG = "rtmpose-m.synth-standard_128x96"  # the shipped `standard` teacher
IMAGES = 20
SEEDS = (1001, 2002)  # never rendered for its training (seed 0) or its accuracy check (seed 1)
# AP of 20-image sets is noisy and sits below the 500-image val AP: over six fresh seeds (1001-1006) the library
# scorer gave 0.649-0.681 (mean 0.663, sd 0.012) against the file's val AP 0.708 (0.700 on 200 images of seed 5);
# the hard preset gives the same teacher 0.34 on 200 images (BENCHMARKS.md, benchmarks/teacher_report.py)
BAND = 0.12


def _declared_val_ap() -> float:
    return json.loads(read_weights_metadata(PRETRAINED[TAG].location)["val_metrics"])["AP"]


@pytest.mark.parametrize("seed", SEEDS)
def test_synth_infer_eval_reproduces_the_teachers_ap_for_any_seed(seed, tmp_path, capsys):
    data, out = tmp_path / "synth", tmp_path / "out"
    assert main(["synth", "--out", str(data), "--images", str(IMAGES), "--split", "val", "--seed", str(seed),
                 "--preset", "standard", "--no-progress"]) == 0
    ann = data / "person_keypoints_val.json"
    assert main(["infer", str(data / "val"), "--model", TAG, "--bboxes", str(ann), "--json", "--no-vis",
                 "--out", str(out), "--threads", "2"]) == 0
    # synthetic-only weights: infer says so once, with an official tag for photos
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("kdpose: note:")]
    assert len(notes) == 1 and TAG in notes[0] and "--model rtmpose-m.body7_256x192" in notes[0], notes
    assert main(["eval", "--gt", str(ann), "--pred", str(out / "predictions.json"), "--out",
                 str(tmp_path / "metrics.json")]) == 0
    ap = json.loads((tmp_path / "metrics.json").read_text())["AP"]
    declared = _declared_val_ap()
    print(f"seed {seed}: AP {ap:.4f}, declared val AP {declared:.4f}")
    assert abs(ap - declared) <= BAND, (ap, declared)
