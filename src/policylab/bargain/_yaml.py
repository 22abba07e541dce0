"""Line numbers for validation errors in the bargaining package's YAML files."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def line_of(doc: Any, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node of ``loc`` present in the parsed YAML (1 if none)."""
    node, line = doc, 1
    for key in loc:
        lc = getattr(node, "lc", None)
        if isinstance(node, dict) and key in node:
            if lc is not None:
                line = lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, dict) and isinstance(key, str) and any(str(k) == key for k in node):
            real = next(k for k in node if str(k) == key)
            if lc is not None:
                line = lc.key(real)[0] + 1
            node = node[real]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            if lc is not None:
                line = lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def validation_message(err: ValidationError, doc: Any, file: str) -> str:
    """Pydantic errors as `file:line: key: message` lines (at most ten)."""
    lines = []
    for item in err.errors()[:10]:
        loc = tuple(item["loc"])
        key = ".".join(str(k) for k in loc) or "(top level)"
        where = f"{file}:{line_of(doc, loc)}"
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key {key!r}")
        elif item["type"] == "missing":
            lines.append(f"{where}: {key} is required but missing")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {key}: {msg}")
    more = len(err.errors()) - 10
    if more > 0:
        lines.append(f"... and {more} more problems")
    return "\n".join(lines)
