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
