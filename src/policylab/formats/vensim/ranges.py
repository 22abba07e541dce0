"""Vensim subscript ranges as the IR's dimensions.

``Dim: a, b, c`` declares a range; ``(a1-a5)`` stands for ``a1, a2, … a5``; a range whose
elements all belong to another is a subrange of it (Vensim has no other way to say so), and
its name used as a value counts positions in that range, as Vensim numbers an element once
for its family; ``Dim <-> Other`` is an equivalent range with ``Other``'s elements;
``Dim: a, b -> Other`` maps ``Dim`` onto ``Other`` position by position, ``-> (Other: x, y)``
element by element, and several targets may follow the arrow. Ranges may be declared in any
order (a mapping may name a range declared further down).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policylab.errors import Location, ModelFileError
from policylab.formats.vensim.equations import Definition, display_name, name_key
from policylab.formats.vensim.records import Record
from policylab.model.ir import Dimension

_NUMBERED = re.compile(r"^\(\s*(.*?)(\d+)\s*-\s*(.*?)(\d+)\s*\)$", re.DOTALL)
MAX_ELEMENTS = 1_000_000
"""Elements one numeric range may declare (``(a1-a1000000)``); a larger range is refused before it is built."""


@dataclass(frozen=True)
class _Range:
    """One range record as written: its elements (display), equivalence and mapping text."""

    record: Record
    definition: Definition
    elements: tuple[str, ...]
    equivalent: str = ""
    targets: tuple[str, ...] = ()


def read_ranges(ranges: list[tuple[Record, Definition]], file: str) -> dict[str, Dimension]:
    """The dimensions declared by ``ranges`` (records of kind ``subscript_range``), subranges and mappings set."""
    parsed: dict[str, _Range] = {}
    for record, definition in ranges:
        where = f"{file}:{record.line}: {definition.display}"
        if definition.name in parsed:
            raise ModelFileError(f"{where}: the range is defined twice (first on line "
                                 f"{parsed[definition.name].record.line}); keep one definition")
        parsed[definition.name] = _parse(record, definition, where)
    displays: dict[str, tuple[str, ...]] = {}
    for name in parsed:
        displays[name] = _elements(name, parsed, (), file)
    plain = {name: Dimension(name, tuple(name_key(e) for e in shown), parsed[name].definition.display, shown,
                             where=Location(file, parsed[name].record.line)) for name, shown in displays.items()}
    for dim in plain.values():
        if len(set(dim.elements)) != len(dim.elements):
            raise ModelFileError(f"{dim.where}: {dim.display}: lists an element twice (names ignore case, spaces "
                                 "and underscores); list each once")
    parents = _parents(plain)
    out: dict[str, Dimension] = {}
    for name, dim in plain.items():
        mapping = _mapping(parsed[name], dim, plain, file)
        out[name] = Dimension(name, dim.elements, dim.display, dim.displays, parents.get(name, ""), mapping, dim.where)
    return _parents_first(out)


def _parents_first(dims: dict[str, Dimension]) -> dict[str, Dimension]:
    """The dimensions in file order, except that a subrange's parent and a mapping's targets come before it (as
    writers that declare each dimension before its use need; ranges mapped onto each other keep file order)."""
    ordered: dict[str, Dimension] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        for before in (dims[name].parent, *dims[name].mapping):
            if before:
                visit(before)
        ordered[name] = dims[name]

    for name in dims:
        visit(name)
    return ordered


def numbering(dimensions: dict[str, Dimension]) -> dict[str, tuple[str, ...]]:
    """A subrange's name as a value counts positions in its parent (``sub = dim`` compares the same element)."""
    return {name: dimensions[dim.parent].elements for name, dim in dimensions.items() if dim.parent}


def _parse(record: Record, definition: Definition, where: str) -> _Range:
    text = " ".join(definition.rest.split())
    if definition.keyword == "<->":
        if not text or "," in text:
            raise ModelFileError(f"{where}: an equivalence names one other range: 'Name <-> Other'")
        return _Range(record, definition, (), equivalent=name_key(text))
    if re.match(r"\s*get\s", text, re.IGNORECASE):
        raise ModelFileError(f"{where}: subscripts read from a data file (GET … SUBSCRIPT) are not supported yet; "
                             "list the elements")
    listed, arrow, targets = text.partition("->")
    elements: list[str] = []
    for item in _split(listed):
        elements.extend(_expand(item, where))
    if not elements:
        raise ModelFileError(f"{where}: the range lists no elements; write 'Name: a, b, c'")
    return _Range(record, definition, tuple(elements), targets=tuple(_split(targets)) if arrow else ())


