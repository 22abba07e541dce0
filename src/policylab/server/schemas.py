"""Request and response bodies of the HTTP API (pydantic; they are the OpenAPI schema).

Requests forbid unknown fields, so a misspelt option is an error naming it rather
than a silent default. Numbers must be finite. Values that depend on the model are
checked here too, once (``checked_params``): each parameter a lever or constant of
the model, within its declared range and bounds; the simulator and the engine trust
the result. Limits that depend on the server's configuration (runs, runs × steps)
are checked by the handlers, with the same problem-details format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from policylab.api import Backend
from policylab.compile.graph import suggest
from policylab.explore.designs import Sampler
from policylab.expr.names import canonical
from policylab.model.ir import Constant, Lever
from policylab.model.ir import Model as ModelIR

Name = Annotated[str, Field(min_length=1, max_length=200)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1, description="Root random seed; run k uses stream k.")]
Runs = Annotated[int, Field(ge=1, description="Ensemble size (capped by the server: see `limits` of a model).")]
Engine = Annotated[str, Field(description="The simulation engine that ran: numpy or numba.")]
Band = Literal["p05", "p25", "p50", "p75", "p95"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(Request):
    """One scenario with lever/parameter overrides, as a single run or an ensemble."""

    scenario: Name | None = Field(None, description="Scenario name; default: the model's default scenario.")
    params: dict[Name, FiniteFloat] = Field(default_factory=dict, max_length=500, description=(
        "Levers and constants to set. A lever's value is its level from the scenario's policy date on "
        "(for the whole run when the scenario has none); a constant is set in every run."))
    runs: Runs = 1
    seed: Seed = 0
    variables: list[Name] | None = Field(None, max_length=50, description="Variables to return; default: the key outcome variables.")
    deterministic: bool = Field(False, description="Random functions return their mean.")

    @field_validator("params")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        for name, number in value.items():
            if not math.isfinite(number):
                raise ValueError(f"params[{name!r}] must be a finite number")
        return value


def checked_params(params: Mapping[str, float], model: ModelIR, model_id: str) -> dict[str, float]:
    """``params`` by canonical name, each a lever or constant of ``model`` within its declared range and bounds.

    A request that fails is a 422 naming ``params.NAME``: a dashboard's sliders never
    leave their ranges, so a value outside one is not a user's experiment but a
    malformed or hostile request (1e20 here once spun the simulation slots for good).
    """
    checked: dict[str, float] = {}
    for raw, value in params.items():
        name = canonical(raw)
        variable = model.variables.get(name)
        if not isinstance(variable, (Lever, Constant)):
            settable = [n for n, v in model.variables.items() if isinstance(v, (Lever, Constant))]
            _refuse(raw, f"params: {raw!r} is not a lever or constant of {model_id}.{suggest(name, settable)}")
        low, high = _allowed(variable)  # type: ignore[arg-type]
        if not low <= value <= high:
            _refuse(raw, f"params: {raw} = {value:g} is outside its allowed range [{low:g}, {high:g}]")
        checked[name] = value
    return checked


def _allowed(variable: Lever | Constant) -> tuple[float, float]:
    """The declared sampling range intersected with the physical bounds (either may be absent)."""
    low, high = variable.range if variable.range is not None else (-math.inf, math.inf)
    if variable.bounds is not None:
        low, high = max(low, variable.bounds[0]), min(high, variable.bounds[1])
    return low, high


def _refuse(name: str, message: str) -> None:
    raise RequestValidationError([{"loc": ("body", "params", name), "msg": message, "type": "value_error"}])


class CompareRequest(Request):
    """Several scenarios side by side, with the same overrides and common random numbers."""

    scenarios: list[Name] = Field(..., min_length=1, max_length=8)
    params: dict[Name, FiniteFloat] = Field(default_factory=dict, max_length=500)
    runs: Runs = 1
    seed: Seed = 0
    variables: list[Name] | None = Field(None, max_length=50)
    deterministic: bool = False


class ExploreRequestBody(Request):
    """An exploration: samples of the judgement parameters × scenarios, outcomes stored per run."""

    samples: Annotated[int, Field(ge=1, description="Uncertainty samples (capped by the server).")] = 100
    sampler: Sampler = "lhs"
    seed: Seed = 0
    scenarios: list[Name] = Field(default_factory=list, max_length=16, description="Default: the model's default scenario; ['all'] for every one.")
    outcomes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20, description="Extra outcomes, NAME=VARIABLE:STAT (the model's declared outcomes are always recorded).")
    backend: Backend | None = Field(None, description="Simulation engine (numpy, numba, or auto: numba when installed); "
                                                      "default: the server's. The stored run records the one used.")


class Problem(BaseModel):
    """RFC 7807 problem details; ``field`` names the offending request field when there is one."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class TimeAxis(BaseModel):
    start: float
    stop: float
    dt: float
    save_every: float
    units: str
    calendar_start: str | None
    n_steps: int
    method: str


