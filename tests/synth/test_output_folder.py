"""Writing a split into a folder that already holds data: the folder stays consistent and nothing goes by accident.

Before, a rerun with fewer images left the old extra images in the split folder, and a run with another layout or
preset overwrote images that the other run's annotation file still described, silently."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kdpose.cli.main import main
from kdpose.data.synth import SynthConfig, write_coco_dataset
from kdpose.data.synth import writer
from kdpose.errors import DataError

TINY = SynthConfig(width=48, height=36, max_people=1, distance_range=(2.0, 4.0))


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def listed(ann: Path) -> set[str]:
    data = json.loads(ann.read_text())
    return {im["file_name"] for im in data["images"]} | {im["mask_file"] for im in data["images"]}


def split_files(out: Path, split: str) -> set[str]:
    return {f"{d}/{p.name}" for d in (split, f"{split}_masks") for p in (out / d).iterdir()}


def test_a_smaller_rerun_is_refused_and_overwrite_replaces_the_split_whole(tmp_path, capsys):
    out = tmp_path / "data"
    ann = write_coco_dataset(out, TINY, 3, split="val")
    before = digest(out)
    with pytest.raises(DataError, match=r"person_keypoints_val\.json holds another val split \(num_images 3 -> 2\); "
                                        r"pass --overwrite \(overwrite=True\) to replace the split whole"):
        write_coco_dataset(out, TINY, 2, split="val")
    assert digest(out) == before  # refused before anything was rendered or moved
    write_coco_dataset(out, TINY, 2, split="val", overwrite=True)
    assert split_files(out, "val") == listed(ann) == {"val/000001.jpg", "val/000002.jpg", "val_masks/000001.png",
                                                       "val_masks/000002.png"}  # no stale 000003
    assert json.loads(ann.read_text())["info"]["num_images"] == 2
    # the same command again: allowed, byte-identical, and a lost image comes back
    again = digest(out)
    (out / "val/000002.jpg").unlink()
    write_coco_dataset(out, TINY, 2, split="val")
    assert digest(out) == again
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_another_preset_is_refused_naming_the_settings(tmp_path):
    out = tmp_path / "data"
    write_coco_dataset(out, TINY, 2, split="val")
    other = SynthConfig.from_preset("standard", width=48, height=36, max_people=1, distance_range=(2.0, 4.0))
    with pytest.raises(DataError, match=r"holds another val split \(settings\.clutter 6 -> 4, settings\.crowding "
                                        r"0\.5 -> 0\.3, settings\.facing_margin 0\.0 -> 0\.4 and 6 more\)"):
        write_coco_dataset(out, other, 2, split="val")


def test_the_other_layout_of_a_split_is_refused_and_overwrite_removes_its_json(tmp_path, capsys):
    out = tmp_path / "data"
    train = write_coco_dataset(out, TINY, 2, split="train")
    coco_val = write_coco_dataset(out, TINY, 2, split="val")
    kept = digest(out)
    wholebody = TINY.replace(layout="wholebody")
    with pytest.raises(DataError, match=r"person_keypoints_val\.json \(the other layout\) describes the images in "
                                        r".*val/ that this split would replace"):
        write_coco_dataset(out, wholebody, 2, split="val")
    assert digest(out) == kept
    wb_val = write_coco_dataset(out, wholebody, 2, split="val", overwrite=True)
    assert not coco_val.exists() and wb_val.name == "coco_wholebody_val.json"
    assert f"removed {coco_val}: its images in {out / 'val'}/ were replaced" in capsys.readouterr().err
    assert split_files(out, "val") == listed(wb_val)
    # the other split and its JSON are untouched
    assert {k: v for k, v in digest(out).items() if "train" in k} == {k: v for k, v in kept.items() if "train" in k}
    assert train.exists()
    # another layout of another split (or folder) is fine
    write_coco_dataset(out, wholebody, 1, split="test")


def test_files_no_annotation_lists_are_refused(tmp_path):
    out = tmp_path / "data"
    (out / "val").mkdir(parents=True)
    (out / "val/mine.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match=r"val/ holds 1 file\(s\) that no annotation file lists \(e\.g\. mine\.jpg\)"):
        write_coco_dataset(out, TINY, 1, split="val")
    ann = write_coco_dataset(out, TINY, 1, split="val", overwrite=True)
    assert split_files(out, "val") == listed(ann)
    (out / "val/notes.txt").write_text("mine")  # next to an identical split: still refused
    with pytest.raises(DataError, match=r"person_keypoints_val\.json does not list \(e\.g\. notes\.txt\)"):
        write_coco_dataset(out, TINY, 1, split="val")
    assert (out / "val/notes.txt").read_text() == "mine"


def test_an_interrupted_run_leaves_the_old_split_whole(tmp_path, monkeypatch):
    out = tmp_path / "data"
    write_coco_dataset(out, TINY, 3, split="val")
    before = digest(out)
    original = writer.render_scene

    def stopped(cfg, seed, backgrounds=None):
        if seed[2] == 1:
            raise KeyboardInterrupt
        return original(cfg, seed, backgrounds=backgrounds)

    monkeypatch.setattr(writer, "render_scene", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_coco_dataset(out, TINY, 2, seed=5, split="val", overwrite=True)
    assert digest(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["person_keypoints_val.json", "val", "val_masks"]


def test_every_annotation_file_matches_its_images_at_every_move(tmp_path, monkeypatch):
    """Checked at each rename of the commit: an annotation file present in the folder lists only files that exist
    with its own dataset's bytes, when an identical split is rewritten (two runs rendering one cache folder) and when
    --overwrite replaces a split by another."""
    new, old = tmp_path / "new", tmp_path / "old"
    truth = {}
    for seed, folder in ((1, new), (0, old)):
        ann = write_coco_dataset(folder, TINY, 3 - seed, seed=seed, split="val")
        truth[ann.read_bytes()] = digest(folder)
    out = old
    replace = os.replace
    moves, present = [], []

    def checked(src, dst):
        ann = out / "person_keypoints_val.json"
        present.append(ann.exists())
        if ann.exists():
            files = truth[ann.read_bytes()]
            for name in listed(ann):
                assert hashlib.sha256((out / name).read_bytes()).hexdigest() == files[name], name
        moves.append(Path(dst).name)
        return replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", checked)
    write_coco_dataset(out, TINY, 3, seed=0, split="val")  # identical: the JSON stays while files are replaced
    assert moves.count("000001.jpg") == 2 and all(present)  # rendered into staging, then moved in
    moves.clear()
    present.clear()
    write_coco_dataset(out, TINY, 2, seed=1, split="val", overwrite=True)
    assert moves[-1] == "person_keypoints_val.json" and not all(present)  # the old JSON went first
    monkeypatch.setattr(writer.os, "replace", replace)
    assert digest(out) == truth[(new / "person_keypoints_val.json").read_bytes()]


def test_staging_folders_of_dead_processes_are_reclaimed(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    host = writer.re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = out / f".synth-staging.{int(gone.stdout)}.{host}.abc123"
    alive = out / f".synth-staging.{os.getppid()}.{host}.def456"
    elsewhere = out / f".synth-staging.{int(gone.stdout)}.otherhost.ghi789"
    for folder in (dead, alive, elsewhere):
        (folder / "val").mkdir(parents=True)
    write_coco_dataset(out, TINY, 1, split="val")
    assert not dead.exists() and alive.exists() and elsewhere.exists()


def test_cli_refuses_in_one_line_and_overwrites_on_request(tmp_path, capsys):
    out = tmp_path / "cli"
    base = ["synth", "--out", str(out), "--size", "48x36", "--max-people", "1", "--split", "val", "--no-progress"]
    assert main(base + ["--images", "2"]) == 0
    capsys.readouterr()
    assert main(base + ["--images", "1"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds another val split (num_images 2 -> 1)" in err and "--overwrite" in err
    assert main(base + ["--images", "1", "--overwrite"]) == 0
    assert split_files(out, "val") == {"val/000001.jpg", "val_masks/000001.png"}


def test_the_training_cache_replaces_an_interrupted_render_and_keeps_its_layout(tmp_path):
    from kdpose.engine.config import DataCfg, SplitCfg
    from kdpose.tasks.synthetic import resolve_split

    data = DataCfg(cache_dir=str(tmp_path / "cache"), workers=0,
                   val=SplitCfg(synthetic_images=2, synthetic_size=(48, 36), synthetic_max_people=1))
    ann, img_dir = resolve_split(data, data.val, "val")
    assert Path(ann) == Path(img_dir) / "person_keypoints_val.json" and Path(img_dir).name.startswith("val-")
    first = digest(Path(img_dir))
    # a render killed before its JSON (files, no JSON): rendered again, the leftovers replaced
    Path(ann).unlink()
    (Path(img_dir) / "val/000009.jpg").write_bytes(b"partial")
    assert resolve_split(data, data.val, "val") == (ann, img_dir)
    assert digest(Path(img_dir)) == first


def test_a_split_folder_on_another_file_system_is_copied_in(tmp_path, monkeypatch):
    """A split folder linked to another disk: the rename from the staging folder fails with EXDEV; the file is
    copied next to its target and renamed over it instead."""
    import errno

    reference = write_coco_dataset(tmp_path / "ref", TINY, 2, split="val").parent
    replace = os.replace

    def cross_device(src, dst):
        if ".synth-staging" in str(src) and Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", cross_device)
    out = write_coco_dataset(tmp_path / "data", TINY, 2, split="val").parent
    monkeypatch.setattr(writer.os, "replace", replace)
    assert digest(out) == digest(reference)


def test_a_negative_seed_is_refused_and_the_summary_counts_failed_images(tmp_path, capsys, monkeypatch):
    """--seed -1 made numpy refuse every image ("expected non-negative integer"), each skipped, and the CLI still
    printed "wrote 2 images" with exit 0. A negative seed is now a one-line error before anything is written, and
    the summary counts what was written (exit 1 when no image rendered)."""
    out = tmp_path / "neg"
    assert main(["synth", "--out", str(out), "--images", "2", "--seed", "-1", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == "kdpose: error: synth: seed must be an integer >= 0, got -1"
    assert not out.exists()

    def broken(*args, **kwargs):
        raise ValueError("broken scene")

    monkeypatch.setattr(writer, "render_scene", broken)
    assert main(["synth", "--out", str(tmp_path / "bad"), "--images", "2", "--size", "64x48", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"wrote 0 images and {tmp_path / 'bad'}/person_keypoints_train.json")
    assert captured.out.rstrip().endswith(", 2 failed to render (listed in its info.skipped_images)")


def test_an_output_that_is_a_file_says_so(tmp_path):
    """mkdir's own words were "cannot create the output folder (File exists)" of a file."""
    (tmp_path / "notes.txt").write_text("x")
    cfg = SynthConfig(width=48, height=36, max_people=1)
    with pytest.raises(DataError, match=r"notes.txt: is a file; the output must be a folder$"):
        write_coco_dataset(tmp_path / "notes.txt", cfg, 1, progress=False)
    with pytest.raises(DataError, match=r"notes.txt/sub: lies under the file .*notes.txt; the output must be a folder$"):
        write_coco_dataset(tmp_path / "notes.txt" / "sub", cfg, 1, progress=False)
