"""The ``python -m kdpose.<module>`` tools end like the ``kdpose`` command: a user's mistake is one line on stderr
and exit code 2, never a traceback (kdpose.utils.entry.guarded)."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args, says", [
    (["kdpose.tasks.accuracy", "cspnext-t-udp.synth-demo-backbone_96x64"], "declares no accuracy check"),
    (["kdpose.tasks.accuracy", "no-such-model.tag"], "no-such-model.tag"),
    (["kdpose.tasks.ship", "/nonexistent/run", "--tag", "x"], "/nonexistent/run"),
])
def test_a_tool_reports_a_mistake_in_one_line(args, says):
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdpose: error: ") and says in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_guarded_turns_errors_into_exit_codes(capsys):
    from kdpose.errors import ConfigError
    from kdpose.utils.entry import guarded

    def fail():
        raise ConfigError("recipe.yaml: train.max_epochs: expected an integer")

    assert guarded(fail) == 2
    assert capsys.readouterr().err == "kdpose: error: recipe.yaml: train.max_epochs: expected an integer\n"

    def missing():
        raise FileNotFoundError(2, "No such file or directory", "weights.safetensors")

    assert guarded(missing) == 2
    assert capsys.readouterr().err == "kdpose: error: weights.safetensors: no such file or directory\n"
    assert guarded(lambda: 3) == 3 and guarded(lambda: None) == 0
    with pytest.raises(ZeroDivisionError):  # a bug is not hidden
        guarded(lambda: 1 / 0)
