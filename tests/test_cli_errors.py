"""Everyday CLI mistakes end in one line ``kdpose: error: ...`` naming the path or the missing extra, exit 2, no
traceback (issue 24, "Errors a user meets every day")."""
import errno
import sys
from pathlib import Path

import pytest

import kdpose.cli.eval as eval_cmd
from kdpose.cli.main import main

RECIPE = str(Path(__file__).resolve().parents[1] / "configs" / "rtmpose-t_synth-body.yaml")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdpose: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_eval_out_naming_a_folder(tmp_path, capsys):
    # checked before the (slow) evaluation: --gt and --pred are never opened
    assert main(["eval", "--gt", "missing.json", "--pred", "missing.json", "--out", str(tmp_path)]) == 2
    line = _one_error_line(capsys)
    assert f"{tmp_path}: --out names a folder" in line


def test_eval_out_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["eval", "--gt", "g.json", "--pred", "p.json", "--out", str(tmp_path / "f" / "m.json")]) == 2
    assert f"{tmp_path / 'f'}: --out" in _one_error_line(capsys)


def test_train_work_dir_naming_a_file(tmp_path, capsys, monkeypatch):
    import kdpose.tasks as tasks

    monkeypatch.setattr(tasks, "train", lambda *a, **k: pytest.fail("training started"))
    (tmp_path / "run").write_text("not a folder")
    assert main(["train", RECIPE, "--work-dir", str(tmp_path / "run")]) == 2
    assert f"{tmp_path / 'run'}: the work dir is a file" in _one_error_line(capsys)
    assert main(["train", RECIPE, "--work-dir", str(tmp_path / "run" / "sub")]) == 2
    assert "lies under the file" in _one_error_line(capsys)
    # a folder that cannot be made (/proc; a read-only disk) failed only after the data and model were built
    assert main(["train", RECIPE, "--work-dir", "/proc/kdpose_run"]) == 2
    assert _one_error_line(capsys).startswith("kdpose: error: /proc/kdpose_run: cannot write the work dir there")
    assert not (tmp_path / "run2").exists()


def test_export_without_onnx(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", "rtmpose-t", "--out", str(tmp_path / "t.onnx")]) == 2
    line = _one_error_line(capsys)
    assert "'onnx'" in line and 'pip install "kdpose[onnx]"' in line
    assert not (tmp_path / "t.onnx").exists()


def test_export_without_onnxruntime_names_no_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["export", "rtmpose-t", "--out", str(tmp_path / "t.onnx")]) == 2
    line = _one_error_line(capsys)
    assert 'pip install "kdpose[onnx]"' in line and "--no-check" in line


@pytest.mark.parametrize("module, extra", [("onnx", "onnx"), ("onnxruntime", "onnx"), ("matplotlib", "report")])
def test_demo_without_an_extra_fails_before_training(module, extra, tmp_path, capsys, monkeypatch):
    # the demo trained for minutes, then failed at its ONNX phase or its report's charts
    import kdpose.demo as demo

    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: pytest.fail("the demo started"))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    line = _one_error_line(capsys)
    assert f"'{module}'" in line and f'pip install "kdpose[{extra}]"' in line and "kdpose demo" in line


def test_bench_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    import kdpose.export.bench as bench

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(bench, "bench_torch", lambda *a, **k: pytest.fail("measured before checking --plot"))
    assert main(["bench", "rtmpose-t", "--backend", "torch", "--ap", "rtmpose-t=1",
                 "--plot", str(tmp_path / "p.png")]) == 2
    line = _one_error_line(capsys)
    assert "--plot" in line and 'pip install "kdpose[report]"' in line


def test_bench_onnxruntime_missing_suggests_torch_backend(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["bench", "rtmpose-t"]) == 2
    line = _one_error_line(capsys)
    assert 'pip install "kdpose[onnx]"' in line and "--backend torch" in line


@pytest.mark.parametrize("code,reason", [(errno.EACCES, "permission denied"), (errno.EISDIR, "is a directory"),
                                         (errno.ENOTDIR, "not a directory"), (errno.ENOSPC, "no space left")])
