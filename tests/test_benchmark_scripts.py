"""The benchmark scripts end like kdpose's own commands: ``--help`` of every entry script works, bad input is one
``kdpose: error:`` line (or argparse's usage error) and exit code 2, never a traceback, and the modules that a driver
loads (``benchmarks/dwpose/standard.py``, ...) say in one line which command to run instead.

Nothing heavy runs: ``--help`` and the refused values stop before any work. The entry scripts run in ONE child
process (``python tests/test_benchmark_scripts.py --child``: each as ``__main__`` with its folder first on
``sys.path``, as ``python benchmarks/x.py`` runs it), so torch is imported once, not once per script (~2.5 s of CPU
each); the driver modules, and a few scripts as a check of that child, run as real subprocesses."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# modules loaded by their folder's run.py (_miniature.load_sibling): run alone, one line naming the command instead
MODULES = {
    "benchmarks/dwpose/standard.py": "python benchmarks/dwpose/run.py table4 table5 table6 table7 --scale standard",
    "benchmarks/distilpose/cpu.py": "python benchmarks/distilpose/run.py --scale cpu --seeds 0 1 2",
    "benchmarks/distilpose/standard.py": "python benchmarks/distilpose/run.py --scale standard --seeds 0 1 2",
    "benchmarks/sdpose/cpu.py": "python benchmarks/sdpose/run.py --scale cpu --tables 7 6 5",
    "benchmarks/sdpose/standard.py": "python benchmarks/sdpose/run.py --scale standard --tables 7 6 5",
}
HELPERS = {"benchmarks/_miniature.py", "benchmarks/pose_machines/common.py"}  # imported by the scripts, no command
FOLDERS = ("", "dwpose", "distilpose", "pose_machines", "rtmpose", "sdpose")
SCRIPTS = sorted(str(p.relative_to(REPO)) for folder in FOLDERS for p in (REPO / "benchmarks" / folder).glob("*.py")
                 if str(p.relative_to(REPO)) not in HELPERS | set(MODULES))
# (script, arguments, the start of the error line; {tmp}: the test's folder, which holds notes.txt, not JSON): a bad
# path, a file that is not JSON, an unknown name or tag, a negative count, an output under a file, a bad name form
BAD_INPUT = [
    ("benchmarks/ap_vs_error.py", ["{tmp}/missing.json"], "kdpose: error: {tmp}/missing.json: file not found"),
    ("benchmarks/ap_vs_error.py", ["{tmp}/notes.txt"], "kdpose: error: {tmp}/notes.txt: malformed JSON"),
    ("benchmarks/bench_rtmpose.py", ["--models", "rtmpose-t", "rtmpose-zz"],
     "kdpose: error: unknown model 'rtmpose-zz'"),
    ("benchmarks/bench_rtmpose.py", ["--json", "{tmp}/notes.txt/rows.json"],
     "kdpose: error: {tmp}/notes.txt: --json {tmp}/notes.txt/rows.json lies under a file, not a folder"),
    ("benchmarks/bench_train.py", ["--iters", "-3"], "bench_train.py: error: --iters must be >= 1, got -3"),
    ("benchmarks/learning_curve.py", ["{tmp}/no_run"], "kdpose: error: {tmp}/no_run: no such run folder"),
    ("benchmarks/teacher_report.py", ["nosuch.tag"], "kdpose: error: unknown pretrained weights 'nosuch.tag'"),
    ("benchmarks/bench_detector.py", ["eval", "{tmp}/none.safetensors", "--recipe", "r.yaml"],
     "kdpose: error: {tmp}/none.safetensors: no such weights file"),
    ("benchmarks/dwpose/run.py", ["table4", "--results", "{tmp}/notes.txt", "--dry-run"],
     "kdpose: error: {tmp}/notes.txt: malformed JSON"),
    ("benchmarks/pose_machines/speed.py", ["--archs", "mpm2"], "speed.py: error: --archs: 'mpm2' is not KIND-Ns"),
    ("benchmarks/sdpose/run.py", ["--scale", "standard", "--iters", "2"], "run.py: error: --iters: at least 5"),
]
# run as real subprocesses too: a top-level script, and one that imports siblings through its own sys.path lines
REAL = ["benchmarks/bench_rtmpose.py", "benchmarks/pose_machines/cpu_table1.py"]


def _nice() -> list[str]:
    return ["nice", "-n", "19"] if shutil.which("nice") else []  # out of the way of a training job on the machine


def _subprocess(script: str, args: list[str]) -> dict:
    out = subprocess.run([*_nice(), sys.executable, script, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    return {"rc": out.returncode, "stdout": out.stdout, "stderr": out.stderr}


def _run_in_child(cases: list[tuple[str, list[str]]]) -> list[dict]:
    out = subprocess.run([*_nice(), sys.executable, __file__, "--child", json.dumps(cases)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"the child process failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.splitlines()[-1])


def _problem(script: str, args: list[str], result: dict, expected: str | None) -> str | None:
    """Why ``result`` is not what the case should give (None when it is). ``expected``: the error line's start,
    or None for ``--help``."""
    shown = f"{script} {' '.join(args)}: exit {result['rc']}\n{result['stderr'][-2000:]}"
    if "Traceback" in result["stdout"] + result["stderr"]:
        return f"a traceback: {shown}"
    if script in MODULES:
        if result["rc"] != 2 or result["stderr"].count("\n") != 1 or MODULES[script] not in result["stderr"]:
            return f"not the one-line redirect to '{MODULES[script]}': {shown}"
    elif expected is None:
        if result["rc"] != 0 or "usage:" not in result["stdout"]:
            return f"--help failed: {shown}"
    else:
        last = result["stderr"].strip().splitlines()[-1] if result["stderr"].strip() else ""
        one_line = not expected.startswith("kdpose:") or result["stderr"].count("\n") == 1
        if result["rc"] != 2 or not last.startswith(expected) or not one_line:
            return f"not the one line '{expected}...': {shown}"
    return None


def test_every_entry_script_is_listed():
    # a new script lands in SCRIPTS by itself; a new helper module must be named in HELPERS or MODULES
    assert "benchmarks/bench_export.py" in SCRIPTS and "benchmarks/dwpose/run.py" in SCRIPTS
    assert "benchmarks/sdpose/run.py" in SCRIPTS and not [s for s in SCRIPTS if s.endswith("_miniature.py")]
    assert all((REPO / m).is_file() for m in [*MODULES, *HELPERS])
    assert {s for s, _, _ in BAD_INPUT} | set(REAL) <= set(SCRIPTS)


def test_driver_modules_name_the_command_to_run():
    # run alone they used to stop with a traceback: "No module named '_miniature'"
    problems = [_problem(module, ["--help"], _subprocess(module, ["--help"]), None) for module in MODULES]
    assert not any(problems), "\n\n".join(p for p in problems if p)


@pytest.mark.slow
def test_help_and_bad_input_without_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("not JSON\n")
    bad = [(script, [a.replace("{tmp}", str(tmp_path)) for a in args], expected.replace("{tmp}", str(tmp_path)))
           for script, args, expected in BAD_INPUT]
    cases = [(script, ["--help"], None) for script in SCRIPTS] + bad
    results = _run_in_child([(script, args) for script, args, _ in cases])
    problems = [_problem(script, args, result, expected) for (script, args, expected), result in zip(cases, results)]
    # the child runs each script as "python benchmarks/x.py" would; a few real ones confirm it
    for script in REAL:
        problems.append(_problem(script, ["--help"], _subprocess(script, ["--help"]), None))
    script, args, expected = bad[2]
    problems.append(_problem(script, args, _subprocess(script, args), expected))
    assert not any(problems), "\n\n".join(p for p in problems if p)


def test_a_failed_child_run_is_one_line(capsys):
    # the drivers train with subprocess.run(..., check=True): a failed run was a CalledProcessError traceback
    from kdpose.utils.entry import guarded

    cmd = [sys.executable, "-c", "raise SystemExit(3)"]
    assert guarded(lambda: subprocess.run(cmd, check=True)) == 3
    assert capsys.readouterr().err == f"kdpose: error: this command exited with code 3: {shlex.join(cmd)}\n"


def test_output_folder_checks(tmp_path):
    from kdpose.errors import ConfigError
    from kdpose.utils.io import check_output_dir

    (tmp_path / "f").write_text("")
    check_output_dir(tmp_path / "new" / "deeper", "--out")  # created when written
    with pytest.raises(ConfigError, match=f"^{tmp_path / 'f'}: --out names a file; give a folder$"):
        check_output_dir(tmp_path / "f", "--out")
    with pytest.raises(ConfigError, match=f"^{tmp_path / 'f'}: --work {tmp_path / 'f' / 'x'} lies under a file"):
        check_output_dir(tmp_path / "f" / "x", "--work")


def _child(cases: list[tuple[str, list[str]]]) -> list[dict]:
    """Child-process side: run each script as ``__main__`` with ``args`` (its folder first on ``sys.path``, as
    ``python benchmarks/x.py`` has it) and record its exit code and output; an exception that escapes the script is
    recorded as the traceback Python would print."""
    import contextlib
    import io
    import runpy
    import traceback

    results = []
    for script, args in cases:
        before, path_before, argv_before = set(sys.modules), list(sys.path), sys.argv
        stdout, stderr, rc = io.StringIO(), io.StringIO(), 0
        sys.argv = [str(REPO / script), *args]
        sys.path.insert(0, str((REPO / script).parent))
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                runpy.run_path(str(REPO / script), run_name="__main__")
        except SystemExit as exc:
            if isinstance(exc.code, str):  # raise SystemExit("message"): Python prints it, exit 1
                stderr.write(exc.code + "\n")
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 (recorded: the test reports it)
            stderr.write(traceback.format_exc())
            rc = 1
        finally:
            sys.path[:], sys.argv = path_before, argv_before
            for name in set(sys.modules) - before:  # siblings (common, cpu_table4, ...) differ per folder
                if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(REPO / "benchmarks")):
                    del sys.modules[name]
        results.append({"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()})
    return results


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    import warnings

    warnings.simplefilter("ignore")  # a library's warning is not the script's output
    print(json.dumps(_child([tuple(case) for case in json.loads(sys.argv[2])])))