def _split(text: str) -> list[str]:
    """Comma-separated items at the top level (commas inside parentheses stay)."""
    items, depth, current = [], 0, []
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _expand(item: str, where: str) -> list[str]:
    """``(a1-a3)`` as ``a1, a2, a3``; any other item is one element."""
    if not item.startswith("("):
        return [display_name(item)]
    numbered = _NUMBERED.match(item)
    if numbered is None or numbered.group(1).strip() != numbered.group(3).strip():
        raise ModelFileError(f"{where}: {item!r} is not a numeric range; write '(a1-a5)' (the same prefix, numbers "
                             "counting up)")
    prefix, first, last = numbered.group(1).strip(), int(numbered.group(2)), int(numbered.group(4))
    if last < first or last - first >= MAX_ELEMENTS:
        raise ModelFileError(f"{where}: {item!r} counts from {first} to {last}; the second number must be at least "
                             f"the first and the range at most {MAX_ELEMENTS:,} elements")
    return [f"{prefix}{i}" for i in range(first, last + 1)]


def _elements(name: str, parsed: dict[str, _Range], path: tuple[str, ...], file: str) -> tuple[str, ...]:
    """A range's elements as written; an equivalence takes its range's, and a listed subrange stands for its
    elements."""
    spec = parsed[name]
    where = f"{file}:{spec.record.line}: {spec.definition.display}"
    if name in path:
        raise ModelFileError(f"{where}: ranges refer to each other in a circle ({' -> '.join(path + (name,))})")
    if spec.equivalent:
        if spec.equivalent not in parsed:
            raise ModelFileError(f"{where}: the equivalent range {spec.definition.rest.strip()!r} is not defined; "
                                 "define it with 'Name: a, b, c'")
        return _elements(spec.equivalent, parsed, path + (name,), file)
    out: list[str] = []
    for element in spec.elements:
        key = name_key(element)
        out.extend(_elements(key, parsed, path + (name,), file) if key in parsed else (element,))
    return tuple(out)


def _parents(dims: dict[str, Dimension]) -> dict[str, str]:
    """Each range whose elements all belong to an earlier-declared or larger range: the first such root range."""
    order = list(dims)
    sets = {name: set(dim.elements) for name, dim in dims.items()}

    def contains(big: str, small: str) -> bool:
        return sets[small] <= sets[big] and (len(sets[small]) < len(sets[big]) or order.index(big) < order.index(small))

    roots = [name for name in order if not any(contains(other, name) for other in order if other != name)]
    return {name: next(root for root in roots if contains(root, name)) for name in order if name not in roots}


def _mapping(spec: _Range, dim: Dimension, dims: dict[str, Dimension], file: str) -> dict[str, tuple[str, ...]]:
    """``-> Other`` position by position, ``-> (Other: x, y)`` element by element; each must cover the range."""
    where = f"{file}:{spec.record.line}: {dim.display}"
    mapping: dict[str, tuple[str, ...]] = {}
    for target_text in spec.targets:
        listed: tuple[str, ...] | None = None
        if target_text.startswith("("):
            inner, colon, rest = target_text.strip("() ").partition(":")
            if not colon:
                raise ModelFileError(f"{where}: the mapping {target_text!r} needs the form '(Other: x, y)'")
            target_text, listed = inner, tuple(name_key(e) for item in _split(rest) for e in _expand(item, where))
        target = dims.get(name_key(target_text))
        if target is None:
            raise ModelFileError(f"{where}: maps onto {display_name(target_text)!r}, which is not a defined range")
        chosen = target.elements if listed is None else listed
        if len(chosen) != len(dim.elements):
            raise ModelFileError(f"{where}: the mapping onto {target.display} pairs {len(dim.elements)} element(s) "
                                 f"with {len(chosen)}; give one element of {target.display} for each element here")
        unknown = [e for e in chosen if e not in target.elements]
        if unknown:
            raise ModelFileError(f"{where}: the mapping onto {target.display} names {', '.join(unknown)}, not "
                                 f"element(s) of {target.display} ({', '.join(target.displays)})")
        mapping[target.name] = chosen
    return mapping
