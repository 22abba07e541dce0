"""Byte-level mutations shared by the readers' fuzz tests (XMILE and Vensim)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


def mutate(draw: st.DrawFn, text: bytes, fragments: Sequence[bytes]) -> bytes:
    """``text`` after one to four random flips, deletions, insertions of ``fragments``, truncations or duplications."""
    data = bytearray(text)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at: at + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(fragments))
        elif kind == "truncate":
            del data[at:]
        else:
            size = draw(st.integers(1, 200))
            data[at:at] = data[at: at + size]
    return bytes(data)
