"""Pydantic schema of the native YAML format: validation only, no IR building here."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from policylab.model.ir import (
    Distribution,
    Extrapolation,
    Interpolation,
    Sign,
    Statistic,
    distribution_problem,
)

TimePoint = dt.date | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)  # .inf/.nan are errors


class TimeModel(_Strict):
    start: TimePoint
    stop: TimePoint
    dt: PositiveFloat
    units: str = "time"
    save_every: PositiveFloat | None = None
    method: Literal["euler", "rk4"] = "euler"


class SourceModel(_Strict):
    title: str = ""
    publisher: str = ""
    date: dt.date | str = ""
    file: str = ""
    url: str = ""


class EvidenceModel(_Strict):
    from_: str = Field(alias="from")
    sign: Sign
    source: str | None = None
    quote: str | None = None
    assumption: str | None = None
    supports: str = ""  # one line on how the quote states this link (for the reader of a model card)

    @model_validator(mode="after")
    def _source_or_assumption(self) -> EvidenceModel:
        if self.assumption is None and (self.source is None or self.quote is None):
            raise ValueError("evidence needs either `source` and `quote`, or `assumption: \"reason\"`")
        if self.assumption is not None and (self.source is not None or self.quote is not None):
            raise ValueError("evidence is either sourced (`source` + `quote`) or an `assumption`, not both")
        if self.assumption is not None and self.supports:
            raise ValueError("`supports` says how a quote states its link; an assumption gives its reason instead")
        return self


Bound = float | None


class _Documented(_Strict):
    units: str = ""
    doc: str = ""
    evidence: list[EvidenceModel] = []
    source: str = ""
    bounds: tuple[Bound, Bound] | None = None
    sector: str = Field(default="", max_length=60)  # a heading that groups variables (the dashboard's parameter list)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> _Documented:
        if self.bounds is not None and None not in self.bounds and self.bounds[0] > self.bounds[1]:  # type: ignore[operator]
            raise ValueError(f"bounds {list(self.bounds)} are reversed; write [low, high] (null where unbounded)")
        return self


class DimensionModel(_Strict):
    """A dimension: its elements (names or a numeric range), or a subrange of another, optionally mapped."""

    elements: list[str | int] | None = None
    range: tuple[int, int] | None = None
    subrange_of: str | None = None
    maps_to: str | dict[str, list[str | int]] | None = None

    @model_validator(mode="after")
    def _elements_or_range(self) -> DimensionModel:
        if (self.elements is None) == (self.range is None):
            raise ValueError("a dimension lists its `elements` or gives a numeric `range: [first, last]`, not both")
        if self.range is not None and not 0 <= self.range[1] - self.range[0] < 1_000_000:
            raise ValueError(f"range {list(self.range)} must run upwards and hold at most 1,000,000 elements")
        if self.elements is not None and not self.elements:
            raise ValueError("a dimension needs at least one element")
        return self


class ElementModel(_Strict):
    """One element's own definition, for an element that differs from its array in kind or in flows: exactly one
    of ``value`` (a constant), ``points`` (a lookup, with ``input``: its value is the table at that equation),
    ``equation`` (the section's kind: a flow among flows, else an auxiliary) or ``initial`` (a stock, only among
    stocks, with its own ``in`` and ``out`` when they differ from the array's)."""

    value: float | None = None
    points: list[tuple[float, float]] | None = Field(default=None, min_length=1)
    input: str | float | None = None
    extrapolation: Extrapolation = "clamp"
    equation: str | float | None = None
    initial: str | float | None = None
    inflows: list[str] | None = Field(default=None, alias="in")
    outflows: list[str] | None = Field(default=None, alias="out")

    @model_validator(mode="after")
    def _one_definition(self) -> ElementModel:
        given = [key for key in ("value", "points", "equation", "initial") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("an element's own definition gives exactly one of `value`, `points`, `equation` or "
                             f"`initial` (got {', '.join(given) or 'none'})")
        if (self.input is not None or "extrapolation" in self.model_fields_set) and self.points is None:
            raise ValueError("`input` and `extrapolation` belong to an element defined by `points`")
        if (self.inflows is not None or self.outflows is not None) and self.initial is None:
            raise ValueError("`in` and `out` belong to a stock's element, defined by `initial`")
        return self


ElementValue = str | float | list[tuple[float, float]] | ElementModel


class _Arrayed(_Documented):
    """A variable that may range over dimensions: ``dims`` and per-element definitions in ``elements``."""

    dims: list[str] = []
    elements: dict[str, ElementValue] = {}
    required: ClassVar[str] = ""
    """The key that defines the variable: required unless ``elements`` define it element by element."""

    @model_validator(mode="after")
    def _elements_need_dims(self) -> _Arrayed:
        if self.elements and not self.dims:
            raise ValueError("`elements` defines an arrayed variable element by element; give its `dims` too")
        if self.required and getattr(self, self.required) is None and not self.elements:
            raise ValueError(f"`{self.required}` is required" + (" (or `elements`, one per element)" if self.dims
                                                                 else ""))
        return self


class ConstantModel(_Arrayed):
    value: float | None = None
    values: list[float] | list[list[float]] | None = None  # an arrayed constant's values, in element order
    sample: Literal["per_element", "shared"] = "per_element"
    value_date: dt.date | None = None  # set from a date `value` (calendar models read it as its model time)

    @model_validator(mode="before")
    @classmethod
    def _date_value(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("value"), dt.date):
            return {**data, "value": 0.0, "value_date": data["value"]}
        return data
    range: tuple[float, float] | None = None
    judgement: bool = False
    distribution: Distribution = "uniform"
    basis: str = ""

    @model_validator(mode="after")
    def _judgement_has_range(self) -> ConstantModel:
        if self.judgement and self.range is None:
            raise ValueError("a judgement parameter needs a `range: [low, high]` to be sampled over")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)} is reversed; write [low, high]")
        if self.range is not None and abs(self.range[1] - self.range[0]) == float("inf"):
            raise ValueError(f"range {list(self.range)} is too wide to sample (its width overflows)")
        if self.value is None and self.values is None and not self.elements:
            raise ValueError("a constant needs a `value` (or, arrayed, `values` or `elements`)")
        if self.values is not None and (not self.dims or self.value is not None):
            raise ValueError("`values` lists an arrayed constant's values; give its `dims`, and no `value` beside it")
        mode = self.value if isinstance(self.value, (int, float)) else (self.range or (0.0, 0.0))[0]  # a date: no mode
        problem = None if self.range is None else distribution_problem(self.distribution, self.range, mode)
        if problem is not None:
            raise ValueError(problem)
        return self


