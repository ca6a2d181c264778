"""Bad settings give one clear ConfigError (library and CLI)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kdpose.cli.main import main
from kdpose.data.synth import SynthConfig, parse_size, render_scene, write_coco_dataset
from kdpose.errors import ConfigError


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"width": 0}, "image size"),
        ({"height": -5}, "image size"),
        ({"layout": "hands"}, "unknown layout 'hands'"),
        ({"modality": "thermal"}, "unknown modality"),
        ({"max_people": 0}, "max_people"),
        ({"min_people": -1}, "min_people"),
        ({"min_people": 5, "max_people": 4}, "min_people"),
        ({"occlusion": 1.5}, "occlusion must be in [0, 1]"),
        ({"distance_range": (5.0, 2.0)}, "distance_range"),
        ({"jpeg_quality": (0, 90)}, "jpeg_quality"),
        ({"background_dir": "/nonexistent/folder"}, "background folder does not exist"),
    ],
)
def test_bad_settings_raise_config_error(changes, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SynthConfig(**changes).validated()
    with pytest.raises(ConfigError):
        render_scene(SynthConfig(**changes), seed=0)


def test_parse_size():
    assert parse_size("640x480") == (640, 480)
    for bad in ("0x480", "640", "axb", "-1x5"):
        with pytest.raises(ConfigError):
            parse_size(bad)


def test_negative_image_count_and_unknown_split(tmp_path):
    with pytest.raises(ConfigError, match="number of images must be >= 0"):
        write_coco_dataset(tmp_path, SynthConfig(width=32, height=32), -1)
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        write_coco_dataset(tmp_path, SynthConfig(width=32, height=32), 1, split="dev")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--images", "2", "--size", "0x480"], "image size must be positive"),
        (["--images", "-3"], "--images must be >= 1"),
        (["--images", "0"], "--images must be >= 1"),
        (["--images", "2", "--layout", "body25"], "unknown layout 'body25'"),
        (["--images", "2", "--modality", "ir"], "unknown modality 'ir'"),
    ],
)
def test_cli_bad_settings(tmp_path, capsys, argv, message):
    assert main(["synth", "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdpose: error: synth:") and message in err
    assert "Traceback" not in err


def _cli_config(argv, monkeypatch):
    """The SynthConfig that ``kdpose synth ARGV`` would render with (write_coco_dataset intercepted)."""
    import argparse
    import tempfile

    from kdpose.cli import synth as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    seen = {}

    def fake_write(out, cfg, images, **kwargs):
        seen["cfg"] = cfg
        path = Path(out) / "x.json"  # what the CLI reads back: the split's info (no image failed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"info": {}}')
        return path

    monkeypatch.setattr("kdpose.data.synth.write_coco_dataset", fake_write)
    with tempfile.TemporaryDirectory() as out:
        cli.run(parser.parse_args(["--out", out, "--images", "1", *argv]))
    return seen["cfg"]


def test_cli_defaults_match_the_library_defaults(monkeypatch):
    # no --preset: the hard preset, which is the library's defaults, unchanged
    assert _cli_config([], monkeypatch) == SynthConfig()
    assert SynthConfig.from_preset("hard") == SynthConfig()


def test_cli_preset_and_single_knobs(monkeypatch):
    from kdpose.data.synth import PRESETS

    standard = _cli_config(["--preset", "standard"], monkeypatch)
    assert standard == SynthConfig.from_preset("standard")
    for key, value in PRESETS["standard"].items():
        assert getattr(standard, key) == value
    # a single knob overrides the preset's value and keeps the rest
    tuned = _cli_config(["--preset", "standard", "--occlusion", "0", "--heading", "1"], monkeypatch)
    assert (tuned.occlusion, tuned.heading, tuned.min_label_area) == (0.0, 1.0, standard.min_label_area)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown preset 'easy' .*valid: hard, standard"):
        SynthConfig.from_preset("easy")
