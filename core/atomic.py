"""One way to write a file: whole or not at all.

Every file the project writes (CLI exports, uploads, benchmark results) goes through
`write_atomic`: the content is written to a temp file in the target's own folder, then renamed
over the target with `os.replace`, which is atomic on one file system. A reader sees the old
file or the new one, never half of one; a write that fails (an exception in `write_fn`, a full
disk, Ctrl-C) leaves the old file untouched and removes its temp file.

No fsync: a process killed at any moment is covered by the rename alone; only a power cut could
lose the newest version, the same stance as the run store (core/store.py).
"""
from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def _open_temp(folder: str, name: str, perms: int) -> tuple[int, str]:
    # O_EXCL with a random name, like mkstemp, but created with `perms` so that the kernel
    # applies the umask itself (reading the umask means setting it, which is not thread-safe).
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, perms), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name next to {os.path.join(folder, name)}")


def write_atomic(path: str | os.PathLike, write_fn: Callable[[IO[Any]], Any], mode: str = "w", *,
                 perms: int | None = None) -> None:
    """Call write_fn(file) on a temp file beside `path`, then rename it to `path`.

    mode: "w" (text: UTF-8, newlines written as given, so csv/pandas control them) or "wb".
    perms: the new file's permission bits; None = an existing file's own, else what a plain
    open() would give (0o666 less the umask). A symlink is followed: the file it points to is
    replaced, not the link.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    if perms is None:  # keep an existing file's bits; a new one gets 0o666 less the umask (os.open)
        with contextlib.suppress(FileNotFoundError):
            perms = os.stat(target).st_mode & 0o777
    fd, tmp = _open_temp(folder, name, 0o666 if perms is None else perms)
    try:
        kw = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with os.fdopen(fd, mode, **kw) as fh:
            if perms is not None:
                os.fchmod(fh.fileno(), perms)  # not less the umask: exactly these bits
            write_fn(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str, *, perms: int | None = None) -> None:
    write_atomic(path, lambda fh: fh.write(text), "w", perms=perms)


def write_bytes(path: str | os.PathLike, data: bytes, *, perms: int | None = None) -> None:
    write_atomic(path, lambda fh: fh.write(data), "wb", perms=perms)
