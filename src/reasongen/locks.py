"""Writes that lose nothing: whole-or-nothing text files (`write_atomic`), and one writer per output folder: a lock that a second run into the same folder is refused by, and
that a killed run leaves behind only as a file the next run takes over.

The lock is an advisory `flock` on `FOLDER/.reasongen.lock`; the kernel drops it when its process
dies however it dies (SIGKILL included), so a stale lock file never blocks a later run. The file
holds the owner's pid, which the refusal names.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from pathlib import Path
from typing import Callable

LOCK_NAME = ".reasongen.lock"


class FolderBusy(ValueError):
    """Another live process holds the folder."""


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "run"):
    """Hold `folder` for this process while the block runs; refuse at once if another holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderBusy(f"{folder} is in use by another {what} (pid {owner}); wait for it to finish or choose another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the flock; the file stays for the next run to take over


def holds_folder(what: str):
    """A function whose first argument is the folder it writes runs holding that folder's lock
    (`folder_lock`): a data builder that a second run into the same folder must not interleave with."""

    def wrap(fn):
        @functools.wraps(fn)
        def locked(folder, *args, **kwargs):
            with folder_lock(folder, what):
                return fn(folder, *args, **kwargs)

        return locked

    return wrap


def write_atomic(path: Path, content: str | Callable[[Path], object]) -> None:
    """A file written whole or not at all (a temporary name renamed into place), so that a run killed
    or stopped by a full disk never leaves half a file under the name. `content` is the text, or a
    function that writes the file at the path it is given, for files another library writes
    (`lambda tmp: save_file(tensors, tmp)`). A temporary file a killed run left is overwritten."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if callable(content):
            content(tmp)
        else:
            tmp.write_text(content, encoding="utf-8")
    except BaseException:  # a failed write (a full disk) or an interrupt leaves no temporary file
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
