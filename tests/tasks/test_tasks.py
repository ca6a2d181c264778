"""One entry point for every task kind: each registered kind trains a tiny recipe through ``kdpose.tasks.train``
(and ``kdpose train``), the recipe's task is declared or read from the model, and a model of another kind is refused
with a clear error before anything is built."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdpose.cli.main import main
from kdpose.engine.config import RecipeCfg, dump_recipe, from_dict, load_recipe
from kdpose.errors import ConfigError
from kdpose.tasks import TASKS, get_task, train
from kdpose.tasks.base import TrainParts

REPO = Path(__file__).resolve().parents[2]
DEPTH = {"synthetic_size": [96, 64], "synthetic_max_people": 2, "synthetic_settings": {"noise": 0.3}}
TRAIN = {"max_epochs": 1, "stage2_epochs": 0, "epoch_iters": 2, "device": "cpu", "threads": 1, "ema": False,
         "log_interval": 1, "seed": 0, "tensorboard": False}
LOADER = {"batch_size": 2, "val_batch_size": 2, "workers": 0, "persistent_workers": False}


def tiny_recipe(kind: str, tmp_path: Path) -> dict:
    """A recipe of task ``kind`` that trains two steps and validates once, on a few tiny rendered images."""
    common = {"train": TRAIN, "schedule": {"warmup_iters": 1}, "eval": {"interval": 1, "use_ema": False}}
    if kind == "topdown":
        split = {"synthetic_size": [160, 128], "synthetic_max_people": 2}  # (the seeds' val scenes hold people)
        return {**common, "model": {"name": "rtmpose-t", "layout": "coco", "input_size": [64, 64]},
                "data": {**LOADER, "cache_dir": str(tmp_path / "cache"), "augment": "light",
                         "train": {**split, "synthetic_images": 4}, "val": {**split, "synthetic_images": 3}}}
    if kind == "detection":
        split = {"synthetic_size": [96, 64], "synthetic_max_people": 2}
        return {**common, "model": {"name": "kdpose-det-nano", "input_size": [64, 64]},
                "data": {**LOADER, "train": {**split, "synthetic_images": 4}, "val": {**split, "synthetic_images": 2}},
                "eval": {**common["eval"], "metric": "AP"}}
    depth = {**common, "model": {"name": "mpm-1s", "layout": "coco", "input_size": [48, 48],
                                 "kwargs": {"width": 8, "sigma": 3.0, "nms_radius": 3.0}},
             "data": {**LOADER, "train": {**DEPTH, "synthetic_images": 4}, "val": {**DEPTH, "synthetic_images": 2}},
             "eval": {**common["eval"], "metric": "F", "input_size": [64, 48]}}
    if kind == "bottomup":
        return depth
    if kind == "domain":
        depth["data"]["target"] = {**DEPTH, "synthetic_images": 3, "synthetic_settings": {"noise": 1.0}}
        return {**depth, "task": "domain", "task_params": {"max_lambda": 10.0}}
    raise AssertionError(f"no tiny recipe for task kind '{kind}': add one here")


@pytest.mark.parametrize("kind", TASKS.names())
def test_every_task_kind_trains_through_the_one_entry_point(kind, tmp_path):
    cfg = from_dict(RecipeCfg, tiny_recipe(kind, tmp_path))
    assert get_task(cfg).name == kind  # declared, or read from the model's zoo entry
    metrics = train(cfg, tmp_path / "run")
    assert metrics, "validation ran"
    run = tmp_path / "run"
    for name in ("config.yaml", "log.jsonl", "last.pt", "final.safetensors", "best.safetensors"):
        assert (run / name).is_file(), name
    losses = [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "train"]
    assert len(losses) == 2 and all(v == v for v in losses)  # two finite steps
    # the saved recipe reproduces the run with kdpose train (the CLI goes through the same entry point)
    again = tmp_path / "again"
    assert main(["train", str(run / "config.yaml"), "--work-dir", str(again)]) == 0
    assert (again / "final.safetensors").is_file()
    # and the trained weights export like any zoo model's: the file's model facts rebuild the network
    pytest.importorskip("onnxruntime")
    assert main(["export", cfg.model.name, "--weights", str(run / "final.safetensors"),
                 "--out", str(tmp_path / "model.onnx")]) == 0


def test_the_task_comes_from_the_model_and_a_wrong_kind_is_refused(tmp_path):
    cfg = from_dict(RecipeCfg, tiny_recipe("bottomup", tmp_path))
    cfg.task = "topdown"  # a pose machine on the top-down path
    with pytest.raises(ConfigError, match="task: 'topdown' trains topdown models, but model.name 'mpm-1s' is a "
                                          "bottomup model \\(task: bottomup, domain\\)"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was built or written
    cfg.task = "segmentation"
    with pytest.raises(ConfigError, match="task: unknown task 'segmentation'"):
        get_task(cfg)
    top = from_dict(RecipeCfg, tiny_recipe("topdown", tmp_path))
    top.distill.method, top.distill.teacher = "stagewise", "rtmpose-s"
    with pytest.raises(ConfigError, match="'stagewise' distils bottomup models, not the topdown model 'rtmpose-t'"):
        train(top, tmp_path / "run2")
    det = from_dict(RecipeCfg, tiny_recipe("detection", tmp_path))
    det.task_params = {"radius": 2.0, "margin": 1}
    with pytest.raises(ConfigError, match="task_params: unknown key\\(s\\) margin for task 'detection'"):
        train(det, tmp_path / "run3")


@pytest.mark.parametrize("name", ["mpm-2s_synth-depth.yaml", "stagewise_synth-depth_mpm-2s.yaml",
                                  "domain_synth-depth_mpm-2s.yaml", "detector_nano.yaml", "rtmpose-t_synth-body.yaml"])
def test_shipped_recipes_name_their_task(name):
    cfg = load_recipe(REPO / "configs" / name)
    kind = get_task(cfg)
    kind.check(cfg)
    assert kind.name == {"mpm": "bottomup", "sta": "bottomup", "dom": "domain", "det": "detection"}.get(name[:3],
                                                                                                       "topdown")
    assert "task:" in dump_recipe(cfg)


def test_stagewise_recipe_builds_the_shipped_depth_teacher(tmp_path):
    from kdpose.distill.stagewise import StagewiseDistiller
    from kdpose.tasks import build_model, build_task

    cfg = load_recipe(REPO / "configs" / "stagewise_synth-depth_mpm-2s.yaml")
    student = build_model(cfg.model)
    task = build_task(cfg, student, "bottomup")
    assert isinstance(task, StagewiseDistiller) and task.hint_adapter is not None
    assert task.teacher.model.backbone.feature_info[-1]["channels"] == 64
    assert student.backbone.feature_info[-1]["channels"] == 32


def test_auto_resume_refuses_a_changed_task_or_a_dropped_task_param(tmp_path):
    """``--auto-resume`` compares the whole recipe: the top-level ``task`` and a ``task_params`` entry that the new
    recipe leaves out (back to its default) change the run as much as a changed value; both used to be missed, so a
    domain run continued as a plain bottom-up one, or with another gradient-reversal weight."""
    from kdpose.tasks.run import resolve_resume

    saved = tiny_recipe("domain", tmp_path)
    (tmp_path / "config.yaml").write_text(dump_recipe(from_dict(RecipeCfg, saved)))
    (tmp_path / "last.pt").write_bytes(b"")
    assert resolve_resume(from_dict(RecipeCfg, saved), tmp_path, "auto") is True
    for change, named in [({"task": "bottomup"}, r"differs in task\)"),
                          ({"task_params": {}}, r"differs in task_params.max_lambda\)")]:
        with pytest.raises(ConfigError, match=r"holds a run of another recipe \(" + named):
            resolve_resume(from_dict(RecipeCfg, {**saved, **change}), tmp_path, "auto")
    # where the run is written is not the recipe: the same run continues from another spelling of the folder
    assert resolve_resume(from_dict(RecipeCfg, {**saved, "work_dir": "elsewhere"}), tmp_path, "auto") is True


def test_a_work_dir_of_another_recipe_is_not_overwritten_without_a_checkpoint(tmp_path):
    """A run's folder without last.pt (deleted, or stopped before its first checkpoint) still holds that run's
    config.yaml, weights and log: the same recipe starts it again, another recipe is refused (it used to overwrite
    best.pt, final.safetensors and config.yaml and append to log.jsonl)."""
    from kdpose.tasks.run import resolve_resume

    saved = tiny_recipe("topdown", tmp_path)
    (tmp_path / "config.yaml").write_text(dump_recipe(from_dict(RecipeCfg, saved)))
    for resume in (False, "auto"):
        assert resolve_resume(from_dict(RecipeCfg, saved), tmp_path, resume) is False
        other = from_dict(RecipeCfg, {**saved, "optim": {**saved.get("optim", {}), "lr": 0.5}})
        with pytest.raises(ConfigError, match=r"holds the files of a run of another recipe \(config.yaml differs "
                                              r"in optim.lr\); choose another --work-dir"):
            resolve_resume(other, tmp_path, resume)
    (tmp_path / "config.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match=r"config.yaml: not a readable recipe"):
        resolve_resume(from_dict(RecipeCfg, saved), tmp_path, False)


def test_resume_refuses_a_change_that_last_pt_would_override(tmp_path):
    """--resume keeps the checkpoint's optimizer and base learning rate: ``--set optim.lr=X`` was ignored while
    config.yaml was rewritten with X (and --auto-resume then refused the run's real recipe). A longer schedule is
    still a legal change."""
    from kdpose.tasks.run import resolve_resume

    saved = tiny_recipe("topdown", tmp_path)
    (tmp_path / "config.yaml").write_text(dump_recipe(from_dict(RecipeCfg, saved)))
    (tmp_path / "last.pt").write_bytes(b"")
    for key, value in (("lr", 0.5), ("weight_decay", 0.3)):
        changed = from_dict(RecipeCfg, {**saved, "optim": {**saved.get("optim", {}), key: value}})
        with pytest.raises(ConfigError, match=rf"changed optim.{key} would be ignored"):
            resolve_resume(changed, tmp_path, True)
    other_model = from_dict(RecipeCfg, {**saved, "model": {**saved["model"], "name": "rtmpose-s"}})
    with pytest.raises(ConfigError, match=r"restores the network, .* changed model.name would be ignored"):
        resolve_resume(other_model, tmp_path, True)
    longer = from_dict(RecipeCfg, {**saved, "train": {**saved.get("train", {}), "max_epochs": 99}})
    assert resolve_resume(longer, tmp_path, True) is True


def _saved_run(tmp_path, last_pt: bytes):
    """A work dir as a stopped run leaves it: config.yaml (the recipe as load_recipe resolves it, so that
    --auto-resume takes it for the same run) and ``last_pt``. Returns the recipe and the folder."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_recipe(from_dict(RecipeCfg, tiny_recipe("topdown", tmp_path))))
    cfg = load_recipe(run / "config.yaml")
    (run / "config.yaml").write_text(dump_recipe(cfg))
    (run / "last.pt").write_bytes(last_pt)
    return cfg, run


def _no_build(monkeypatch, cfg, built: list):
    """Replace the recipe's (slow) data and model build: records the call and stops the run there."""
    def build(cfg, work_dir):
        built.append(work_dir)
        raise RuntimeError("build reached")

    monkeypatch.setattr(get_task(cfg), "build", build)


@pytest.mark.parametrize("resume", [True, "auto"])
def test_a_damaged_last_pt_fails_before_the_data_and_model_are_built(resume, tmp_path, monkeypatch):
    """A resume reads last.pt before the build: a damaged file is the one-line CheckpointError at once, not after
    the data and the model are built."""
    from kdpose.errors import CheckpointError

    cfg, run = _saved_run(tmp_path, b"\x00garbage")
    built: list = []
    _no_build(monkeypatch, cfg, built)
    with pytest.raises(CheckpointError, match=r"last\.pt: not a PyTorch checkpoint \(torch\.load: ") as info:
        train(cfg, run, resume=resume)
    assert str(info.value).startswith(str(run / "last.pt")) and "\n" not in str(info.value)
    assert built == []
    assert (run / "last.pt").read_bytes() == b"\x00garbage"  # left as it was


def test_kdpose_train_auto_resume_names_a_damaged_last_pt_before_building(tmp_path, monkeypatch, capsys):
    cfg, run = _saved_run(tmp_path, b"")  # e.g. written when the disk was full
    built: list = []
    _no_build(monkeypatch, cfg, built)
    assert main(["train", str(run / "config.yaml"), "--work-dir", str(run), "--auto-resume"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"kdpose: error: {run / 'last.pt'}: an empty file, not a PyTorch checkpoint"], lines
    assert built == []


def test_the_documented_resume_of_a_run_started_with_overrides(tmp_path, monkeypatch, capsys):
    """README / docs/training.md: a run started with ``--set optim.lr=X`` resumes from its own config.yaml (the
    overrides included); the bare recipe, without the --set, is refused with the key named."""
    from kdpose.engine.checkpoint import save_checkpoint

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(dump_recipe(from_dict(RecipeCfg, tiny_recipe("topdown", tmp_path))))
    run = tmp_path / "t1"
    run.mkdir()
    started = load_recipe(recipe, ["optim.lr=2e-3"])
    started.work_dir = str(run)
    # what `kdpose train recipe.yaml --set optim.lr=2e-3 --work-dir t1` leaves when it is stopped
    (run / "config.yaml").write_text(dump_recipe(started))
    save_checkpoint(run / "last.pt", {"iteration": 7})
    assert main(["train", str(recipe), "--work-dir", str(run), "--resume"]) == 2
    assert "changed optim.lr would be ignored" in capsys.readouterr().err
    built: list = []
    _no_build(monkeypatch, started, built)
    with pytest.raises(RuntimeError, match="build reached"):   # accepted: it goes on to build the run
        main(["train", str(run / "config.yaml"), "--work-dir", str(run), "--resume"])
    assert built == [run]


def test_resume_reads_last_pt_once_and_hands_it_to_the_trainer(tmp_path, monkeypatch):
    """The early read is the only one: the trainer resumes from the state already read, not from the file again."""
    import torch

    import kdpose.tasks.run as run_module
    from kdpose.engine.checkpoint import save_checkpoint

    cfg = from_dict(RecipeCfg, tiny_recipe("topdown", tmp_path))
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "last.pt", {"iteration": 7})
    events: list = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: events.append("load") or real_load(*a, **k))
    monkeypatch.setattr(get_task(cfg), "build", lambda cfg, work_dir: events.append("build") or
                        TrainParts(None, None, None, None, None))

    class FakeTrainer:  # the real one would train; this records what resume is given
        def __init__(self, *args, **kwargs):
            pass

        def resume(self, path=None, state=None):
            events.append(("resume", path, state["iteration"]))
            return True

        def fit(self):
            return {}

    monkeypatch.setattr(run_module, "Trainer", FakeTrainer)
    assert train(cfg, run, resume=True) == {}
    assert events == ["load", "build", ("resume", None, 7)]


