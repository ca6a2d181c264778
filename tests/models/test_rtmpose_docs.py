"""The documented RTMPose usage runs as written: the README "Models" snippet and the zoo module's doctest."""
from __future__ import annotations

import doctest
import re
from pathlib import Path

import kdpose.models.rtmpose

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_models_snippet_runs():
    text = README.read_text()
    section = text[text.index("## Models"):]
    section = section[:section.index("\n## ", 1)]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md#models", "exec"), scope)  # noqa: S102 (our own documentation)
    assert tuple(scope["out"].x.shape) == (1, 17, 384) and tuple(scope["keypoints"].shape) == (1, 17, 2)


def test_zoo_module_doctest():
    result = doctest.testmod(kdpose.models.rtmpose, verbose=False)
    assert result.attempted >= 2 and result.failed == 0
