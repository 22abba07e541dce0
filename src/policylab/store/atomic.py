"""Atomic file writes: write a temporary file beside the target, flush it to disk, rename.

A reader (or a crash) sees either the old file or the complete new one, never a part.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _temp_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp)`` then move the temporary file onto ``target`` in one step."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_beside(target)
    try:
        write(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
    _fsync_dir(target.parent)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    write_atomic(target, lambda temp: temp.write_bytes(data))


def write_parquet_atomic(target: Path, table: pa.Table) -> None:
    write_atomic(target, lambda temp: pq.write_table(table, temp, compression="zstd"))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove_temporaries(folder: Path) -> None:
    """Delete temporary files a crashed writer left in ``folder`` (they were never renamed)."""
    for leftover in Path(folder).rglob(".*.tmp"):
        leftover.unlink(missing_ok=True)