@pytest.mark.parametrize("key, value, message", [
    ("data.val.ann_file", "{tmp}/nope.json", "{tmp}/nope.json: annotation file not found (data.val.ann_file)"),
    ("data.val.img_dir", "{tmp}/no_images", "{tmp}/no_images: image folder not found (data.val.img_dir, for "),
])
def test_a_missing_val_file_fails_before_the_training_split_is_rendered(key, value, message, tmp_path, capsys):
    """data.val.ann_file was opened only after data.train's synthetic split had been rendered (minutes)."""
    (tmp_path / "val.json").write_text("{}")
    recipe = tiny_recipe("topdown", tmp_path)
    recipe["data"]["val"] = {"ann_file": str(tmp_path / "val.json")}
    path = tmp_path / "r.yaml"
    path.write_text(dump_recipe(from_dict(RecipeCfg, recipe)))
    assert main(["train", str(path), "--work-dir", str(tmp_path / "run"),
                 "--set", f"{key}={value.replace('{tmp}', str(tmp_path))}"]) == 2
    assert capsys.readouterr().err.startswith(f"kdpose: error: {message.replace('{tmp}', str(tmp_path))}")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()
    # a run that does not validate does not read data.val
    cfg = load_recipe(path, [f"{key}={value.replace('{tmp}', str(tmp_path))}", "eval.interval=0"])
    built: list = []
    with pytest.MonkeyPatch.context() as mp:
        _no_build(mp, cfg, built)
        with pytest.raises(RuntimeError, match="build reached"):
            train(cfg, tmp_path / "run")


