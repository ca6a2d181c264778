"""RunLogger's files: log.jsonl records and TensorBoard events files opened only when there is a scalar to write."""
from __future__ import annotations

import json

import pytest

from kdpose.engine.log import RunLogger

pytest.importorskip("torch.utils.tensorboard")


def _events(work):
    return sorted((work / "tensorboard").glob("events.out.tfevents.*")) if (work / "tensorboard").is_dir() else []


def test_no_events_file_before_the_first_scalar(tmp_path):
    """A run refused after its logger was made (e.g. --resume of a checkpoint of another model) used to leave an
    empty events file behind."""
    logger = RunLogger(tmp_path)
    logger.info("a message is not a scalar")
    logger.record("recipe_change", 0, {"changed": ["train.max_epochs"]})  # no numbers: log.jsonl only
    assert _events(tmp_path) == []
    logger.record("train", 1, {"loss": 0.5})
    logger.close()
    assert len(_events(tmp_path)) == 1 and _events(tmp_path)[0].stat().st_size > 0
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert kinds == ["recipe_change", "train"]


def test_a_resume_opens_one_new_events_file_and_keeps_one_record_per_iteration(tmp_path):
    first = RunLogger(tmp_path)
    for it in (1, 2, 3):
        first.record("train", it, {"loss": 1.0 / it})
    first.close()
    resumed = RunLogger(tmp_path)   # a resumed run's logger: the checkpoint was taken at iteration 2
    resumed.drop_after(2)
    assert len(_events(tmp_path)) == 1
    resumed.record("train", 3, {"loss": 0.25})
    resumed.close()
    assert len(_events(tmp_path)) == 2
    iters = [json.loads(line)["iter"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert iters == [1, 2, 3]


def test_tensorboard_off_writes_no_events(tmp_path):
    logger = RunLogger(tmp_path, tensorboard=False)
    logger.record("train", 1, {"loss": 0.5})
    logger.close()
    assert _events(tmp_path) == [] and (tmp_path / "log.jsonl").is_file()