class Limits(BaseModel):
    max_runs: int
    max_work: int
    dashboard_runs: int
    max_samples: int


class ModelSummary(BaseModel):
    id: str
    name: str
    doc: str
    scenarios: list[str]
    default_scenario: str | None
    calendar: bool


class VariableInfo(BaseModel):
    name: str
    display: str
    kind: str
    units: str
    doc: str


class LeverInfo(BaseModel):
    name: str
    display: str
    units: str
    doc: str
    baseline: float
    range: tuple[float, float] | None
    sector: str = Field(default="", description="The model sector it belongs to (`sector:`), \"\" when undeclared.")
    level: dict[str, float] = Field(description="Per scenario: the level in effect from its policy date (else at the end of the run).")


class JudgementInfo(BaseModel):
    name: str
    display: str
    units: str
    doc: str
    value: float
    range: tuple[float, float]
    basis: str
    sector: str = Field(default="", description="The model sector it belongs to (`sector:`), \"\" when undeclared.")


class ScenarioInfo(BaseModel):
    name: str
    doc: str
    policy_from: float | None
    policy_date: str | None


class EventInfo(BaseModel):
    name: str
    display: str
    doc: str
    x: list[str | float]


class OutcomeInfo(BaseModel):
    name: str
    variable: str
    stat: str
    doc: str


class EvidenceInfo(BaseModel):
    kind: Literal["source", "assumption"]
    sign: str
    source: str
    quote: str
    reason: str


class LinkInfo(BaseModel):
    source: str
    target: str
    sign: str
    declared: bool
    evidence: list[EvidenceInfo]


class LoopInfo(BaseModel):
    label: str
    polarity: str
    variables: list[str]


class DiagramView(BaseModel):
    """A readable part of the causal-loop diagram: `diagram.svg?view=KEY` draws it."""

    key: str = Field(description="all, core, sector:NAME, loop:ID or loops:ID,ID (as `policylab diagram --view`)")
    name: str
    group: str = Field(description="loops, sectors or overview: the row of buttons it belongs to")
    caption: str
    nodes: int


class LoopDominance(BaseModel):
    """Which loops dominate over time in one scenario (Loops That Matter over the dashboard's ensemble)."""

    scenario: str | None
    runs: int
    seed: int
    mode: str = Field(description="exhaustive or discovery: how the scored loop set was found")
    scored: int = Field(description="loops scored")
    partition_loops: int = Field(description="loops in the cycle partition the chart shows")
    loops: list[LoopInfo] = Field(description="the charted loops, most often dominant first")
    dominant_view: str = Field(description="the diagram view of the most often dominant loops")
    figure: dict[str, Any] = Field(description="the chart as a Plotly figure (data and layout)")


class SourceInfo(BaseModel):
    id: str
    title: str
    publisher: str
    date: str
    url: str
    available: bool


