"""Couple a stakeholder case to a system-dynamics model's state at a date.

A coupling file (``models/iraq_dialogue/bargain_coupling.yaml``) names the model, the
stakeholder file, a reference scenario and a list of rules. Each rule scales one actor
attribute -- its capability, or its salience on one issue or on all -- by how far a
model variable at the chosen date has moved from the same variable in the reference
scenario, run for run::

    multiplier_k = ((v_k + offset) / (v_ref,k + offset)) ** elasticity

where ``v_k`` is run ``k``'s value under the scenario and ``v_ref,k`` run ``k``'s value
under the reference scenario (same seed: same parameter samples and random streams, so
the ratio isolates what the scenario changes). The stakeholder file's judgements
describe the world as it was (the reference scenario, normally ``historical``); under
the reference scenario every multiplier is exactly 1 and the forecast is the stakeholder
file's own. Several rules on the same attribute multiply; saliences are clipped to
[0, 100] afterwards. ``offset`` keeps ratios of [0, 1] indices finite near zero.

Why ratios, not levels: the model's variables are indices whose levels are judgement-
laden, while the stakeholder file already encodes the analyst's reading of June 2020.
Ratios carry only what the scenario changes -- "Iran's influence 20 % lower than it was"
-- into the bargaining inputs, so the coupling never double counts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policylab.bargain.stakeholders import Case
from policylab.errors import ModelFileError, UsageError
from policylab.files import read_capped
from policylab.formats.yaml_loader import line_of, parse_yaml, validation_message
from policylab.limits import MODEL_BYTES

Attribute = Literal["capability", "salience"]


class _RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    variable: str
    actor: str
    attribute: Attribute
    issue: str | None = None
    elasticity: float
    offset: float = Field(default=0.0, ge=0.0)
    basis: str = Field(min_length=3)

    @model_validator(mode="after")
    def _check(self) -> _RuleSpec:
        if self.attribute == "capability" and self.issue is not None:
            raise ValueError("capability is one number per actor: drop `issue`")
        if not np.isfinite(self.elasticity) or abs(self.elasticity) > 10:
            raise ValueError(f"elasticity must be a finite number within [-10, 10], got {self.elasticity!r}")
        return self


class _CouplingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coupling: str
    doc: str = ""
    model: str
    stakeholders: str
    reference_scenario: str
    at: str
    rules: list[_RuleSpec]


@dataclass(frozen=True)
class Rule:
    """``actor.attribute[issue] *= ((variable + offset) / (reference + offset)) ** elasticity``."""

    variable: str
    actor: str
    attribute: Attribute
    issue: str | None
    elasticity: float
    offset: float
    basis: str
    where: str


@dataclass(frozen=True)
class Coupling:
    name: str
    model: Path
    stakeholders: Path
    reference_scenario: str
    at: dt.date
    rules: tuple[Rule, ...]
    doc: str = ""
    path: str = ""

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(r.variable for r in self.rules))


_MONTH = re.compile(r"^\d{4}-\d{2}$")


def parse_date(text: str | dt.date) -> dt.date:
    """``YYYY-MM-DD``, or ``YYYY-MM`` meaning the last day of that month (the state after it)."""
    if isinstance(text, dt.date):
        return text
    value = str(text).strip()
    try:
        if _MONTH.match(value):
            return (pd.Timestamp(value + "-01") + pd.offsets.MonthEnd(0)).date()
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise UsageError(f"not a date: {value!r}; give YYYY-MM (end of that month) or YYYY-MM-DD") from err


def read_coupling(path: str | Path) -> Coupling:
    """Read and validate a coupling file; model and stakeholder paths resolve beside it."""
    file = Path(path)
    doc = parse_yaml(read_capped(file, MODEL_BYTES, "coupling file"), str(file), "coupling file")
    if not isinstance(doc, dict):
        raise ModelFileError(f"{file}:1: a coupling file is a mapping with `model`, `stakeholders` and `rules`")
    try:
        spec = _CouplingSpec.model_validate(doc)
    except ValidationError as err:
        raise ModelFileError(validation_message(err, doc, str(file), _CouplingSpec)) from err
    try:
        at = parse_date(spec.at)
    except UsageError as err:
        raise ModelFileError(f"{file}:{line_of(doc, ('at',))}: at: {err}") from err
    rules = tuple(Rule(r.variable, r.actor, r.attribute, r.issue, r.elasticity, r.offset, r.basis.strip(),
                       f"{file}:{line_of(doc, ('rules', i))}") for i, r in enumerate(spec.rules))
    return Coupling(spec.coupling, file.parent / spec.model, file.parent / spec.stakeholders,
                    spec.reference_scenario, at, rules, spec.doc.strip(), str(file))


def check_rules(coupling: Coupling, case: Case) -> None:
    """Every rule names an actor and issue of ``case``; raise ModelFileError listing the others."""
    problems = []
    for rule in coupling.rules:
        if rule.actor not in case.actors:
            problems.append(f"{rule.where}: actor {rule.actor!r} is not in {case.path or case.name} "
                            f"(actors: {', '.join(case.actors)})")
        if rule.issue is not None and rule.issue not in case.issues:
            problems.append(f"{rule.where}: issue {rule.issue!r} is not in {case.path or case.name} "
                            f"(issues: {', '.join(case.issues)})")
    if problems:
        raise ModelFileError("\n".join(problems))


def state_at(result: xr.Dataset, at: dt.date, variables: list[str]) -> dict[str, np.ndarray]:
    """Each variable's value per run at the last saved time on or before ``at``."""
    if "date" not in result.coords:
        raise UsageError("the model has no calendar (no `date` column); coupling needs a dated model")
    dates = pd.to_datetime(result["date"].values)
    stamp = pd.Timestamp(at)
    if stamp < dates[0] or stamp > dates[-1] + pd.Timedelta(days=1):
        raise UsageError(f"{at} lies outside the model's run ({dates[0].date()} to {dates[-1].date()})")
    index = int(np.searchsorted(dates.values, stamp.to_datetime64(), side="right")) - 1
    missing = [v for v in variables if v not in result]
    if missing:
        raise UsageError(f"the model result lacks {', '.join(missing)} (needed by the coupling)")
    return {v: np.asarray(result[v].isel(time=index).values, dtype=float) for v in variables}