class StepModel(_Strict):
    at: TimePoint
    to: float


class RampModel(_Strict):
    start: TimePoint
    end: TimePoint
    to: float


class LeverModel(_Arrayed):
    baseline: float = 0.0
    range: tuple[float, float] | None = None
    path: dict[TimePoint, float] | None = None
    step: StepModel | None = None
    ramp: RampModel | None = None
    interpolation: Interpolation = "hold"

    @model_validator(mode="after")
    def _one_path(self) -> LeverModel:
        if sum(x is not None for x in (self.path, self.step, self.ramp)) > 1:
            raise ValueError("give at most one of `path`, `step` and `ramp`")
        return self


class EventModel(_Documented):
    """Exogenous (``dates``, with ``exogenous``: why) or generated (``hazard``, optional ``record``)."""

    dates: list[TimePoint] | None = None
    exogenous: str = ""
    hazard: str | float | None = None
    record: list[TimePoint] = []
    magnitude: float = 1.0

    @model_validator(mode="after")
    def _one_kind(self) -> EventModel:
        if (self.dates is None) == (self.hazard is None):
            raise ValueError("an event has either `dates` (an exogenous input) or a `hazard` (generated by the model)")
        if self.hazard is None and self.record:
            raise ValueError("`record` belongs to a generated event (one with a `hazard`); an exogenous event has `dates`")
        if self.hazard is not None and self.exogenous:
            raise ValueError("`exogenous` explains why an event is an input; a generated event has a `hazard` instead")
        return self


class LookupModel(_Arrayed):
    required: ClassVar[str] = "points"
    points: list[tuple[float, float]] | None = Field(default=None, min_length=1)
    extrapolation: Extrapolation = "clamp"
    input: str | float | None = None  # the table applied to this equation is also the variable's value


class StockModel(_Arrayed):
    required: ClassVar[str] = "initial"
    initial: str | float | None = None
    inflows: list[str] = Field(default=[], alias="in")
    outflows: list[str] = Field(default=[], alias="out")
    non_negative: bool = False


class FlowModel(_Arrayed):
    required: ClassVar[str] = "equation"
    equation: str | float | None = None
    non_negative: bool = False


class AuxModel(_Arrayed):
    required: ClassVar[str] = "equation"
    equation: str | float | None = None