class ModelDescription(ModelSummary):
    time: TimeAxis
    variables: list[VariableInfo]
    levers: list[LeverInfo]
    judgements: list[JudgementInfo]
    scenario_details: list[ScenarioInfo]
    events: list[EventInfo]
    outcomes: list[OutcomeInfo]
    key_variables: list[str]
    links: list[LinkInfo]
    loops: list[LoopInfo]
    sources: list[SourceInfo]
    limits: Limits


class ValidationRow(BaseModel):
    """One check of the model's validation, as `policylab validate` prints it."""

    name: str
    kind: str
    scenario: str
    share: str
    required: str
    verdict: str
    doc: str = ""
    detail: str = ""


class ValidationTable(BaseModel):
    """The model's written checks (holdouts aside) and units, over the dashboard's ensemble."""

    runs: int
    seed: int
    ok: bool
    checks: list[ValidationRow]


class ModelCard(BaseModel):
    """The model folder's README.md rendered to HTML (raw HTML in it escaped); null when there is none."""

    html: str | None


class Bands(BaseModel):
    """Per saved time over the runs: the median and the convention's band (10th–90th percentile; null where not finite)."""

    low: list[float | None]
    median: list[float | None]
    high: list[float | None]


class Modes(BaseModel):
    """A bimodal outcome: the share of runs below and above the valley that splits them."""

    split: float
    share_below: float
    share_above: float


class OutcomeCell(BaseModel):
    """An outcome over the ensemble: median and the convention's band (null where not finite).

    A probability outcome has ``share`` (of runs at 1) with its Wilson interval in ``low``/``high``.
    """

    runs: int
    failed_runs: int = 0
    median: float | None = None
    low: float | None
    high: float | None
    share: float | None = None
    not_binary_runs: int = 0
    share_at_least_threshold: float | None = None
    share_interval: list[float | None] | None = None
    bimodal: Modes | None = None


class OutcomeRow(BaseModel):
    name: str
    label: str
    units: str
    doc: str
    probability: bool
    threshold: str
    values: dict[str, OutcomeCell]


class RunResult(BaseModel):
    model: str
    scenario: str | None
    runs: int
    seed: int
    x: list[str | float] = Field(description="ISO dates for calendar models, else model times (thinned to at most 600 points).")
    x_kind: Literal["date", "time"]
    policy_date: str | float | None
    series: dict[str, Bands]
    outcomes: list[OutcomeRow]
    elapsed_ms: float
    backend: Engine = "numpy"


class CompareResult(BaseModel):
    model: str
    runs: int
    seed: int
    x: list[str | float]
    x_kind: Literal["date", "time"]
    scenarios: dict[str, dict[str, Bands]]
    policy_dates: dict[str, str | float | None]
    table: list[OutcomeRow]
    elapsed_ms: float
    backend: Engine = "numpy"


class EvidenceText(BaseModel):
    kind: Literal["source", "assumption"]
    sign: str
    quote: str
    reason: str
    source: SourceInfo | None
    text: str | None = Field(description="The source document's text, read from the sources path (null when not there).")
    span: tuple[int, int] | None = Field(description="Offsets of the quoted passage in `text` (null when not found).")


class LinkEvidence(BaseModel):
    source: str
    target: str
    sign: str
    declared: bool
    items: list[EvidenceText]


JobState = Literal["queued", "running", "done", "failed"]


class JobStatus(BaseModel):
    id: str
    model: str
    state: JobState
    total: int
    done: int
    run_id: str | None
    error: str | None
    submitted: str
    finished: str | None


class StoredRun(BaseModel):
    run_id: str
    model: str
    status: str
    runs: int
    created: str


class StoredRunSummary(BaseModel):
    run_id: str
    model: str
    status: str
    runs_done: int
    n_runs: int
    outcomes: list[str]
    parameters: list[str]
    summary: list[dict[str, str | float | int | None]]
    backend: Engine = "numpy"