def test_os_errors_become_one_line_naming_the_path(code, reason, capsys, monkeypatch):
    import os

    def failing_run(args):
        raise OSError(code, os.strerror(code), "/data/out/m.json")

    monkeypatch.setattr(eval_cmd, "run", failing_run)
    assert main(["eval", "--gt", "g.json", "--pred", "p.json"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("kdpose: error: /data/out/m.json: ") and reason in line.lower()


def test_os_error_of_a_rename_names_the_destination(capsys, monkeypatch):
    def failing_run(args):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", "/out/.m.json.x1.tmp", None, "/out/m.json")

    monkeypatch.setattr(eval_cmd, "run", failing_run)
    assert main(["eval", "--gt", "g.json", "--pred", "p.json"]) == 2
    assert _one_error_line(capsys) == "kdpose: error: /out/m.json: is a directory"


def test_missing_extra_imported_deep_inside(capsys, monkeypatch):
    def needs_tensorboard(args):
        import tensorboard.summary  # noqa: F401

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setattr(eval_cmd, "run", needs_tensorboard)
    assert main(["eval", "--gt", "g.json", "--pred", "p.json"]) == 2
    assert 'pip install "kdpose[logging]"' in _one_error_line(capsys)


def test_other_missing_modules_are_not_hidden(monkeypatch):
    def broken(args):
        import kdpose_no_such_module  # noqa: F401

    monkeypatch.setattr(eval_cmd, "run", broken)
    with pytest.raises(ModuleNotFoundError):
        main(["eval", "--gt", "g.json", "--pred", "p.json"])


@pytest.mark.parametrize("command", ["train", "distill"])
def test_resume_and_auto_resume_together_are_refused(command, capsys, monkeypatch):
    """Both flags: --auto-resume won and started a fresh run where --resume asked to continue one."""
    import kdpose.tasks as tasks

    monkeypatch.setattr(tasks, "train", lambda *a, **k: pytest.fail("training started"))
    try:
        code = main([command, RECIPE, "--resume", "--auto-resume"])
    except SystemExit as exc:  # argparse's usage error
        code = exc.code
    assert code == 2
    assert "argument --auto-resume: not allowed with argument --resume" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["infer", "x.jpg", "--model", "rtmpose-t", "--out", "/proc/kdpose_out"],
    ["eval", "--gt", "g.json", "--pred", "p.json", "--out", "/proc/kdpose_out/m.json"]])
def test_an_out_that_cannot_be_written_is_refused_before_the_work(command, capsys):
    """/proc passes the permission bits for root: infer ran the whole job, eval printed its table, and only then
    came "no such file or directory"; now the folder is tried first (nothing is loaded: x.jpg and g.json do not
    exist)."""
    assert main(command) == 2
    line = _one_error_line(capsys)
    assert "/proc/kdpose_out" in line and "--out" in line


def test_a_read_only_out_folder_is_refused_and_the_probe_leaves_nothing(tmp_path, monkeypatch):
    import tempfile

    from kdpose.errors import ConfigError
    from kdpose.utils.io import check_output_dir, check_output_file

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    check_output_dir(tmp_path / "a" / "b", "--out")
    check_output_file(tmp_path / "c" / "m.json", "--out")
    assert sorted(tmp_path.iterdir()) == []  # the folders the probe made are gone
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(ConfigError, match=r"a/b: cannot write --out there \(Read-only file system\)"):
        check_output_dir(tmp_path / "a" / "b", "--out")
    with pytest.raises(ConfigError, match=r"m\.json: cannot write --json there \(Read-only file system\)"):
        check_output_file(tmp_path / "c" / "m.json", "--json")
    assert sorted(tmp_path.iterdir()) == []


def test_eval_of_a_list_as_ground_truth_says_what_a_list_may_be(tmp_path, capsys):
    (tmp_path / "mpii.json").write_text('[{"image": "a.jpg", "joints": [], "joints_vis": []}]')
    (tmp_path / "pred.json").write_text("[]")
    assert main(["eval", "--gt", str(tmp_path / "mpii.json"), "--pred", str(tmp_path / "pred.json")]) == 2
    line = _one_error_line(capsys)
    assert "mpii.json: expected a COCO annotation object, got a list (a results file, or MMPose's MPII JSON" in line
