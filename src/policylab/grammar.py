"""Counts in messages: "1 stock", "2 stocks", "1 feedback loop" — one rule, used by every output."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and the noun in the right number (``many`` for irregular plurals, else noun + s)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"
