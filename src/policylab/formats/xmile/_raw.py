"""The reader's working form: XMILE variables as read, before modules and arrays are flattened."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from policylab.expr.ast import Expr
from policylab.formats.xmile._xml import Node

Kind = Literal["stock", "flow", "aux", "gf"]


@dataclass(frozen=True)
class Table:
    """A graphical function's points and its behaviour outside them."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    extrapolation: Literal["clamp", "linear", "discrete"]
    line: int


@dataclass
class Definition:
    """One equation (scalar, apply-to-all, or one element's), its text, and an optional table."""

    text: str = ""
    line: int = 0
    table: Table | None = None
    expr: Expr | None = None
    written: Expr | None = None  # a scalar's expr before its array references were expanded (``Variable.written``)


@dataclass
class RawVar:
    """A variable as written in one ``<model>``; names are canonical and, once flattened, prefixed."""

    kind: Kind
    name: str
    display: str
    line: int
    tag: str
    dims: tuple[str, ...] = ()
    definition: Definition | None = None
    elements: dict[tuple[str, ...], Definition] = field(default_factory=dict)
    inflows: list[str] = field(default_factory=list)
    outflows: list[str] = field(default_factory=list)
    element_flows: dict[tuple[str, ...], tuple[list[str], list[str]]] = field(default_factory=dict)
    """A stock element's own inflows and outflows, where they differ from the array's."""
    non_negative: bool | None = None
    units: str = ""
    doc: str = ""
    extension: list[Node] = field(default_factory=list)
    alias_of: str | None = None
    conveyor: Definition | None = None  # transit time of a conveyor stock

    def label(self) -> str:
        """How messages name the element: ``<aux name="x">``."""
        return f'<{self.tag} name="{self.display}">'


@dataclass(frozen=True)
class Connection:
    """A module input: the module's variable ``to`` takes the parent's ``source``."""

    to: str
    source: str
    line: int


@dataclass
class RawModule:
    """A ``<module>`` placed in a model: which model it instantiates and its connections."""

    name: str
    display: str
    model: str
    line: int
    connections: list[Connection] = field(default_factory=list)
    outputs: list[Connection] = field(default_factory=list)  # the parent's ``to`` takes this module's ``source``


@dataclass
class RawModel:
    """One ``<model>`` element: its variables (in file order) and the modules it places."""

    name: str
    line: int
    variables: dict[str, RawVar] = field(default_factory=dict)
    modules: dict[str, RawModule] = field(default_factory=dict)
