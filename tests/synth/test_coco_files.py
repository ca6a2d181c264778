"""Written datasets: byte-identical for the same seed (any worker count), pycocotools round trip, kdpose readers."""
from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from kdpose.cli.main import main
from kdpose.data import load_coco_keypoints, load_coco_wholebody
from kdpose.data.synth import GENERATOR_VERSION, SynthConfig, write_coco_dataset


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def wholebody_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("wb")
    cfg = SynthConfig(width=160, height=120, layout="wholebody", max_people=3, distance_range=(1.5, 6.0))
    path = write_coco_dataset(out, cfg, 6, seed=3, split="val")
    return out, path


def test_byte_identical_output_for_any_worker_count(tmp_path):
    cfg = SynthConfig(width=96, height=72, max_people=3, distance_range=(1.5, 6.0))
    write_coco_dataset(tmp_path / "a", cfg, 5, seed=9, workers=1)
    write_coco_dataset(tmp_path / "b", cfg, 5, seed=9, workers=2)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b and len(a) == 11  # 5 images + 5 masks + the JSON
    write_coco_dataset(tmp_path / "c", cfg, 5, seed=10, workers=1)
    assert _digest(tmp_path / "c") != a
    assert not list((tmp_path / "a").rglob(".*.tmp"))  # atomic writes leave no temp files


def test_pycocotools_round_trip(wholebody_dir):
    out, path = wholebody_dir
    coco = COCO(str(path))
    data = json.loads(path.read_text())
    assert data["info"]["version"] == GENERATOR_VERSION and data["info"]["settings"]["layout"] == "wholebody"
    assert data["categories"][0]["name"] == "person" and len(data["categories"][0]["keypoints"]) == 17
    ann_ids = coco.getAnnIds()
    assert len(ann_ids) >= 6
    for image in coco.loadImgs(coco.getImgIds()):
        labels = cv2.imread(str(out / image["mask_file"]), cv2.IMREAD_UNCHANGED)
        assert cv2.imread(str(out / image["file_name"])).shape == (120, 160, 3)
        for rank, ann in enumerate(coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))):
            mask = coco.annToMask(ann)
            assert mask.shape == (120, 160)
            assert np.array_equal(mask.astype(bool), labels == rank + 1)
            assert ann["area"] == mask.sum() and ann["iscrowd"] == 0 and ann["category_id"] == 1
            x, y, w, h = ann["bbox"]
            rows, cols = np.nonzero(mask)
            assert x <= cols.min() and cols.max() + 1 <= x + w + 0.01 and y <= rows.min()
            silhouette_box = mask_utils.toBbox(ann["segmentation"])
            assert x <= silhouette_box[0] and x + w >= silhouette_box[0] + silhouette_box[2] - 0.01
            kp = np.asarray(ann["keypoints"]).reshape(17, 3)
            assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
            assert set(kp[:, 2].tolist()) <= {0, 1, 2} and np.all(kp[kp[:, 2] == 0] == 0)
            vis = kp[kp[:, 2] == 2]
            tol = 0.011  # the file rounds coordinates to 0.01 px
            assert np.all((vis[:, 0] >= x - tol) & (vis[:, 0] <= x + w + tol))
            assert np.all((vis[:, 1] >= y - tol) & (vis[:, 1] <= y + h + tol))
            for part, n in (("foot", 6), ("face", 68), ("lefthand", 21), ("righthand", 21)):
                values = np.asarray(ann[f"{part}_kpts"]).reshape(n, 3)
                assert ann[f"{part}_valid"] == bool((values[:, 2] > 0).any())
                if part != "foot":
                    box = ann[f"{part}_box"]
                    assert (box[2] > 0) == ann[f"{part}_valid"]


