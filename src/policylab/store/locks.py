"""Advisory file locks that say who holds them.

A lock is ``fcntl.flock`` on a small file; after taking it the holder writes its pid,
command and start time there, so a process that finds the lock taken can name the
holder. The kernel drops the lock when the holder dies (even by SIGKILL), so a crash
never leaves a stale lock behind: the file may still hold the dead holder's details,
but nobody holds the lock.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from policylab.store.errors import StoreLockedError

NOTICE_AFTER = 2.0  # seconds of waiting before a waiter is told who holds the lock (brief waits are normal)


def describe_holder(path: Path) -> str:
    """The holder's details as written in the lock file, for messages."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process (it has not written its details yet)"
    return f"pid {info.get('pid')} on {info.get('host')} (`{info.get('command')}`, since {info.get('since')})"


class FileLock:
    """An exclusive lock on ``path``; ``what`` names the thing it protects in messages."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.fd: int | None = None

    def acquire(self, timeout: float | None = 60.0, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to ``timeout`` seconds (None: for ever; 0: not at all).

        ``on_wait`` is told who holds the lock once, if the wait lasts ``NOTICE_AFTER`` seconds.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        delay, told = 0.01, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = describe_holder(self.path)
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    waited = f" after waiting {timeout:g} s" if timeout else ""
                    raise StoreLockedError(f"{self.what} is locked by {holder}{waited}; "
                                           "try again when it finishes, or stop that process") from None
                if on_wait is not None and not told and time.monotonic() - began >= NOTICE_AFTER:
                    on_wait(f"waiting for {self.what}, locked by {holder}")
                    told = True
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:300],
                "since": dt.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def is_locked_elsewhere(self) -> bool:
        """Whether another process holds the lock now (without taking it)."""
        if self.fd is not None or not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock taken just now
        return False

    @contextmanager
    def hold(self, timeout: float | None = 60.0, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        self.acquire(timeout, on_wait)
        try:
            yield
        finally:
            self.release()
