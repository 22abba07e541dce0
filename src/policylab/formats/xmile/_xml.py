"""Safe, line-aware XML parsing for XMILE files, with repair of the commonest malformations.

Model files are untrusted, so the parser refuses document type declarations (and with
them any entity definition: no entity expansion, no external fetches). Namespace
processing is done here rather than by expat so that a file using a prefix it never
declared (Stella's ``isee:``, very common) can still be read.

Repairs, each reported by the caller in one warning:

- an undeclared prefix is accepted (``isee:`` maps to isee's namespace);
- a missing end tag (``<flow>`` never closed) is inserted where the element must have
  ended: before the first variable nested in a variable, else before the end tag that
  revealed the mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from policylab.errors import ModelFileError, unprintable
from policylab.limits import XMILE_BYTES

ISEE_NS = "http://iseesystems.com/XMILE"
POLICYLAB_NS = "https://policylab.dev/xmile/1"
KNOWN_PREFIXES = {"isee": ISEE_NS, "policylab": POLICYLAB_NS, "xml": "http://www.w3.org/XML/1998/namespace"}
MAX_REPAIRS = 20
MAX_DEPTH = 200

#: Elements that define one model variable; one of them inside another means a missing end tag.
_VARIABLE_TAGS = {"stock", "flow", "aux", "module", "group"}


@dataclass
class Node:
    """One XML element: local tag name, namespace URI, attributes by local name, text, children."""

    tag: str
    ns: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    prefixed_attrs: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The element's own character data (children's text excluded)."""
        return "".join(self.text_parts)

    def find(self, tag: str) -> Node | None:
        """The first child with local name ``tag`` (any namespace but PolicyLab's)."""
        for child in self.children:
            if child.tag == tag and child.ns != POLICYLAB_NS:
                return child
        return None

    def findall(self, tag: str) -> list[Node]:
        """Every child with local name ``tag`` (any namespace but PolicyLab's)."""
        return [child for child in self.children if child.tag == tag and child.ns != POLICYLAB_NS]

    def ext(self, tag: str) -> list[Node]:
        """Children in the PolicyLab extension namespace with local name ``tag``."""
        return [child for child in self.children if child.tag == tag and child.ns == POLICYLAB_NS]


@dataclass
class Document:
    """A parsed file: its root element and the repairs made to read it."""

    root: Node
    repairs: list[str]


@dataclass
class _Open:
    node: Node
    qname: str
    start: int
    declared: dict[str, str]
    foreign_child_at: int | None = None


class _Builder:
    """Expat handlers building ``Node`` trees, resolving prefixes and spotting missing end tags."""

    def __init__(self, parser: expat.XMLParserType, data: bytes) -> None:
        self.parser = parser
        self.data = data
        self.stack: list[_Open] = []
        self.root: Node | None = None
        self.undeclared: set[str] = set()

    def _resolve(self, prefix: str, scope: dict[str, str]) -> str:
        if prefix in scope:
            return scope[prefix]
        self.undeclared.add(prefix)
        return KNOWN_PREFIXES.get(prefix, f"urn:undeclared:{prefix}")

    def _printable(self, text: str) -> None:
        """Refuse control characters (allowed by XML as ``&#x9b;`` and the like) that would drive a terminal."""
        bad = unprintable(text)
        if bad is not None:
            raise ModelFileError(f"line {self.parser.CurrentLineNumber}: the text holds the control character "
                                 f"{bad.encode('unicode_escape').decode('ascii')}; remove it")

    def start(self, qname: str, attrs: dict[str, str]) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise ModelFileError(f"elements nest deeper than {MAX_DEPTH} levels")
        for key, value in attrs.items():
            self._printable(key + value)
        scope = dict(self.stack[-1].declared) if self.stack else {"xml": KNOWN_PREFIXES["xml"]}
        for key, value in attrs.items():
            if key == "xmlns":
                scope[""] = value
            elif key.startswith("xmlns:"):
                scope[key[6:]] = value
        prefix, _, local = qname.rpartition(":")
        ns = self._resolve(prefix, scope) if prefix else scope.get("", "")
        plain: dict[str, str] = {}
        prefixed: dict[str, str] = {}
        for key, value in attrs.items():
            if key == "xmlns" or key.startswith("xmlns:"):
                continue
            a_prefix, _, a_local = key.rpartition(":")
            if a_prefix:
                self._resolve(a_prefix, scope)
                prefixed[key] = value
            plain.setdefault(a_local, value)
        node = Node(local, ns, plain, self.parser.CurrentLineNumber, prefixed_attrs=prefixed)
        offset = self.parser.CurrentByteIndex
        if self.stack:
            parent = self.stack[-1]
            if parent.node.tag in _VARIABLE_TAGS and local in _VARIABLE_TAGS and parent.foreign_child_at is None:
                parent.foreign_child_at = offset
            parent.node.children.append(node)
        elif self.root is None:
            self.root = node
        self.stack.append(_Open(node, qname, offset, scope))

    def end(self, _qname: str) -> None:
        self.stack.pop()  # expat has already checked that the end tag matches

    def text(self, data: str) -> None:
        self._printable(data)
        if self.stack:
            self.stack[-1].node.text_parts.append(data)


