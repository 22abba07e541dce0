"""IR dataclasses. Readers (YAML, XMILE) build these; nothing here knows about file formats.

Names are stored in canonical spelling (see ``policylab.expr.canonical``); the spelling
the author wrote is kept in ``display`` for output columns.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from enum import Enum
from typing import Literal, TypeAlias

from policylab.errors import Location
from policylab.expr.ast import Expr
from policylab.expr.names import element_name

Extrapolation = Literal["clamp", "linear", "discrete"]
Interpolation = Literal["hold", "linear"]
Sign = Literal["+", "-"]
Distribution = Literal["uniform", "loguniform", "triangular"]  # of a judgement parameter over its range
Statistic = Literal["mean", "value", "max", "min", "final", "sum", "change"]  # of an outcome over its window


class Method(str, Enum):
    """Integration method."""

    EULER = "euler"
    RK4 = "rk4"


@dataclass(frozen=True)
class TimeSpec:
    """Simulation clock: model time runs from ``start`` to ``stop`` in steps of ``dt``.

    ``calendar_start`` is the date at model time ``start`` for calendar models (output gets
    a ``date`` column); ``days_per_unit`` converts model time units to days for them.
    """

    start: float
    stop: float
    dt: float
    save_every: float
    units: str = "time"
    method: Method = Method.EULER
    calendar_start: dt.date | None = None
    days_per_unit: float | None = None

    @property
    def n_steps(self) -> int:
        return int(round((self.stop - self.start) / self.dt))

    def to_time(self, date: dt.date) -> float:
        """Model time of a calendar date (only for calendar models)."""
        if self.calendar_start is None or self.days_per_unit is None:
            raise ValueError("this model has no calendar start date")
        return self.start + (date - self.calendar_start).days / self.days_per_unit


@dataclass(frozen=True)
class Source:
    """A document that evidence quotes come from (looked up on the sources path, never shipped)."""

    id: str
    title: str = ""
    publisher: str = ""
    date: str = ""
    file: str = ""
    url: str = ""


@dataclass(frozen=True)
class Evidence:
    """Why a causal link ``from -> variable`` exists, with its declared polarity.

    ``kind`` is ``"source"`` for a quote from a source, ``"assumption"`` for a link the
    model needs but the sources do not state (then ``reason`` says why).
    """

    from_: str
    sign: Sign
    source: str = ""
    quote: str = ""
    kind: Literal["source", "assumption"] = "source"
    reason: str = ""
    where: Location = Location()
    supports: str = ""
    """For a quote: one line on how it states this link."""


@dataclass(frozen=True)
class Schedule:
    """A time path: value ``values[i]`` from ``times[i]`` on (``hold``) or interpolated (``linear``).

    Before ``times[0]`` the owner's baseline applies; after the last time the last value holds.
    """

    times: tuple[float, ...]
    values: tuple[float, ...]
    interpolation: Interpolation = "hold"


@dataclass(frozen=True)
class Variable:
    """Fields every model variable has."""

    name: str
    units: str = ""
    doc: str = ""
    display: str = ""
    where: Location = Location()
    evidence: tuple[Evidence, ...] = ()
    source: str = ""
    bounds: tuple[float, float] | None = None
    """Physical bounds ``(low, high)``, infinite where unbounded; the automatic
    extreme-condition checks require every run to stay within them."""
    sector: str = ""
    """The model sector the variable belongs to (a heading for grouping it in the dashboard); "" when undeclared."""
    written: Expr | None = None
    """A scalar variable's defining expression (equation, initial value or lookup input) as written, before its
    references to arrays were expanded (``SUM(x[*])``, not the sum of every element), so writers keep it compact
    (see :func:`policylab.model.arrays.written_form`); None when it reads no array (as ``Array.equation`` for an
    array)."""


@dataclass(frozen=True)
class Stock(Variable):
    """A level integrated over time from its inflows and outflows."""

    initial: Expr | None = None
    inflows: tuple[str, ...] = ()
    outflows: tuple[str, ...] = ()
    non_negative: bool = False
    initial_text: str = ""


@dataclass(frozen=True)
class Flow(Variable):
    """A rate that feeds stocks; ``non_negative`` flows are clipped at zero (XMILE uniflows)."""

    equation: Expr | None = None
    equation_text: str = ""
    non_negative: bool = False


@dataclass(frozen=True)
class Auxiliary(Variable):
    """A variable computed from others at every step."""

    equation: Expr | None = None
    equation_text: str = ""


@dataclass(frozen=True)
class Constant(Variable):
    """A parameter fixed during a run; ``judgement`` parameters are sampled over ``range``."""

    value: float = 0.0
    range: tuple[float, float] | None = None
    judgement: bool = False
    distribution: Distribution = "uniform"
    basis: str = ""

    def sampling_problem(self) -> str | None:
        """Why this parameter cannot be sampled as declared (None when it can, or has no range)."""
        return None if self.range is None else distribution_problem(self.distribution, self.range, self.value)


def distribution_problem(distribution: str, bounds: tuple[float, float], mode: float) -> str | None:
    """Why ``distribution`` over ``bounds`` (peaking at ``mode`` when triangular) is not a distribution."""
    low, high = bounds
    if distribution == "loguniform" and not low > 0:
        return (f"a loguniform range must be positive (got [{low:g}, {high:g}]); shift the range above 0 or use "
                "`distribution: uniform`")
    if distribution == "triangular" and not low <= mode <= high:
        return (f"a triangular distribution peaks at the value {mode:g}, which is outside its range "
                f"[{low:g}, {high:g}]; move the value into the range")
    return None


@dataclass(frozen=True)
class Lookup(Variable):
    """A graphical function ``y = f(x)``, called like a function in equations.

    When ``input`` is set (an XMILE gf with an equation), the variable's value is the
    lookup applied to that expression.
    """

    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    extrapolation: Extrapolation = "clamp"
    input: Expr | None = None


@dataclass(frozen=True)
class Lever(Variable):
    """A policy input: ``baseline`` unless ``schedule`` says otherwise at time t."""

    baseline: float = 0.0
    range: tuple[float, float] | None = None
    schedule: Schedule | None = None


@dataclass(frozen=True)
class Event(Variable):
    """Dated occurrences: the value is ``magnitude / dt`` during the step holding each time, else 0.

    Integrating an event into a stock adds ``magnitude`` once per occurrence.
    """

    times: tuple[float, ...] = ()
    magnitude: float = 1.0
    why: str = ""


CONDITIONED_UNTIL = "conditioned_until"
"""The constant holding the model time up to which generated events follow their record."""

RECORD_SUFFIX = "_record"
"""A generated event ``e`` keeps its recorded occurrences in the exogenous event ``e_record``."""


@dataclass(frozen=True)
class GeneratedEvent(Auxiliary):
    """A discrete random event the model generates: a Poisson count at ``hazard`` per time unit.

    Its ``equation`` (built by the reader) is ``magnitude / DT`` times the count of the step;
    while model time is before ``conditioned_until`` (a scenario's ``condition_until``) it
    follows the recorded occurrences (the event ``<name>_record``) instead of drawing. In
    deterministic mode the draw is its mean, ``hazard * magnitude``.
    """

    hazard: Expr | None = None
    hazard_text: str = ""
    record: tuple[float, ...] = ()
    magnitude: float = 1.0


@dataclass(frozen=True)
class Override:
    """What a scenario sets a lever, constant or event to.

    Exactly one of: ``value`` (a constant level for all time), ``schedule`` (a time path
    replacing the lever's), ``times`` (the occurrence times of an event).
    """

    target: str
    value: float | None = None
    schedule: Schedule | None = None
    times: tuple[float, ...] | None = None
    where: Location = Location()


@dataclass(frozen=True)
class Scenario:
    """A named set of overrides; ``policy_from`` is the model time its policy changes start.

    ``condition_until``: generated events follow their record before this model time
    (default: ``policy_from``; None: they are drawn from the start).
    """

    name: str
    doc: str = ""
    overrides: tuple[Override, ...] = ()
    policy_from: float | None = None
    where: Location = Location()
    condition_until: float | None = None


@dataclass(frozen=True)
class Outcome:
    """A scalar summary of one run, declared by the model for tables and exploration.

    ``stat`` is taken of ``variable`` over [``start``, ``end``] (model time; whole run
    when None) or at time ``at``. With ``threshold``, reports also say the share of runs
    where the statistic is at least the threshold (a number, or a constant's name).

    ``label`` is a short human label for tables and charts (falls back to the name).
    A ``probability`` outcome is 0 or 1 in each run (a milestone indicator): tables show
    the share of runs at 1 (value >= 0.5) with its Monte Carlo interval instead of a band.
    """

    name: str
    variable: str
    stat: Statistic = "final"
    at: float | None = None
    start: float | None = None
    end: float | None = None
    threshold: float | str | None = None
    doc: str = ""
    display: str = ""
    where: Location = Location()
    label: str = ""
    probability: bool = False

    @property
    def title(self) -> str:
        """What tables and charts call the outcome: its label, else the name as written."""
        return self.label or self.display or self.name


CheckKind = Literal["behaviour", "data", "reality", "lever_response", "holdout"]
CHECK_KINDS: tuple[str, ...] = ("behaviour", "data", "reality", "lever_response", "holdout")
ToleranceKind = Literal["relative", "absolute", "lower_bound"]
TOLERANCE_KINDS: tuple[str, ...] = ("relative", "absolute", "lower_bound")
Direction = Literal["+", "-", "auto"]


@dataclass(frozen=True)
class Given:
    """A reality check's setting: ``target`` (a constant or lever) at ``value`` from ``start``
    (None: the whole run), or a stock set to ``value`` once, at time ``at``."""

    target: str
    value: float
    start: float | None = None
    at: float | None = None
    where: Location = Location()


@dataclass(frozen=True)
class Response:
    """A lever-response expectation: ``variable`` (or a declared outcome) moves ``direction``
    when the lever goes from its range minimum to its maximum (``auto``: from the causal paths)."""

    variable: str
    direction: Direction = "auto"
    where: Location = Location()


@dataclass(frozen=True)
class Check:
    """A validation check written in the model file (``checks:``), run by ``policylab validate``.

    One record for every kind (so XMILE's extension carries it with one rule); fields a kind
    does not use keep their defaults, and the reader refuses them. Expressions are kept as
    text in the expression language, parsed by ``policylab.validation`` (dates stay quoted
    strings there); times elsewhere are model times. ``mapping`` is relative to the model file.
    """

    name: str
    kind: CheckKind
    doc: str = ""
    scenario: str | None = None
    require: float = 1.0
    runs: int | None = None
    expect: str = ""
    """behaviour and reality: the condition each run must satisfy."""
    median: bool = False
    against: str | None = None
    when: str = ""
    trigger_require: float | None = None
    given: tuple[Given, ...] = ()
    lever: str = ""
    lever_from: tuple[float, ...] = ()
    at: float | None = None
    responses: tuple[Response, ...] = ()
    mapping: str = ""
    series: str = ""
    tolerance: ToleranceKind | None = None
    tolerance_value: float | None = None
    reason: str = ""
    start: float | None = None
    until: float | None = None
    cutoff: float | None = None
    fit: tuple[str, ...] = ()
    display: str = ""
    where: Location = Location()


AnyVariable: TypeAlias = Stock | Flow | Auxiliary | Constant | Lookup | Lever | Event


@dataclass(frozen=True)
class Dimension:
    """A named set of elements that arrayed variables range over (regions, cohorts, factions).

    ``parent`` names the dimension a subrange takes its elements from; ``maps_to`` lists the
    dimensions this one maps onto element by element (``mapping[target]`` gives, for each
    element here, the target element it stands for; position by position when absent).
    """

    name: str
    elements: tuple[str, ...]
    display: str = ""
    displays: tuple[str, ...] = ()
    parent: str = ""
    mapping: dict[str, tuple[str, ...]] = field(default_factory=dict)
    where: Location = Location()

    def shown(self, element: str) -> str:
        """The element as the author wrote it."""
        return self.displays[self.position(element)] if self.displays else element

    def position(self, element: str) -> int:
        """The element's 0-based place (a dict built once: ``tuple.index`` made arrays of thousands quadratic)."""
        return self._positions[element]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {element: k for k, element in enumerate(self.elements)}


@dataclass(frozen=True)
class Array:
    """An arrayed variable: one value per combination of elements of ``dims``.

    Its elements are ordinary variables of ``Model.variables`` named ``name[e1,e2]``
    (:func:`element_name`), in row-major order of the dimensions; ``equation`` is the
    apply-to-all equation as written (None when the elements are defined one by one), so
    writers and engines can treat the array as one variable. Elements defined otherwise
    (YAML's ``elements:``, Vensim's ``:EXCEPT:``) do not follow it: the elements it gives
    are those :func:`policylab.model.arrays.apply_to_all` finds.
    """

    name: str
    dims: tuple[str, ...]
    display: str = ""
    kind: str = "auxiliary"
    """The elements' kind (:func:`kind_of`): stock, flow, auxiliary, constant, lookup or lever."""
    equation: Expr | None = None
    equation_text: str = ""
    shared_draw: bool = False
    """Judgement parameters: True when every element takes the same quantile of its range (one draw)."""
    where: Location = Location()
    evidence: tuple[Evidence, ...] = ()
    """The evidence as written for the whole array (``from`` may name an array; each element's evidence names
    the elements its equation reads, see :func:`policylab.model.arrays.element_evidence`)."""


def kind_of(var: Variable) -> str:
    """A variable's kind as a word (``stock``, ``flow``, ``auxiliary``…), the vocabulary of ``Array.kind``."""
    return type(var).__name__.lower()


def element_keys(dims: tuple[str, ...], dimensions: dict[str, Dimension]) -> list[tuple[str, ...]]:
    """Every element of an array over ``dims``, in row-major order (the last dimension varies fastest)."""
    keys: list[tuple[str, ...]] = [()]
    for dim in dims:
        keys = [key + (element,) for key in keys for element in dimensions[dim].elements]
    return keys


@dataclass(frozen=True)
class Model:
    """A whole model: clock, variables by canonical name, scenarios and sources."""

    name: str
    time: TimeSpec
    variables: dict[str, AnyVariable]
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    default_scenario: str | None = None
    sources: dict[str, Source] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    doc: str = ""
    path: str = ""
    extras: dict[str, object] = field(default_factory=dict)
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    arrays: dict[str, Array] = field(default_factory=dict)
    """Arrayed variables by name; their elements are in ``variables`` (see :class:`Array`)."""

    def of_kind(self, kind: type) -> dict[str, AnyVariable]:
        """The variables of one kind, in file order."""
        return {name: var for name, var in self.variables.items() if isinstance(var, kind)}

    def display_name(self, name: str) -> str:
        """The name as written by the author (falls back to the canonical name)."""
        var = self.variables.get(name)
        if var is None and name in self.arrays:
            return self.arrays[name].display or name
        return (var.display or var.name) if var is not None else name

    def elements_of(self, name: str) -> list[str]:
        """The element variables of array ``name`` in row-major order ([name] for a scalar)."""
        array = self.arrays.get(name)
        if array is None:
            return [name]
        return [element_name(name, key) for key in element_keys(array.dims, self.dimensions)]

    def long_name(self, name: str) -> str:
        """The doc's first sentence, without a leading ``[sector]`` tag (the display name when there is no doc)."""
        var = self.variables.get(name)
        return doc_line(var.doc) if var is not None and var.doc.strip() else self.display_name(name)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'‘“])")


def doc_line(doc: str) -> str:
    """The first sentence of a doc on one line (a label such as xarray's ``long_name``), without a ``[tag]`` prefix."""
    text = " ".join(doc.split())
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    return first[:-1] if first.endswith(".") and not first.endswith("..") else first
