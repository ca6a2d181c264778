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


def test_a_folder_that_cannot_be_made_is_reported_for_the_file_asked_for(tmp_path):
    from kdpose.utils.entry import os_error_message

    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        write_json(tmp_path / "f" / "sub" / "m.json", {})
    assert os_error_message(info.value) == (f"{tmp_path / 'f' / 'sub' / 'm.json'}: cannot write it: "
                                            f"{tmp_path / 'f'} is a file, not a folder")


def test_errors_of_the_temp_file_name_the_destination_not_the_temp_file(tmp_path, monkeypatch):
    import errno
    import tempfile

    from kdpose.utils.entry import os_error_message

    def denied(prefix, suffix, dir):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, f"{prefix}x1{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as info:
        write_json(tmp_path / "m.json", {})
    assert os_error_message(info.value) == f"{tmp_path / 'm.json'}: permission denied"


def test_a_full_disk_while_writing_names_the_file_and_leaves_no_temp(tmp_path):
    import errno

    from kdpose.utils.entry import os_error_message

    with pytest.raises(OSError) as info:
        with atomic_write(tmp_path / "w.bin") as f:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert os_error_message(info.value) == f"{tmp_path / 'w.bin'}: no space left on device"
    assert list(tmp_path.iterdir()) == []
