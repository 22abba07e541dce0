"""Encode IR dataclasses as PolicyLab extension elements, and decode them back.

One rule for every record, so fields the IR gains later travel too: a dataclass becomes
an element whose scalar fields are attributes (numbers written with ``repr``, so they
read back bit for bit; tuples of numbers space-separated) and whose record fields
(``Schedule``, ``tuple[Evidence, ...]``, ``dict[str, Scenario]``...) are child elements
named after the field. ``where`` (a ``Location``) is not written: on reading it is the
position in the XMILE file. Expressions are not written here; XMILE's ``<eqn>`` holds them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from functools import lru_cache
from typing import Any, Literal, Union

from policylab.errors import Location, ModelFileError
from policylab.formats.xmile._xml import Node
from policylab.formats.xmile.xmlwrite import Element

_NONE = type(None)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _options(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(tp)
    return (tp,)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return " ".join(_scalar_text(v) for v in value)
    return str(value)


def _nested_type(tp: Any) -> Any | None:
    """The record type a field holds (alone, in a tuple, or as dict values), or None for scalars."""
    for option in _options(tp):
        if _is_record(option):
            return option
        args = typing.get_args(option)
        origin = typing.get_origin(option)
        if origin is tuple and args and _is_record(args[0]):
            return args[0]
        if origin is dict and len(args) == 2 and _is_record(args[1]):
            return args[1]
    return None


def _is_default(f: dataclasses.Field, value: Any) -> bool:  # type: ignore[type-arg]
    if f.default is not dataclasses.MISSING:
        return bool(value == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(value == f.default_factory())
    return False


def encode(record: Any, tag: str, skip: frozenset[str] = frozenset()) -> Element:
    """``record`` (a dataclass instance) as ``<policylab:tag>``, leaving out fields in ``skip``."""
    element = Element(f"policylab:{tag}")
    hints = _hints(type(record))
    for f in dataclasses.fields(record):
        if f.name in skip or f.name == "where":
            continue
        value = getattr(record, f.name)
        if value is None or _is_default(f, value):
            continue
        nested = _nested_type(hints[f.name])
        if nested is None:
            element.attrs[f.name] = _scalar_text(value)
            continue
        holder = Element(f"policylab:{f.name}")
        items = value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else (value,)
        for item in items:
            holder.children.append(encode(item, nested.__name__.lower()))
        element.children.append(holder)
    return element


class Decoder:
    """Builds IR records back from extension elements; errors name the file and line."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, node: Node, message: str) -> ModelFileError:
        return ModelFileError(f"{self.file}:{node.line}: <policylab:{node.tag}>: {message}")

    def fields(self, node: Node, cls: type, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Keyword arguments for ``cls`` from ``node`` (fields in ``skip`` are left out)."""
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for key in node.attrs:
            if key not in names:
                raise self.fail(node, f"unknown attribute {key!r}; this file may come from a newer PolicyLab")
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            if f.name == "where":
                kwargs["where"] = Location(self.file, node.line)
                continue
            nested = _nested_type(hints[f.name])
            if nested is None:
                if f.name in node.attrs:
                    kwargs[f.name] = self.scalar(node, f.name, node.attrs[f.name], hints[f.name])
                continue
            holders = [c for c in node.children if c.tag == f.name]
            if holders:
                kwargs[f.name] = self._nested(holders[0], hints[f.name], nested)
        return kwargs

    def record(self, node: Node, cls: type) -> Any:
        try:
            return cls(**self.fields(node, cls))
        except TypeError as err:
            raise self.fail(node, f"incomplete record ({err})") from None

    def _nested(self, holder: Node, tp: Any, nested: type) -> Any:
        items = [self.record(child, nested) for child in holder.children]
        for option in _options(tp):
            origin = typing.get_origin(option)
            if origin is dict:
                key = "name" if "name" in {f.name for f in dataclasses.fields(nested)} else "id"
                return {getattr(item, key): item for item in items}
            if origin is tuple:
                return tuple(items)
        if not items:
            raise self.fail(holder, "is empty")
        return items[0]

    def scalar(self, node: Node, key: str, text: str, tp: Any) -> Any:
        """Convert attribute ``text`` to the field type ``tp``."""
        errors = []
        for option in _options(tp):
            if option is _NONE:
                continue
            try:
                return _convert(text, option)
            except (ValueError, TypeError) as err:
                errors.append(str(err))
        raise self.fail(node, f'{key}="{text[:60]}" is not valid ({"; ".join(errors) or "unsupported type"})')


def _convert(text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if text not in ("true", "false"):
            raise ValueError("expected true or false")
        return text == "true"
    if tp is float:
        return float(text)
    if tp is int:
        return int(text)
    if tp is str:
        return text
    if tp is dt.date:
        return dt.date.fromisoformat(text)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(text)
    if origin is Literal:
        if text not in typing.get_args(tp):
            raise ValueError(f"expected one of {', '.join(map(str, typing.get_args(tp)))}")
        return text
    if origin is tuple:
        args = typing.get_args(tp)
        inner = args[0] if args else str
        values = tuple(_convert(part, inner) for part in text.split())
        if len(args) > 1 and args[1] is not Ellipsis and len(values) != len(args):
            raise ValueError(f"expected {len(args)} values")
        return values
    raise TypeError(f"cannot read a {tp!r}")