class SettingModel(_Strict):
    value: float | None = None
    path: dict[TimePoint, float] | None = None
    step: StepModel | None = None
    ramp: RampModel | None = None
    interpolation: Interpolation = "hold"
    dates: list[TimePoint] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SettingModel:
        given = [k for k in ("value", "path", "step", "ramp", "dates") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a setting is a number, or exactly one of `path`, `step`, `ramp` (levers) or `dates` (events)")
        return self


class ScenarioModel(_Strict):
    doc: str = ""
    policy_from: TimePoint | None = None
    condition_until: TimePoint | None = None
    set: dict[str, SettingModel] = {}


class OutcomeModel(_Strict):
    variable: str
    stat: Statistic = "final"
    at: TimePoint | None = None
    start: TimePoint | None = Field(default=None, alias="from")
    end: TimePoint | None = Field(default=None, alias="to")
    threshold: float | str | None = None
    doc: str = ""
    label: str = Field(default="", max_length=40)
    probability: bool = False
    aggregate: Literal["sum", "mean", "max", "min"] = "sum"  # over an arrayed variable's elements
    by_element: bool = False  # an arrayed variable's outcome also for each element

    @model_validator(mode="after")
    def _when(self) -> OutcomeModel:
        if self.probability and self.threshold is not None:
            raise ValueError("a `probability: true` outcome is already 0/1 per run; drop `threshold`")
        if self.stat == "value" and self.at is None:
            raise ValueError("stat `value` needs `at: <time or date>`")
        if self.at is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either `at` or a `from`/`to` window, not both")
        return self


class GivenModel(_Strict):
    value: float
    start: TimePoint | None = Field(default=None, alias="from")
    at: TimePoint | None = None

    @model_validator(mode="after")
    def _from_or_at(self) -> GivenModel:
        if self.start is not None and self.at is not None:
            raise ValueError("give `from` (a constant or lever from a date) or `at` (a stock set at a date), not both")
        return self


class ToleranceModel(_Strict):
    relative: float | None = Field(default=None, ge=0)
    absolute: float | None = Field(default=None, ge=0)
    lower_bound: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> ToleranceModel:
        if sum(v is not None for v in (self.relative, self.absolute, self.lower_bound)) != 1:
            raise ValueError("give exactly one of `relative: x`, `absolute: x` or `lower_bound: x`")
        return self


#: The keys each check kind accepts besides ``kind`` and ``doc`` (one definition, used for errors too).
CHECK_KEYS: dict[str, tuple[str, ...]] = {
    "behaviour": ("scenario", "require", "runs", "expect", "median", "against", "when", "trigger_require"),
    "data": ("scenario", "runs", "mapping", "series", "tolerance", "reason", "from", "until"),
    "reality": ("scenario", "require", "runs", "given", "expect"),
    "lever_response": ("scenario", "require", "runs", "lever", "from", "at", "expect"),
    "holdout": ("scenario", "require", "runs", "mapping", "cutoff", "until", "fit"),
}
_CHECK_REQUIRED: dict[str, tuple[str, ...]] = {
    "behaviour": ("expect",), "data": ("mapping", "series", "tolerance", "reason"),
    "reality": ("given", "expect"), "lever_response": ("lever", "expect"),
    "holdout": ("mapping", "cutoff", "fit"),
}


class CheckModel(_Strict):
    kind: Literal["behaviour", "data", "reality", "lever_response", "holdout"]
    doc: str = ""
    scenario: str | None = None
    require: float = Field(default=1.0, ge=0, le=1)
    runs: int | None = Field(default=None, ge=1, le=1_000_000)
    expect: str | dict[str, Literal["+", "-", "auto"]] | None = None
    median: bool = False
    against: str | None = None
    when: str | None = None
    trigger_require: float | None = Field(default=None, ge=0, le=1)
    given: dict[str, float | GivenModel] | None = None
    lever: str | None = None
    start: TimePoint | list[TimePoint] | None = Field(default=None, alias="from")
    at: TimePoint | None = None
    mapping: str | None = None
    series: str | None = None
    tolerance: ToleranceModel | None = None
    reason: str | None = None
    cutoff: TimePoint | None = None
    until: TimePoint | None = None
    fit: list[str] | None = None

    @model_validator(mode="after")
    def _keys_of_kind(self) -> CheckModel:
        accepted = CHECK_KEYS[self.kind]
        for name, info in type(self).model_fields.items():
            key = info.alias or name
            if key in ("kind", "doc") or name not in self.model_fields_set:
                continue
            if key not in accepted:
                raise ValueError(f"`{key}` does not apply to a {self.kind} check; its keys are: kind, doc, "
                                 f"{', '.join(accepted)}")
        missing = [k for k in _CHECK_REQUIRED[self.kind] if getattr(self, "start" if k == "from" else k) is None]
        if missing:
            raise ValueError(f"a {self.kind} check needs {', '.join('`' + k + '`' for k in missing)}")
        expects_text = self.kind in ("behaviour", "reality")
        if self.expect is not None and expects_text != isinstance(self.expect, str):
            raise ValueError("`expect` of a behaviour or reality check is a condition (text); of a lever_response "
                             "check, a mapping `variable: \"+\" | \"-\" | auto`")
        if self.kind == "data" and self.reason is not None and not self.reason.strip():
            raise ValueError("a data check's `reason` says why the tolerance is what it is; it cannot be empty")
        return self


class ModelFile(_Strict):
    model: str
    doc: str = ""
    time: TimeModel
    default_scenario: str | None = None
    dimensions: dict[str, list[str | int] | DimensionModel] = {}
    sources: dict[str, SourceModel] = {}
    constants: dict[str, ConstantModel] = {}
    levers: dict[str, LeverModel] = {}
    events: dict[str, EventModel] = {}
    lookups: dict[str, LookupModel] = {}
    stocks: dict[str, StockModel] = {}
    flows: dict[str, FlowModel] = {}
    auxiliaries: dict[str, AuxModel] = {}
    scenarios: dict[str, ScenarioModel] = {}
    outcomes: dict[str, OutcomeModel] = {}
    checks: dict[str, CheckModel] = {}


VARIABLE_SECTIONS = ("constants", "levers", "events", "lookups", "stocks", "flows", "auxiliaries")