def _refuse_doctype(*_args: object) -> None:
    raise ModelFileError("the file declares a document type (<!DOCTYPE>); XMILE files must not, and "
                         "PolicyLab refuses them because they can define entities")


def _parse_once(data: bytes) -> tuple[_Builder, expat.ExpatError | None]:
    parser = expat.ParserCreate()
    builder = _Builder(parser, data)
    parser.buffer_text = True
    parser.ordered_attributes = False
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.ExternalEntityRefHandler = lambda *a: 0
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        return builder, err
    return builder, None


_END_TAG = re.compile(rb"</\s*([^\s>]+)\s*>")


def _describe_error(err: expat.ExpatError, file: str) -> str:
    reason = expat.errors.messages.get(err.code, str(err)) if hasattr(err, "code") else str(err)
    return f"{file}:{err.lineno}: the file is not well-formed XML ({reason} at line {err.lineno}, column {err.offset + 1})"


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def parse_document(data: bytes, file: str) -> Document:
    """Parse ``data`` (the bytes of ``file``) into a ``Node`` tree, repairing what can be repaired.

    Raises ``ModelFileError`` naming the file, line and column when the text is not XML
    that can be repaired.
    """
    if len(data) > XMILE_BYTES.value():
        raise ModelFileError(f"{file}: the file is {len(data):,} bytes, over the limit; {XMILE_BYTES.hint()}")
    repairs: list[str] = []
    for _ in range(MAX_REPAIRS + 1):
        try:
            builder, err = _parse_once(data)
        except ModelFileError as inner:
            raise ModelFileError(f"{file}: {inner}") from None
        except LookupError as inner:  # an encoding expat and Python do not know
            raise ModelFileError(f"{file}: the XML declaration names an unknown encoding ({inner}); save the "
                                 "file as UTF-8") from None
        except (RecursionError, MemoryError, ValueError) as inner:
            raise ModelFileError(f"{file}: the file cannot be read as XML ({inner})") from None
        if err is None:
            break
        fixed = _repair_mismatch(data, builder, err)
        if fixed is None:
            raise ModelFileError(_describe_error(err, file) + "; fix the file in a text editor or re-export it") from None
        data, note = fixed
        repairs.append(note)
    else:
        raise ModelFileError(f"{file}: too many unclosed elements to repair ({MAX_REPAIRS}); re-export the file")
    if builder.root is None:
        raise ModelFileError(f"{file}: the file holds no XML element; an XMILE file starts with <xmile>")
    undeclared = sorted(p for p in builder.undeclared if p)
    if undeclared:
        names = ", ".join(f"{p}:" for p in undeclared)
        repairs.insert(0, f"used the prefix {names} without declaring its namespace (read as the "
                          f"{'/'.join(p for p in undeclared)} extension namespace)")
    return Document(builder.root, repairs)


def _repair_mismatch(data: bytes, builder: _Builder, err: expat.ExpatError) -> tuple[bytes, str] | None:
    """Insert the end tag an element is missing, when that is what ``err`` reports."""
    if getattr(err, "code", None) != expat.errors.codes.get(expat.errors.XML_ERROR_TAG_MISMATCH) or not builder.stack:
        return None
    offset = data.rfind(b"</", 0, builder.parser.ErrorByteIndex + 1)
    found = _END_TAG.match(data, offset) if offset >= 0 else None
    if found is None:
        return None
    closing = found.group(1).decode("utf-8", "replace")
    open_names = [frame.qname for frame in builder.stack]
    if closing not in open_names[:-1]:
        return None  # a stray end tag: nothing sensible to insert
    unclosed = builder.stack[-1]
    insert_at = unclosed.foreign_child_at if unclosed.foreign_child_at is not None else offset
    name = unclosed.node.attrs.get("name")
    label = f'<{unclosed.qname} name="{name}">' if name else f"<{unclosed.qname}>"
    note = (f"{label} opened at line {unclosed.node.line} was never closed; "
            f"closed it before line {_line_of(data, insert_at)}")
    end_tag = f"</{unclosed.qname}>".encode()
    return data[:insert_at] + end_tag + data[insert_at:], note
