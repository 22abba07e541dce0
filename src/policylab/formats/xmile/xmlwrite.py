"""A small, deterministic XML emitter for the writer (escaping that survives re-reading exactly)."""

from __future__ import annotations

from dataclasses import dataclass, field

_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR = {**_TEXT, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(char, char) for char in text)


@dataclass
class Element:
    """An element to write: qualified tag, attributes (in insertion order), text, children."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    children: list[Element] = field(default_factory=list)

    def add(self, tag: str, text: str | None = None, **attrs: str) -> Element:
        """Append and return a child element."""
        child = Element(tag, dict(attrs), text)
        self.children.append(child)
        return child


def serialize(root: Element) -> str:
    """The document as text, with an XML declaration and two-space indentation."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    _write(root, 0, lines)
    return "\n".join(lines) + "\n"


def _write(element: Element, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    attrs = "".join(f' {k}="{_escape(v, _ATTR)}"' for k, v in element.attrs.items())
    if not element.children and element.text is None:
        lines.append(f"{pad}<{element.tag}{attrs}/>")
        return
    if not element.children:
        lines.append(f"{pad}<{element.tag}{attrs}>{_escape(element.text or '', _TEXT)}</{element.tag}>")
        return
    lines.append(f"{pad}<{element.tag}{attrs}>" + (_escape(element.text, _TEXT) if element.text else ""))
    for child in element.children:
        _write(child, depth + 1, lines)
    lines.append(f"{pad}</{element.tag}>")
