"""Pydantic schema of the native YAML format: validation only, no IR building here."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

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
    sign: Literal["+", "-"]
    source: str | None = None
    quote: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _source_or_assumption(self) -> EvidenceModel:
        if self.assumption is None and (self.source is None or self.quote is None):
            raise ValueError("evidence needs either `source` and `quote`, or `assumption: \"reason\"`")
        if self.assumption is not None and (self.source is not None or self.quote is not None):
            raise ValueError("evidence is either sourced (`source` + `quote`) or an `assumption`, not both")
        return self


class _Documented(_Strict):
    units: str = ""
    doc: str = ""
    evidence: list[EvidenceModel] = []
    source: str = ""


class ConstantModel(_Documented):
    value: float
    range: tuple[float, float] | None = None
    judgement: bool = False
    distribution: Literal["uniform", "loguniform", "triangular"] = "uniform"
    basis: str = ""

    @model_validator(mode="after")
    def _judgement_has_range(self) -> ConstantModel:
        if self.judgement and self.range is None:
            raise ValueError("a judgement parameter needs a `range: [low, high]` to be sampled over")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)} is reversed; write [low, high]")
        if self.range is not None and abs(self.range[1] - self.range[0]) == float("inf"):
            raise ValueError(f"range {list(self.range)} is too wide to sample (its width overflows)")
        return self


class StepModel(_Strict):
    at: TimePoint
    to: float


class RampModel(_Strict):
    start: TimePoint
    end: TimePoint
    to: float


class LeverModel(_Documented):
    baseline: float = 0.0
    range: tuple[float, float] | None = None
    path: dict[TimePoint, float] | None = None
    step: StepModel | None = None
    ramp: RampModel | None = None
    interpolation: Literal["hold", "linear"] = "hold"

    @model_validator(mode="after")
    def _one_path(self) -> LeverModel:
        if sum(x is not None for x in (self.path, self.step, self.ramp)) > 1:
            raise ValueError("give at most one of `path`, `step` and `ramp`")
        return self


class EventModel(_Documented):
    dates: list[TimePoint]
    magnitude: float = 1.0


class LookupModel(_Documented):
    points: list[tuple[float, float]] = Field(min_length=1)
    extrapolation: Literal["clamp", "linear", "discrete"] = "clamp"


class StockModel(_Documented):
    initial: str | float
    inflows: list[str] = Field(default=[], alias="in")
    outflows: list[str] = Field(default=[], alias="out")
    non_negative: bool = False


class FlowModel(_Documented):
    equation: str | float
    non_negative: bool = False


class AuxModel(_Documented):
    equation: str | float


class SettingModel(_Strict):
    value: float | None = None
    path: dict[TimePoint, float] | None = None
    step: StepModel | None = None
    ramp: RampModel | None = None
    interpolation: Literal["hold", "linear"] = "hold"
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
    set: dict[str, SettingModel] = {}


class OutcomeModel(_Strict):
    variable: str
    stat: Literal["mean", "value", "max", "min", "final", "sum", "change"] = "final"
    at: TimePoint | None = None
    start: TimePoint | None = Field(default=None, alias="from")
    end: TimePoint | None = Field(default=None, alias="to")
    threshold: float | str | None = None
    doc: str = ""
    label: str = Field(default="", max_length=40)
    probability: bool = False

    @model_validator(mode="after")
    def _when(self) -> OutcomeModel:
        if self.probability and self.threshold is not None:
            raise ValueError("a `probability: true` outcome is already 0/1 per run; drop `threshold`")
        if self.stat == "value" and self.at is None:
            raise ValueError("stat `value` needs `at: <time or date>`")
        if self.at is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either `at` or a `from`/`to` window, not both")
        return self


class ModelFile(_Strict):
    model: str
    doc: str = ""
    time: TimeModel
    default_scenario: str | None = None
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


VARIABLE_SECTIONS = ("constants", "levers", "events", "lookups", "stocks", "flows", "auxiliaries")
