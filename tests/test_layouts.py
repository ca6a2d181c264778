"""kdpose.layouts: one name (aliases resolved once) -> skeleton, reader, protocol, limbs; recipes carry one layout."""
from __future__ import annotations

import json

import pytest

from kdpose.engine.config import RecipeCfg, load_recipe, recipe_layout
from kdpose.errors import ConfigError, UnknownNameError
from kdpose.layouts import LAYOUTS, bottom_up_layouts, get_layout, list_layouts
from kdpose.skeletons import get_skeleton


@pytest.mark.parametrize("alias,name", [("wholebody", "coco_wholebody"), ("coco_wholebody", "coco_wholebody"),
                                        ("body", "coco"), ("coco", "coco"), ("dih", "dih")])
def test_aliases_resolve_to_one_layout(alias, name):
    layout = get_layout(alias)
    assert layout.name == name and layout is get_layout(name)
    assert layout.skeleton is get_skeleton(alias)


@pytest.mark.parametrize("name", sorted(LAYOUTS.names()))
def test_every_layout_has_a_skeleton_and_consistent_limbs(name):
    layout = get_layout(name)
    k = layout.skeleton.num_keypoints
    assert all(0 <= a < k and 0 <= b < k for a, b in layout.limbs)
    assert all(0 <= i < k for i in layout.upper_body)


def test_the_depth_papers_layout_is_registered():
    dih = get_layout("dih")
    assert dih.num_keypoints == 17 and len(dih.limbs) == 16 and dih.skeleton.keypoint_names[0] == "neck"
    assert set(bottom_up_layouts()) == {"coco", "dih"}
    assert "dih" in list_layouts()
    with pytest.raises(ConfigError, match="PCK precision / recall"):
        dih.evaluate("gt.json", [])
    with pytest.raises(ConfigError, match="limb tree"):
        get_layout("hand").require_limbs()
    with pytest.raises(ConfigError, match="synthetic generator renders"):
        get_layout("crowdpose").synthetic_name()
    with pytest.raises(UnknownNameError, match="did you mean"):
        get_layout("wholebdy")


def test_reader_and_protocol_follow_the_layout(tmp_path):
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 80], "area": 4000,
                           "iscrowd": 0, "num_keypoints": 17,
                           "keypoints": [v for i in range(17) for v in (20 + i, 20 + 3 * i, 2)]}],
          "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    samples = get_layout("body").read_annotations(path, mode="eval")
    assert len(samples) == 1 and samples[0].keypoints.shape == (17, 2)
    results = [{"image_id": 1, "category_id": 1, "score": 1.0,
                "keypoints": [v for i in range(17) for v in (20 + i, 20 + 3 * i, 1.0)]}]
    assert get_layout("coco").evaluate(str(path), results)["AP"] == pytest.approx(1.0)


def test_a_recipe_has_one_layout(tmp_path):
    cfg = RecipeCfg()
    cfg.model.layout = "coco_wholebody"
    assert recipe_layout(cfg).name == "coco_wholebody" and cfg.data.layout == "coco_wholebody"  # filled
    cfg.data.layout = "wholebody"  # an alias of the same layout is fine
    assert recipe_layout(cfg).name == "coco_wholebody"
    cfg.data.layout = "coco"
    with pytest.raises(ConfigError, match="data.layout 'coco' disagrees with model.layout 'coco_wholebody'"):
        recipe_layout(cfg)
    path = tmp_path / "r.yaml"
    path.write_text("model:\n  layout: coco\ndata:\n  layout: crowdpose\n")
    with pytest.raises(ConfigError, match=f"{path}: data.layout 'crowdpose' disagrees"):
        load_recipe(path)
    path.write_text("model:\n  layout: coco_wholebody\n")
    assert load_recipe(path).data.layout == "coco_wholebody"
