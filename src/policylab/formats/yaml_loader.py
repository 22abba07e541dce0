"""YAML for every file PolicyLab reads: loaded strictly and counted, with errors pointing at file:line.

Model files, overrides, stakeholder and coupling files and calibration mappings all load
through :func:`parse_yaml` (UTF-8 text, then :func:`load_yaml`) and name lines with
:func:`line_of`; schema errors become ``file:line: key: message`` lines with
:func:`validation_message`.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError
from ruamel.yaml.nodes import MappingNode, Node

from policylab.errors import ModelFileError, PolicyLabError, unprintable
from policylab.limits import YAML_VALUES

_STANDARD_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                                              "timestamp"))
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_MESSAGES = 10  # schema problems listed one a line; the rest are counted


class StrictConstructor(RoundTripConstructor):
    """Plain YAML only: merge keys and tags beyond the core schema are refused where they are written.

    ``<<: *base`` makes a mapping whose keys no line holds (so errors cannot point at
    them), and tags (``!!omap``, ``!!binary``, ``!custom``, even ``!!str``) build objects
    the model schema never expects; a model file needs neither.
    """

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if getattr(node.ctag, "handle", None) or node.tag not in _STANDARD_TAGS:
            shown = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(None, None, f"the tag {shown} is not supported; write plain mappings, lists "
                                   "and values without tags", node.start_mark)
        if isinstance(node, MappingNode):
            for key, _value in node.value:
                if key.tag == _MERGE_TAG:
                    raise ConstructorError(None, None, "merge keys (<<) are not supported; write the keys out",
                                           key.start_mark)
        value = super().construct_object(node, deep)
        bad = unprintable(value) if isinstance(value, str) else None
        if bad is not None:
            raise ConstructorError(None, None, f"the text holds the control character "
                                   f"{bad.encode('unicode_escape').decode('ascii')}; remove it", node.start_mark)
        return value


class ReusedAnchorError(YAMLError):
    """A second ``&name`` in one document: ruamel only warns, and later aliases silently change meaning."""

    def __init__(self, warning: ReusedAnchorWarning) -> None:
        message = str(warning)
        name = re.search(r"duplicate anchor '([^']*)'", message)
        line = re.search(r"second occurrence.*?line (\d+)", message, re.S)
        self.anchor = f"anchor &{name.group(1)}" if name else "an anchor"
        self.line = int(line.group(1)) if line else 0
        super().__init__(f"{self.anchor} is defined twice (line {self.line}); give each anchor (&name) its own name")


class CountingComposer(Composer):
    """Stops composing at the values limit, before a huge file has been turned into a tree of millions of nodes."""

    def compose_document(self) -> Any:
        self.values_left = YAML_VALUES.value()
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.values_left -= 1
        if self.values_left < 0:
            raise ComposerError(None, None, f"the file holds more than {YAML_VALUES.value():,} values; "
                                f"{YAML_VALUES.hint()}", self.parser.peek_event().start_mark)
        return super().compose_node(parent, index)


def load_yaml(yaml: YAML, text: str) -> Any:
    """``yaml.load(text)``, strict and counted; a reused anchor raised as :class:`ReusedAnchorError` (a YAMLError)."""
    yaml.Constructor = StrictConstructor
    yaml.Composer = CountingComposer
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ReusedAnchorWarning)
            return yaml.load(text)
    except ReusedAnchorWarning as err:
        raise ReusedAnchorError(err) from err


def parse_yaml(data: bytes | str, file: str, what: str = "file",
               error: type[PolicyLabError] = ModelFileError) -> Any:
    """The YAML document in ``data`` as ruamel's round-trip tree (lines kept for line_of); ``error`` names file and line."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as err:
        raise error(f"{file}: the {what} is not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        return load_yaml(yaml, text)
    except ReusedAnchorError as err:
        raise error(f"{file}:{err.line}: not valid YAML: {err.anchor} is defined twice; give each anchor "
                    "(&name) its own name") from err
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise error(f"{file}:{line}: not valid YAML: {err.problem or err.context}") from err
    except (YAMLError, ValueError, TypeError, RecursionError, OverflowError) as err:
        raise error(f"{file}: not valid YAML: {err}") from err


def line_of(doc: Any, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node of ``loc`` present in the parsed YAML (1 if none).

    A key given as text also finds a mapping key YAML read as a number or date (``2020: ...``).
    """
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


def accepted_keys(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Keys ``schema`` accepts at the mapping that holds ``loc[-1]`` (empty when that is not a schema model)."""
    model: type[BaseModel] | None = schema
    for key in loc[:-1]:
        if model is None:
            return []
        field = model.model_fields.get(str(key)) or next(
            (f for f in model.model_fields.values() if f.alias == key), None
        )
        if field is None:
            continue  # a user-chosen name (dict key) or list index
        model = _inner_model(field.annotation)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def validation_message(err: ValidationError, doc: Any, file: str, schema: type[BaseModel] | None = None) -> str:
    """Pydantic errors as ``file:line: key: message`` lines (at most ten); ``schema`` lists the keys accepted."""
    lines = []
    for item in err.errors()[:MAX_MESSAGES]:
        loc = tuple(item["loc"])
        key = ".".join(str(k) for k in loc) or "(top level)"
        where = f"{file}:{line_of(doc, loc)}"
        if item["type"] == "extra_forbidden":
            accepted = accepted_keys(schema, loc) if schema is not None else []
            lines.append(f"{where}: unknown key {key!r}" + (f"; accepted here: {', '.join(accepted)}" if accepted else ""))
        elif item["type"] == "missing":
            lines.append(f"{where}: {key} is required but missing")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {key}: {msg} (got {item.get('input')!r:.60})")
    more = len(err.errors()) - MAX_MESSAGES
    if more > 0:
        lines.append(f"... and {more} more problems")
    return "\n".join(lines)


def dump_yaml(data: Any) -> str:
    """``data`` (plain dicts, lists, numbers, strings, dates) as YAML text that ``parse_yaml`` reads back: block
    style with short lists inline, lines never folded (ruamel may fold a flow mapping's key, which does not read back)."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 1 << 16
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()