def test_an_eval_metric_the_layout_does_not_report_is_refused_before_training():
    """A whole-body recipe left at the default eval.metric 'AP' trained a whole epoch, then failed at its first
    validation ("'AP' is not among the validation metrics"); checked with the recipe now, naming the choices."""
    recipe = {"model": {"name": "rtmpose-t", "layout": "coco_wholebody", "input_size": [64, 64]},
              "eval": {"interval": 1}}
    cfg = from_dict(RecipeCfg, recipe)
    with pytest.raises(ConfigError, match=r"^eval.metric: 'AP' is not a validation metric of layout 'coco_wholebody' "
                                          r"\(part.stat, e.g. wholebody.AP; parts: body, foot, .*; stats: AP, AP50"):
        get_task(cfg).check(cfg)
    for layout, metric in (("coco_wholebody", "wholebody.AP"), ("coco_wholebody", "hand.AR"), ("coco", "AP"),
                           ("crowdpose", "AP_hard")):
        ok = from_dict(RecipeCfg, {**recipe, "model": {**recipe["model"], "layout": layout},
                                   "eval": {"interval": 1, "metric": metric}})
        get_task(ok).check(ok)
    unused = from_dict(RecipeCfg, {**recipe, "eval": {"interval": 0}})  # no validation: the metric is never read
    get_task(unused).check(unused)
    with pytest.raises(ConfigError, match=r"'wholebody.AP' is not a validation metric of layout 'coco' \(AP, AP50"):
        wrong = from_dict(RecipeCfg, {**recipe, "model": {**recipe["model"], "layout": "coco"},
                                      "eval": {"interval": 1, "metric": "wholebody.AP"}})
        get_task(wrong).check(wrong)


def test_a_demo_phase_runs_again_in_the_same_folder_with_another_recipe(tmp_path):
    """``kdpose demo`` rerun with the same --out and another seed (or after a stop before the first checkpoint):
    each phase starts again in its folder instead of being refused as another recipe's run."""
    from kdpose.demo.training import train_phase

    recipe = tiny_recipe("topdown", tmp_path)
    recipe["eval"] = {**recipe["eval"], "interval": 0}   # no validation: the point is the folder
    first = train_phase("student", recipe, tmp_path / "student", "first")
    assert first.weights.is_file()
    (tmp_path / "student" / "last.pt").unlink()   # as a demo stopped before its first checkpoint leaves it
    again = train_phase("student", {**recipe, "train": {**recipe["train"], "seed": 1}}, tmp_path / "student", "again")
    saved = load_recipe(tmp_path / "student" / "config.yaml")
    assert again.weights.is_file() and saved.train.seed == 1
