import subprocess
import sys

from kdpose.cli.main import COMMANDS, build_parser, main


def test_help_lists_every_subcommand(capsys):
    parser = build_parser()
    text = parser.format_help()
    for modname in COMMANDS:
        from importlib import import_module

        assert import_module(f"kdpose.cli.{modname}").NAME in text


def test_every_subcommand_has_help_with_examples():
    from importlib import import_module

    for modname in COMMANDS:
        mod = import_module(f"kdpose.cli.{modname}")
        proc = subprocess.run([sys.executable, "-m", "kdpose", mod.NAME, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "example" in proc.stdout.lower(), f"'kdpose {mod.NAME} --help' shows no examples"


def test_unknown_subcommand_fails():
    proc = subprocess.run([sys.executable, "-m", "kdpose", "nope"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "invalid choice" in proc.stderr


def test_the_exit_statuses_kdpose_help_lists_are_the_ones_returned():
    import signal

    from kdpose.cli.main import EPILOG, guarded
    from kdpose.errors import ConfigError, TrainingStopped

    lines = EPILOG.split("exit status:")[1].splitlines()
    listed = {int(line.split()[0]) for line in lines if line[:5].strip().isdigit()}
    assert listed == {0, 1, 2, 130, 143}

    def raises(exc):
        def run():
            raise exc
        return run

    assert guarded(lambda: None) == 0 and guarded(lambda: 1) == 1
    assert guarded(raises(ConfigError("bad"))) == 2
    assert guarded(raises(KeyboardInterrupt())) == 130
    assert guarded(raises(TrainingStopped("stopped", signal.SIGINT))) == 130
    assert guarded(raises(TrainingStopped("stopped", signal.SIGTERM))) == 143
    proc = subprocess.run([sys.executable, "-m", "kdpose", "infer"], capture_output=True, text=True)  # argparse's
    assert proc.returncode == 2 and "kdpose infer: error:" in proc.stderr
