"""Variable-name canonicalisation: case-, space- and underscore-insensitive, as in XMILE."""

from __future__ import annotations

import re
from functools import lru_cache

_SEPARATORS = re.compile(r"(?:\\n|[\s_])+")


@lru_cache(maxsize=8192)  # a run canonicalises every parameter it sets, up to a hundred, each call
def canonical(name: str) -> str:
    """Return the canonical spelling: lower case, runs of spaces/underscores as one '_'."""
    text = name.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return _SEPARATORS.sub("_", text.strip().lower()).strip("_")


def element_name(name: str, key: tuple[str, ...]) -> str:
    """The variable holding element ``key`` of array ``name`` (``name[a,b]``, the CSV column too)."""
    return f"{name}[{','.join(key)}]"


def free_name(wanted: str, *taken: dict[str, object], separator: str = "") -> str:
    """``wanted``, or ``wanted`` + separator + the first number from 2 that none of ``taken`` holds (for derived
    variables a reader adds: a graphical function's table, a Vensim level's net flow)."""
    name, number = wanted, 1
    while any(name in names for names in taken):
        number += 1
        name = f"{wanted}{separator}{number}"
    return name
