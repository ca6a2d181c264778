"""Fresh scenes every epoch (``data.train.synthetic_fresh``): the cached split's people value for value, new scenes
each epoch, the same scenes again for the same (seed, epoch) after a resume, blocks kept together by the sampler."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kdpose.data import load_coco_keypoints
from kdpose.data.synth import FreshPeople, SynthConfig, render_scene, scene_seed, train_samples, write_coco_dataset
from kdpose.data.synth.dataset import _with_jpeg
from kdpose.engine.loader import ResumableSampler

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "rtmpose-t_roadmap_synth-standard.yaml"


def _cfg():
    return SynthConfig(width=96, height=72, max_people=3, distance_range=(1.5, 5.0))


def _same(a, b) -> bool:
    return (np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
            and np.array_equal(a.bbox, b.bbox) and np.array_equal(a.visible, b.visible))


def test_people_are_what_the_reader_loads_for_training_from_the_written_files(tmp_path):
    cfg = SynthConfig.from_preset("standard", width=320, height=240)
    from_files = load_coco_keypoints(write_coco_dataset(tmp_path, cfg, 5, seed=2), "coco", mode="train")
    in_memory = []
    for i in range(5):
        seed = scene_seed(2, "train", i)
        in_memory += train_samples(_with_jpeg(cfg, render_scene(cfg, seed), seed), image_id=i + 1)
    assert len(from_files) == len(in_memory) > 0
    for f, m in zip(from_files, in_memory):
        assert f.image_id == m.image_id and f.area == m.area and f.bbox.dtype == m.bbox.dtype
        for name in ("bbox", "keypoints", "visible", "flags"):   # exactly, the file's 0.01 px rounding included
            assert np.array_equal(getattr(f, name), getattr(m, name)), name
        assert np.array_equal(cv2.imread(f.image_path), m.image)   # same pixels, JPEG artefacts included


def test_epochs_differ_and_a_resumed_run_sees_the_same_scenes():
    data = FreshPeople(_cfg(), length=9, seed=3, block=4)
    assert len(data) == 8 and data.sampler_block == 4   # whole blocks
    epoch0 = [data[i] for i in range(8)]
    data.set_epoch(1)
    epoch1 = [data[i] for i in range(8)]
    assert not any(np.array_equal(a.image, b.image) for a in epoch0 for b in epoch1)   # no scene seen twice
    assert {s.meta["epoch"] for s in epoch1} == {1} and [s.meta["block"] for s in epoch1] == [0] * 4 + [1] * 4
    resumed = FreshPeople(_cfg(), length=8, seed=3, block=4)   # a new process, any access order
    resumed.set_epoch(1)
    assert all(_same(a, resumed[i]) for i, a in reversed(list(enumerate(epoch1))))
    other = FreshPeople(_cfg(), length=8, seed=4, block=4)
    other.set_epoch(1)
    assert not _same(other[0], epoch1[0])
    # not the written split's scenes either (their own seed stream)
    written = _with_jpeg(_cfg(), render_scene(_cfg(), scene_seed(3, "train", 0)), scene_seed(3, "train", 0))
    assert not np.array_equal(written.image, epoch0[0].image)


def test_sampler_keeps_blocks_together():
    sampler = ResumableSampler(12, seed=5, block=4)
    order = list(sampler)
    assert sorted(order) == list(range(12)) and len(sampler) == 12
    assert all(order[k:k + 4] == list(range(order[k], order[k] + 4)) and order[k] % 4 == 0 for k in (0, 4, 8))
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != order
    sampler.set_epoch(1, skip=4)   # resumed after one block: the rest of epoch 1's order
    assert list(sampler) == epoch1[4:] and len(sampler) == 8
    shards = [list(ResumableSampler(12, seed=5, rank=r, world_size=2, block=4)) for r in range(2)]
    assert all(len(s) == 8 for s in shards) and set(shards[0][:4]).isdisjoint(shards[1][:4])   # padded by blocks
    with pytest.raises(ValueError, match="whole blocks"):
        ResumableSampler(10, block=4)
    assert list(ResumableSampler(6, seed=1)) == list(ResumableSampler(6, seed=1, block=1))   # block 1: as before


def test_recipe_option_trains_on_fresh_crops_and_resumes_them(tmp_path):
    """The recipe key reaches the trainer's path: the top-down set renders fresh blocks of one batch, an epoch's
    batches after a mid-epoch resume are the uninterrupted run's, and the cached path stays as it was."""
    import torch

    from kdpose.engine.config import load_recipe
    from kdpose.engine.loader import EpochAwareDataset, build_loader
    from kdpose.errors import ConfigError
    from kdpose.tasks.base import build_model
    from kdpose.tasks.topdown import build_datasets
    from kdpose.data import collate_topdown

    sets = ["model.init_weights=", "eval.interval=0", "data.batch_size=4", "data.train.synthetic_fresh=true",
            "data.train.synthetic_images=12", "data.train.synthetic_size=[160,120]", "data.train.synthetic_preset=hard",
            f"data.cache_dir={tmp_path}", "model.input_size=[48,64]"]
    cfg = load_recipe(RECIPE, sets)
    model = build_model(cfg.model)

    def batches(skip: int) -> list:
        train_set = build_datasets(cfg, model)[0]
        assert len(train_set) == 12 and train_set.sampler_block == 4
        sampler = ResumableSampler(len(train_set), seed=7, tag_epoch=True, block=train_set.sampler_block)
        sampler.set_epoch(2, skip=skip)
        loader = build_loader(EpochAwareDataset(train_set), sampler, 4, collate_topdown, 0, torch.Generator())
        return [b.inputs for b in loader]

    full, resumed = batches(0), batches(4)
    assert len(full) == 3 and all(torch.equal(a, b) for a, b in zip(full[1:], resumed))
    assert not list(tmp_path.iterdir())   # nothing rendered to disk
    with pytest.raises(ConfigError, match="only data.train renders fresh"):
        load_recipe(RECIPE, ["data.val.synthetic_fresh=true"])
    cached = load_recipe(RECIPE, ["model.init_weights="])
    assert cached.data.train.synthetic_fresh is False


def test_runs_started_before_the_key_existed_still_auto_resume(tmp_path):
    """``--auto-resume`` compares the saved recipe with the current one; a key added to a split since (saved files
    lack ``synthetic_fresh``) counts as its default, while a real change is still refused."""
    import yaml

    from kdpose.engine.config import dump_recipe, load_recipe
    from kdpose.errors import ConfigError
    from kdpose.tasks.run import resolve_resume

    cfg = load_recipe(RECIPE)
    saved = yaml.safe_load(dump_recipe(cfg))
    del saved["data"]["train"]["synthetic_fresh"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    (tmp_path / "last.pt").write_bytes(b"")
    assert resolve_resume(cfg, tmp_path, "auto") is True
    with pytest.raises(ConfigError, match=r"differs in data.train"):
        resolve_resume(load_recipe(RECIPE, ["data.train.synthetic_fresh=true"]), tmp_path, "auto")


def test_other_task_kinds_refuse_fresh_scenes(tmp_path):
    from kdpose.engine.config import load_recipe
    from kdpose.errors import ConfigError
    from kdpose.tasks import train

    cfg = load_recipe(RECIPE.with_name("mpm-2s_synth-depth.yaml"), ["data.train.synthetic_fresh=true"])
    with pytest.raises(ConfigError, match="task 'bottomup' trains on scenes rendered once"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
