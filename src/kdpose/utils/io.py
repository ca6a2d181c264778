"""Small I/O helpers shared by every subsystem."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, Mapping


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file (mkstemp makes 0600 files, surprising for reports and weights).
    Reads the umask from /proc where it can: setting it to read it back races with other threads."""
    try:
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def replace_keeping_mode(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the finished temp file ``tmp`` over ``path``, giving it the permissions of the file it replaces (a new
    one gets what ``open`` would give it; ``mkstemp`` made ``tmp`` 0600)."""
    try:
        mode = Path(path).stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = _new_file_mode()
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write ``path`` atomically: the data goes to a temp file in the same folder, which is fsync'ed and then
    renamed over ``path``. A crash at any moment leaves either the old file or the new one, never a partial one.
    The file keeps the permissions of the one it replaces (a new one gets what ``open`` would give it)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _aimed_at(exc, path) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        replace_keeping_mode(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, tmp):
            raise _aimed_at(exc, path) from None  # e.g. a full disk: name the file the user asked for
        raise


def _aimed_at(exc: OSError, path: Path) -> OSError:
    """The OSError of making ``path``'s folder or temp file, or of writing it, about ``path``: the temp file's name
    means nothing to the user, and "file exists" (``mkdir`` meeting a file) does not say which file is in the way."""
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return NotADirectoryError(errno.ENOTDIR, f"cannot write it: {blocker} is a file, not a folder", str(path))
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def write_json(path: str | os.PathLike, obj, indent: int | None = None) -> None:
    """Atomically write ``obj`` as JSON."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=indent)


def check_output_file(path: str | os.PathLike, flag: str, example: str = "metrics.json") -> None:
    """Refuse, before any work, an output path that names a folder, sits under a file, or lies in a folder this user
    cannot write (a missing folder is fine: :func:`atomic_write` creates it). ``flag`` is the option that named it
    (``--out``); ``example`` a file name to suggest when ``path`` is a folder.

    Raises:
        ConfigError: naming the path and what is wrong with it.
    """
    from ..errors import ConfigError

    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{out}: {flag} names a folder; give a file name (e.g. {out / example})")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{parent}: {flag} {out} lies under a file, not a folder")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{parent}: cannot write {flag} {out} there (permission denied)")
    _probe_folder(out.parent, flag, out)


def check_output_dir(path: str | os.PathLike, flag: str) -> None:
    """Refuse, before any work, an output folder that is a file, sits under a file, or lies in a folder this user
    cannot write (a missing folder is fine: it is created when written).

    Raises:
        ConfigError: naming the path and what is wrong with it.
    """
    from ..errors import ConfigError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: {flag} names a file; give a folder")
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{existing}: {flag} {out} lies under a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{existing}: cannot write {flag} {out} there (permission denied)")
    _probe_folder(out, flag, out)


def _probe_folder(folder: Path, flag: str, out: Path) -> None:
    """Create ``folder`` (and what is missing above it) and a file in it, then remove all that was created: the
    permission bits above do not tell of a read-only file system, a full disk or /proc (root may write anywhere
    by them), which otherwise showed only when the outputs were written, after all the work."""
    from ..errors import ConfigError

    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        finally:
            for made in missing:  # deepest first; only the folders this probe made (all empty)
                with contextlib.suppress(OSError):
                    made.rmdir()
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write {flag} there ({exc.strerror or exc})") from None


def safetensors_bytes(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """``safetensors.torch.save(tensors, metadata)`` with a header in a fixed order (metadata keys sorted, tensors
    by offset): safetensors writes its header from a hash map, so the same weights gave other bytes on every save
    and a checksum of a re-exported file changed. The header keeps its length (the same text, reordered)."""
    from safetensors.torch import save

    data = save(dict(tensors), metadata=dict(metadata) if metadata is not None else None)
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    ordered = {}
    if "__metadata__" in header:
        ordered["__metadata__"] = dict(sorted(header.pop("__metadata__").items()))
    ordered.update(sorted(header.items(), key=lambda item: (item[1]["data_offsets"][0], item[0])))
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(text) > size:  # another JSON escaping than safetensors': keep its own bytes rather than guess
        return data
    return data[:8] + text + b" " * (size - len(text)) + data[8 + size:]
