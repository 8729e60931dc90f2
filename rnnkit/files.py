"""Local files: the guard every file rnnkit reads passes, and the temporary names it writes through.

Only regular files are read: after symlinks are resolved, a directory, a FIFO (which would block
the reader forever), a device such as ``/dev/zero`` (which never ends), a socket, a symlink loop
or a name the file system refuses is one error line naming the path, raised as the error class of
the caller's role (config 2, data 3, run folder 4, output 5). Files are written to a temporary
sibling and renamed into place; the sibling's name carries the writer's pid, so that a later run
can tell the leftovers of a killed process from a file another live process is still writing.
This module imports nothing else from rnnkit but its errors.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path

from rnnkit.errors import RnnkitError

NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
_TEMPORARY = re.compile(r"^\..*\.tmp-(\d+)(\.[^.]*)?$")


def file_kind(path: str | Path) -> str | None:
    """What ``path`` is when it is not a regular file ("a directory", "a FIFO (named pipe)", ...);
    None for a regular file. Symlinks are followed.

    Raises:
        FileNotFoundError: nothing is there.
        OSError: a symlink loop, a name too long, or no permission to look.
    """
    mode = os.stat(path).st_mode
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def regular_file(path: str | Path, error: type[RnnkitError], what: str, *, max_bytes: int | None = None) -> Path:
    """Check that ``path`` is an existing regular file (after symlinks), optionally of at most ``max_bytes``.

    Args:
        path: the file.
        error: the error class of the caller's role (ConfigError, DataError, RunError, ...).
        what: how messages name the file, e.g. "config file" or "data file".
        max_bytes: the largest size accepted.

    Returns:
        ``path`` as a Path.

    Raises:
        error: missing, not a regular file, unreadable, or too large; one line naming the path.
    """
    path = Path(path)
    try:
        kind = file_kind(path)
        size = path.stat().st_size
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {describe_os_error(exc)}") from None
    if kind is not None:
        raise error(f"{path}: is {kind}; expected a {what} (a regular file)")
    if max_bytes is not None and size > max_bytes:
        raise error(f"{path}: {what} is {size:,} bytes; at most {max_bytes:,} are read")
    return path


def describe_os_error(exc: OSError) -> str:
    """One readable phrase for an OSError, with names for the cases users meet."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENAMETOOLONG:
        return f"file name too long (at most {NAME_MAX} bytes per name)"
    if exc.errno == errno.ENOSPC:
        return "disk full"
    return exc.strerror or str(exc)


def temporary_sibling(path: str | Path, suffix: str | None = None) -> Path:
    """The temporary file (or folder) that ``path`` is written to before the rename into place.

    Same folder (so the rename is atomic), same suffix (Keras insists on ".keras"), and the
    writer's pid in the name (:func:`remove_dead_temporaries`). A name near the file-system limit
    is shortened, with a hash of the whole name, so that the temporary name stays legal wherever
    the final one is.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    stem = path.name[: len(path.name) - len(suffix)] if suffix and path.name.endswith(suffix) else path.name
    tail = f".tmp-{os.getpid()}{suffix}"
    name = f".{stem}{tail}"
    if len(name.encode("utf-8")) > NAME_MAX:
        digest = hashlib.sha256(path.name.encode("utf-8")).hexdigest()[:12]
        room = NAME_MAX - len(f".~{digest}{tail}".encode())
        short = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
        name = f".{short}~{digest}{tail}"
    return path.with_name(name)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries so a rename survives a power cut (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (a SavedModel written by TensorFlow) before it is
    renamed into place."""
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb+") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(folder))


def writer_pid(path: Path) -> int | None:
    """The pid in a temporary name made by :func:`temporary_sibling`, or None for any other name."""
    match = _TEMPORARY.match(path.name)
    return int(match.group(1)) if match else None


def remove_dead_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` whose writer is no longer running.

    A process killed with SIGKILL cannot clean up after itself; its pid names its leftovers. A
    temporary of a live process (another ``rnnkit predict`` writing beside this one) is left alone.
    Best effort: what cannot be listed or removed stays.
    """
    import shutil

    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = writer_pid(entry)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OverflowError:
        return False
    return True
