"""atomic_write: all-or-nothing replacement, and the permissions a user expects."""
from __future__ import annotations

import os
import stat

import pytest

from kdpose.utils.io import atomic_write, write_json


def test_replaces_the_file_and_leaves_no_temp_behind(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert path.read_text() == '{"a": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"partial")
            raise RuntimeError("crash")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]


def test_new_files_get_umask_permissions_and_replaced_files_keep_theirs(tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.txt"
        with atomic_write(new, "w") as f:
            f.write("x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        assert stat.S_IMODE(new.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
        os.chmod(new, 0o600)
        with atomic_write(new, "w") as f:
            f.write("y")
        assert stat.S_IMODE(new.stat().st_mode) == 0o600
    finally:
        os.umask(old)