def test_kdpose_readers_load_the_files(wholebody_dir, tmp_path):
    out, path = wholebody_dir
    samples = load_coco_wholebody(path, mode="eval")
    assert samples and samples[0].keypoints.shape == (133, 2)
    assert all((out / "val").exists() and s.image_path.startswith(str(out.resolve())) for s in samples)
    cfg = SynthConfig(width=96, height=72, max_people=2, distance_range=(1.5, 4.0))
    body = load_coco_keypoints(write_coco_dataset(tmp_path, cfg, 3), "coco", mode="train")
    assert body and body[0].keypoints.shape == (17, 2) and all(s.meta["num_keypoints"] > 0 for s in body)


def test_depth_dataset_files(tmp_path):
    cfg = SynthConfig(width=96, height=72, modality="depth", max_people=2)
    path = write_coco_dataset(tmp_path, cfg, 2)
    data = json.loads(path.read_text())
    depth = cv2.imread(str(tmp_path / data["images"][0]["file_name"]), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (72, 96)
    valid = depth[depth > 0]
    assert valid.size > 0.3 * depth.size and 500 <= valid.min() and valid.max() <= 8000 + 2000


def test_cli_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--images", "2", "--size", "64x48", "--layout", "wholebody",
                 "--split", "val", "--no-progress"]) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    data = json.loads((out / "coco_wholebody_val.json").read_text())
    assert [im["file_name"] for im in data["images"]] == ["val/000001.jpg", "val/000002.jpg"]


def test_user_backgrounds_and_unwritable_output(tmp_path):
    from kdpose.data.synth import render_scene
    from kdpose.errors import ConfigError, DataError

    folder = tmp_path / "backgrounds"
    folder.mkdir()
    cv2.imwrite(str(folder / "red.png"), np.full((50, 70, 3), (0, 0, 255), np.uint8))
    cfg = SynthConfig(width=96, height=72, max_people=1, distance_range=(3.0, 4.0), background_dir=str(folder),
                      blur=0.0, noise=0.0, clutter=0, occlusion=0.0)
    scene = render_scene(cfg, (0, 0, 0))
    background = scene.instance_map < 0
    # red stays dominant wherever no person / object is drawn (colour gain and gamma still vary per image)
    b, g, r = (scene.image[background & (scene.zbuffer == np.inf)].astype(float).mean(0))
    assert r > 2 * max(b, g)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no background images"):
        write_coco_dataset(tmp_path / "out", cfg.replace(background_dir=str(tmp_path / "empty")), 1)
    # unreadable files were replaced by procedural backgrounds without a word; a file is not the folder
    (folder / "notes.jpg").write_text("not an image")
    (folder / "zero.png").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"notes.jpg: not a background image OpenCV can read \(empty or not an "
                                          r"image\) \(1 more such files in the folder\)"):
        write_coco_dataset(tmp_path / "out", cfg, 1)
    assert not (tmp_path / "out" / "person_keypoints_train.json").exists()
    with pytest.raises(ConfigError, match="red.png: background folder is a file; give the folder that holds it"):
        write_coco_dataset(tmp_path / "out", cfg.replace(background_dir=str(folder / "red.png")), 1)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="a_file/sub: lies under the file .*a_file; the output must be a folder"):
        write_coco_dataset(blocker / "sub", SynthConfig(width=32, height=32), 1)


def test_a_failing_image_is_skipped_and_reported(tmp_path, monkeypatch, capsys):
    from kdpose.data.synth import writer

    original = writer.render_scene

    def flaky(cfg, seed, backgrounds=None):
        if seed[2] == 1:
            raise ValueError("broken scene")
        return original(cfg, seed, backgrounds=backgrounds)

    monkeypatch.setattr(writer, "render_scene", flaky)
    path = write_coco_dataset(tmp_path, SynthConfig(width=48, height=36, max_people=1), 3)
    data = json.loads(path.read_text())
    assert [im["id"] for im in data["images"]] == [1, 3]
    assert data["info"]["skipped_images"] == ["image 1: ValueError: broken scene"]
    assert "skipped image 1" in capsys.readouterr().err