def multipliers(coupling: Coupling, scenario: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One multiplier array (runs,) per rule, in rule order."""
    out = []
    for rule in coupling.rules:
        v = scenario[rule.variable] + rule.offset
        ref = reference[rule.variable] + rule.offset
        if np.any(ref <= 0) or np.any(v < 0):
            bad = int(np.argmax((ref <= 0) | (v < 0)))
            raise UsageError(f"{rule.where}: {rule.variable} + offset is not positive in run {bad} "
                             f"(scenario {v[bad]:.4g}, reference {ref[bad]:.4g}); give the rule an `offset`")
        with np.errstate(divide="ignore"):
            out.append((v / ref) ** rule.elasticity)
    return out


def apply_coupling(sample: xr.Dataset, coupling: Coupling, factors: list[np.ndarray]) -> xr.Dataset:
    """A copy of a stakeholder sample with each rule's multiplier applied (never mutates ``sample``)."""
    capability = sample["capability"].values.copy()
    salience = sample["salience"].values.copy()
    actors = list(sample["actor"].values)
    issues = list(sample["issue"].values)
    for rule, factor in zip(coupling.rules, factors, strict=True):
        a = actors.index(rule.actor)
        if rule.attribute == "capability":
            capability[:, a] *= factor
        else:
            chosen = [issues.index(rule.issue)] if rule.issue is not None else list(range(len(issues)))
            for i in chosen:
                salience[:, i, a] *= factor
    out = sample.copy()
    out["capability"] = (("run", "actor"), capability)
    out["salience"] = (("run", "issue", "actor"), np.clip(salience, 0.0, 100.0))
    return out


def describe(coupling: Coupling) -> list[dict[str, Any]]:
    """The rules as plain records (for reports and JSON output)."""
    return [{"variable": r.variable, "actor": r.actor, "attribute": r.attribute, "issue": r.issue,
             "elasticity": r.elasticity, "offset": r.offset, "basis": r.basis} for r in coupling.rules]
