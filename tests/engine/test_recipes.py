"""Shipped recipes: their weights are pretrained tags or other runs' outputs (never repository paths), the headers
and docs/training.md state the epochs the files set, a missing start point or image folder is one clear error."""
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from kdpose.cli.main import main
from kdpose.engine.config import DataCfg, SplitCfg, load_recipe
from kdpose.errors import DataError
from kdpose.models import PRETRAINED
from kdpose.tasks import build_model, build_task
from kdpose.tasks.topdown import load_samples

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def _weights_values(path: Path) -> dict[str, str]:
    raw = yaml.safe_load(path.read_text()) or {}
    model, distill = raw.get("model") or {}, raw.get("distill") or {}
    pairs = (("model.init_weights", model.get("init_weights")),
             ("distill.teacher_weights", distill.get("teacher_weights")))
    return {key: value for key, value in pairs if value}


@pytest.mark.parametrize("recipe", CONFIGS, ids=lambda p: p.name)
def test_recipe_weights_are_tags_or_user_files(recipe):
    settings = [ln for ln in recipe.read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert not [ln for ln in settings if "src/kdpose" in ln]
    for key, value in _weights_values(recipe).items():
        # a tag, or a file the user makes or fetches (another run's output, a downloaded checkpoint): never a file
        # of the repository, which is not there for an installed package or from another folder
        assert value in PRETRAINED or not (REPO / value).exists(), f"{recipe.name}: {key} = {value}"
        assert "assets" not in value, f"{recipe.name}: {key} = {value}"


def test_shipped_tags_load_the_shipped_files_from_any_folder(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    assets = REPO / "src" / "kdpose" / "assets"
    monkeypatch.chdir(tmp_path)   # recipes used to work only from the repository root
    cfg = load_recipe(REPO / "configs" / "dwpose_cpu_s1_s-t.yaml", ["train.device=cpu"])
    model = build_model(cfg.model)
    backbone = load_file(str(assets / "demo_student_rtmpose-t_backbone_coco.safetensors"))
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone[f"backbone.{name}"].to(value.dtype)), name
    teacher = build_task(cfg, model).teacher
    teacher = getattr(teacher, "model", teacher)   # FrozenTeacher wraps the network
    shipped = load_file(str(assets / "demo_teacher_rtmpose-s_coco.safetensors"))
    state = teacher.state_dict()
    assert set(shipped) <= set(state) and len(shipped) > 100
    assert all(torch.equal(state[k], v.to(state[k].dtype)) for k, v in shipped.items())


# "<N> epochs (stage 2 = the last <M>)" in a recipe header
HEADER_EPOCHS = re.compile(r"(\d+) epochs \(stage 2 = the last (\d+)\)")


@pytest.mark.parametrize("name", ["rtmpose-t_synth-body.yaml", "cspnext-t_udp_synth-body.yaml"])
def test_header_and_docs_state_the_recipe_epochs(name):
    path = REPO / "configs" / name
    cfg = load_recipe(path, [])
    header = "\n".join(ln for ln in path.read_text().splitlines() if ln.startswith("#"))
    stated = HEADER_EPOCHS.findall(header)
    assert stated == [(str(cfg.train.max_epochs), str(cfg.train.stage2_epochs))], stated
    assert not re.findall(r"\b(?!%d\b)\d+ epochs" % cfg.train.max_epochs, header)
    docs = (REPO / "docs" / "training.md").read_text()
    row = next(ln for ln in docs.splitlines() if ln.startswith(f"| `{name}`"))
    assert re.findall(r"(\d+) epochs", row) == [str(cfg.train.max_epochs)], row


def test_docs_first_example_runs_the_pretraining_first():
    docs = (REPO / "docs" / "training.md").read_text()
    block = docs.split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].split() for ln in block.strip().splitlines()]
    recipes = [c[2] for c in commands if c[:2] == ["kdpose", "train"]]
    first = load_recipe(REPO / recipes[0], [])
    assert not first.model.init_weights, "the first command needs no earlier run"
    later = load_recipe(REPO / "configs" / "rtmpose-t_synth-body.yaml", [])
    stage1 = Path(later.model.init_weights).parent.name
    assert recipes.index(f"configs/{stage1}.yaml") < recipes.index("configs/rtmpose-t_synth-body.yaml")


def test_missing_start_point_is_one_line_with_the_way_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    recipe = str(REPO / "configs" / "rtmpose-t_synth-body.yaml")
    assert main(["train", recipe, "--set", "train.device=cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "model.init_weights: work_dirs/cspnext-t_udp_synth-body/final.safetensors: no such weights file" in err
    assert "list_pretrained" in err
    assert not (tmp_path / ".kdpose_cache").exists()   # failed before rendering any data


def _coco_split(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    anns, imgs = [], []
    for i in range(3):
        cv2.imwrite(str(images / f"{i:06d}.jpg"), np.zeros((64, 48, 3), np.uint8))
        imgs.append({"id": i + 1, "file_name": f"{i:06d}.jpg", "width": 48, "height": 64})
        kpts = [v for k in range(17) for v in (10 + k, 20 + k, 2)]
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [5, 5, 30, 50], "area": 1500,
                     "iscrowd": 0, "num_keypoints": 17, "keypoints": kpts})
    ann = tmp_path / "annotations" / "train.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return ann


def test_wrong_img_dir_fails_at_build_time_naming_the_folder(tmp_path):
    ann = _coco_split(tmp_path)
    good = load_samples(DataCfg(), SplitCfg(ann_file=str(ann), img_dir=str(tmp_path / "images")), "train", "train")
    assert len(good[0]) == 3
    with pytest.raises(DataError, match=r"/nope: image folder not found \(data\.train\.img_dir"):
        load_samples(DataCfg(), SplitCfg(ann_file=str(ann), img_dir=str(tmp_path / "nope")), "train", "train")
    # no img_dir: the annotation file's folder, which holds no images
    with pytest.raises(DataError, match=r"annotations: none of the first 3 images .* \(e\.g\. 000000\.jpg\); "
                                        r"set data\.val\.img_dir"):
        load_samples(DataCfg(), SplitCfg(ann_file=str(ann)), "val", "eval")


def test_wrong_img_dir_through_the_cli_is_one_line(tmp_path, monkeypatch, capsys):
    ann = _coco_split(tmp_path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "model": {"name": "rtmpose-t", "layout": "coco", "input_size": [32, 32]},
        "data": {"layout": "coco", "train": {"ann_file": str(ann), "img_dir": str(tmp_path / "imgs")},
                 "workers": 0},
        "train": {"device": "cpu", "max_epochs": 1}, "eval": {"interval": 0}}))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{tmp_path / 'imgs'}: image folder not found" in err
