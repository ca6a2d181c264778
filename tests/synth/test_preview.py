"""python -m kdpose.data.synth.preview: one scene with its annotations drawn; bad values are one-line errors."""
from __future__ import annotations

import cv2
import pytest

from kdpose.data.synth.preview import main


def test_preview_writes_the_scene_at_the_asked_size(tmp_path):
    out = tmp_path / "p.png"
    assert main([str(out), "--size", "160x120", "--seed", "3", "--max-people", "1"]) == 0
    image = cv2.imread(str(out))
    assert image.shape == (120, 160, 3) and image.std() > 0


@pytest.mark.parametrize("args, problem", [
    (["--seed", "-1"], "seed must be an integer >= 0, got -1"),   # numpy's traceback before
    (["--size", "0x5"], "image size must be positive"),
    (["--distance", "a,b"], "bad --distance 'a,b'"),
    (["--index", "-2"], "--index must be >= 0, got -2"),
])
def test_preview_bad_values_are_one_line_errors(args, problem, tmp_path, capsys):
    assert main([str(tmp_path / "p.png"), "--size", "160x120", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("preview: error: ") and problem in err and "\n" not in err
    assert not (tmp_path / "p.png").exists()


def test_preview_unwritable_output_is_one_line(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("a file, not a folder")
    for out, problem in [(tmp_path / "p.xyz", "OpenCV cannot write this image format"),
                         (tmp_path / "f.txt" / "p.png", "f.txt")]:
        assert main([str(out), "--size", "160x120", "--max-people", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("preview: error: ") and problem in err and "\n" not in err, err
