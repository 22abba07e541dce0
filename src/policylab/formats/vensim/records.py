"""Split a Vensim ``.mdl`` text into its equation records, keeping the line each starts on.

A record is ``equation ~ units ~ comment |`` (a fourth ``~`` part holds flags such as
``:SUPPLEMENTARY``); a group heading is a record whose equation is a row of ``*`` around
``.Name``. The text ends at the sketch marker ``\\\\\\---///``; what follows (the diagram
and Vensim's settings) is not model equations. ``|`` and ``~`` inside quoted names do not
split, and a ``\\`` at the end of a line continues it. Records between ``:MACRO: NAME(inputs)`` and
``:END OF MACRO:`` belong to that macro.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policylab.errors import ModelFileError

SKETCH_MARKER = re.compile(r"\\+---///")
_CONTINUATION = re.compile(r"\\[ \t]*\r?\n")
_ENCODING = re.compile(r"^\s*\{[^}\n]*\}")
_MACRO = re.compile(r":MACRO:[ \t]*([^(\n|~]+?)[ \t]*\(([^)]*)\)", re.IGNORECASE)
_MACRO_START = re.compile(r":MACRO:", re.IGNORECASE)
_MACRO_END = re.compile(r":END OF MACRO:", re.IGNORECASE)
_STARS = re.compile(r"^\*+$")


@dataclass(frozen=True)
class Record:
    """One ``equation ~ units ~ comment |`` record; ``line`` is where its equation starts (1-based)."""

    line: int
    equation: str
    units: str = ""
    comment: str = ""
    flags: str = ""
    group: str = ""


@dataclass(frozen=True)
class Macro:
    """A ``:MACRO: NAME(parameters : outputs)`` block: its header as written and its records."""

    line: int
    name: str
    parameters: tuple[str, ...]
    outputs: tuple[str, ...]
    records: tuple[Record, ...]


@dataclass(frozen=True)
class Sections:
    """The records of a file, its macros, and whether it carried a sketch (ignored)."""

    records: tuple[Record, ...]
    has_sketch: bool
    macros: tuple[Macro, ...] = ()


def decode(data: bytes) -> str:
    """The text of a model file: UTF-8 (with or without a byte-order mark), else Latin-1 as Vensim writes it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_records(text: str, file: str, max_records: int) -> Sections:
    """The records of ``text`` up to the sketch; ModelFileError naming the line for a macro or an open quote."""
    sketch = SKETCH_MARKER.search(text)
    body = text if sketch is None else text[:sketch.start()]
    encoding = _ENCODING.match(body)
    start = encoding.end() if encoding else 0
    parts: list[str] = []
    records: list[Record] = []
    main: list[Record] = records
    macros: list[Macro] = []
    macro: tuple[int, str, tuple[str, ...], tuple[str, ...]] | None = None
    group = ""
    current: list[str] = []
    quote = False
    line = body.count("\n", 0, start) + 1
    record_line = 0
    index = start
    while index < len(body):
        char = body[index]
        if quote:
            if char == "\\" and index + 1 < len(body):
                current.append(body[index:index + 2])
                line += body[index + 1] == "\n"
                index += 2
                continue
            quote = char != '"'
        elif char == '"' and not parts:  # quotes delimit names in the equation only; comments may hold any
            quote = True
        elif char == "~":
            parts.append("".join(current))
            current = []
            index += 1
            continue
        elif char == "|":
            parts.append("".join(current))
            record, group = _record(parts, record_line or line, group, file)
            if record is not None:
                records.append(record)
                if len(main) + sum(len(m.records) for m in macros) + len(records) > max_records:
                    raise ModelFileError(f"{file}:{record_line}: the model has more than {max_records:,} equations; "
                                         "set POLICYLAB_LIMIT_FLAT_VARIABLES to raise the limit (docs/security.md)")
            parts, current, record_line = [], [], 0
            index += 1
            continue
        if not record_line and not parts and not char.isspace():
            if _MACRO_START.match(body, index):
                header = _MACRO.match(body, index)
                if macro is not None or header is None:
                    problem = "a macro inside a macro" if macro is not None else "a :MACRO: line without NAME(inputs)"
                    raise ModelFileError(f"{file}:{line}: {problem}; write ':MACRO: NAME(input, …)', its equations, "
                                         "then ':END OF MACRO:'")
                inputs, _, outputs = header.group(2).partition(":")
                macro = (line, header.group(1), _names(inputs), _names(outputs))
                line += header.group(0).count("\n")
                index = header.end()
                records = []
                continue
            if _MACRO_END.match(body, index):
                if macro is None:
                    raise ModelFileError(f"{file}:{line}: :END OF MACRO: without a :MACRO: before it")
                macros.append(Macro(macro[0], macro[1], macro[2], macro[3], tuple(records)))
                macro, records = None, main
                index += len(":END OF MACRO:")
                continue
            record_line = line
        current.append(char)
        line += char == "\n"
        index += 1
    if macro is not None:
        raise ModelFileError(f"{file}:{macro[0]}: the macro {macro[1]} has no :END OF MACRO:; end it")
    if quote:
        raise ModelFileError(f"{file}:{record_line}: a quoted name is never closed (an odd number of '\"'); close it")
    rest = "".join(current).strip()
    if parts or rest:
        raise ModelFileError(f"{file}:{record_line}: the last equation does not end with '|'; end every record "
                             "with '~ units ~ comment |'")
    return Sections(tuple(main), sketch is not None, tuple(macros))


def _record(parts: list[str], line: int, group: str, file: str) -> tuple[Record | None, str]:
    equation = _CONTINUATION.sub(" ", parts[0]).strip()
    if not equation and not any(p.strip() for p in parts):
        return None, group
    if equation.startswith("*"):
        return None, _group_name(equation) or group
    if len(parts) > 4:
        raise ModelFileError(f"{file}:{line}: the record has {len(parts) - 1} '~'; write 'equation ~ units ~ comment |'")
    units, comment, flags = (_clean(p) for p in (parts[1:] + ["", "", ""])[:3])
    if not equation:
        raise ModelFileError(f"{file}:{line}: a record without an equation; write 'name = expression ~ units ~ "
                             "comment |' or delete it")
    return Record(line, equation, units, comment, flags, group), group


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _group_name(text: str) -> str:
    names = [row.strip() for row in text.splitlines() if row.strip() and not _STARS.match(row.strip())]
    return " ".join(names).lstrip(".").strip()


def _clean(text: str) -> str:
    return " ".join(_CONTINUATION.sub(" ", text).split())
