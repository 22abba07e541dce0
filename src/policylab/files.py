"""Reading files PolicyLab does not trust: opened once, regular files only, never more than a cap.

A size check after ``Path.read_bytes()`` comes too late: a symlink to ``/dev/zero``
or a sparse file of gigabytes is read whole before it can be refused, and a FIFO
blocks ``open`` forever. So the file is opened without blocking, checked through
its own descriptor (no race with a swapped path), and read to at most ``limit + 1``
bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from policylab.errors import UnreadableFileError
from policylab.limits import Limit


def read_capped(path: str | Path, cap: Limit, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path``; UnreadableFileError when it is anything else or over ``cap``."""
    file = Path(path)
    limit = cap.value()
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file, flags)
    except OSError as err:
        raise UnreadableFileError(f"{file}: cannot read the {what} ({err.strerror or err}); check the path") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(f"{file}: the {what} is not a regular file ({_kind(info.st_mode)}); "
                                      f"give the path of a file on disk")
        if info.st_size > limit:
            raise UnreadableFileError(_too_big(file, what, cap, f"{info.st_size:,} bytes"))
        chunks: list[bytes] = []
        left = limit + 1  # one byte more than allowed tells a file that grew past the limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as err:
        raise UnreadableFileError(f"{file}: cannot read the {what} ({err.strerror or err})") from err
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnreadableFileError(_too_big(file, what, cap, f"over {limit:,} bytes"))
    return data


def _too_big(file: Path, what: str, cap: Limit, size: str) -> str:
    return f"{file}: the {what} is {size}, over the limit; {cap.hint()}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def within(folder: Path, candidate: Path) -> bool:
    """True when ``candidate``, with every symlink resolved, lies inside ``folder`` (also resolved)."""
    try:
        return candidate.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return False
