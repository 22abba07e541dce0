"""The stakeholder data format: issues on a labelled position scale, actors with judgements.

A stakeholder file is YAML (``models/iraq_dialogue/stakeholders.yaml`` is the bundled
case; ``docs/bargain.md`` documents every key)::

    case: iraq-strategic-dialogue-2020
    doc: "What the file describes"
    date: 2020-06-11
    sources:
      dodge2020: {title: "...", publisher: Chatham House, date: 2020-06-16, file: 000_d85fd4490fab1d87.txt}
    issues:
      force_presence:
        question: "US force presence after the dialogue"
        scale: [0, 100]
        labels: {0: "all foreign forces out", 100: "pre-2020 presence unchanged"}
        nash:                       # optional: the two-party reading
          disagreement:             # each party's utility if the talks fail, on u = 1 - |x - ideal| / width
            us_administration: {value: 0.2, range: [0.0, 0.4], basis: "..."}
            iraqi_pm: {value: 0.3, range: [0.1, 0.5], basis: "..."}
    actors:
      us_administration:
        name: "US administration"
        capability: {value: 30, range: [20, 40], basis: "..."}
        position:
          force_presence: {value: 65, range: [55, 75], source: dodge2020, quote: "...", basis: "..."}
        salience:
          force_presence: {value: 70, range: [55, 85], basis: "..."}

Every number an actor carries is a *judgement*: a nominal ``value``, a ``range`` the
ensemble samples, a one-line ``basis`` (the reasoning) and, where a source says
something, its ``source`` id and a short verbatim ``quote`` (checked by
:func:`check_case_quotes` against the source document on the sources path, the same
rule as model evidence). Errors name the file, line and key.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from policylab.errors import ModelFileError, UsageError
from policylab.files import read_capped
from policylab.formats.yaml_loader import line_of, parse_yaml, validation_message
from policylab.limits import MODEL_BYTES
from policylab.model.evidence import find_source, normalise, read_source_text, sources_path
from policylab.simulate.sampling import from_unit
from policylab.simulate.streams import Streams

Distribution = Literal["uniform", "triangular"]
DISAGREEMENT_BOUNDS = (-1.0, 0.5)
STAKEHOLDER_SITE = 1 << 41  # stream sites above the flagship's parameter sites (1 << 40 + i)


# ---------------------------------------------------------------- file schema (pydantic)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgementSpec(_Strict):
    value: float
    range: tuple[float, float]
    basis: str = Field(min_length=3)
    source: str | None = None
    quote: str | None = None
    distribution: Distribution = "uniform"

    @model_validator(mode="after")
    def _check(self) -> JudgementSpec:
        low, high = self.range
        if not np.isfinite([low, high, self.value]).all():
            raise ValueError("value and range must be finite numbers")
        if not low <= self.value <= high:
            raise ValueError(f"value {self.value:g} lies outside its range [{low:g}, {high:g}]")
        if self.quote is not None and self.source is None:
            raise ValueError("a quote needs the `source` it is taken from")
        return self


class SourceSpec(_Strict):
    title: str
    publisher: str | None = None
    date: dt.date | str | None = None
    url: str | None = None
    file: str | None = None


class NashSpec(_Strict):
    disagreement: dict[str, JudgementSpec]

    @field_validator("disagreement")
    @classmethod
    def _two_parties(cls, value: dict[str, JudgementSpec]) -> dict[str, JudgementSpec]:
        if len(value) != 2:
            raise ValueError(f"name exactly two parties, got {len(value)}: {', '.join(value) or 'none'}")
        low, high = DISAGREEMENT_BOUNDS
        for party, judgement in value.items():
            if judgement.range[0] < low or judgement.range[1] > high:
                raise ValueError(f"{party}: disagreement utility range must lie in [{low:g}, {high:g}] "
                                 "(u = 1 at the party's ideal, 0 a full scale away; <= 0.5 guarantees a deal exists)")
        return value


class IssueSpec(_Strict):
    question: str
    scale: tuple[float, float]
    labels: dict[float, str]
    nash: NashSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> IssueSpec:
        low, high = self.scale
        if not low < high:
            raise ValueError(f"scale must be [low, high] with low < high, got [{low:g}, {high:g}]")
        for end in (low, high):
            if end not in self.labels:
                raise ValueError(f"label both ends of the scale: {end:g} has no label")
        outside = [k for k in self.labels if not low <= k <= high]
        if outside:
            raise ValueError(f"labels outside the scale: {', '.join(f'{k:g}' for k in outside)}")
        return self


class ActorSpec(_Strict):
    name: str
    doc: str | None = None
    capability: JudgementSpec
    position: dict[str, JudgementSpec]
    salience: dict[str, JudgementSpec]


class CaseFile(_Strict):
    case: str
    doc: str = ""
    date: dt.date | None = None
    sources: dict[str, SourceSpec] = {}
    issues: dict[str, IssueSpec]
    actors: dict[str, ActorSpec]


# ---------------------------------------------------------------- the case, as read


@dataclass(frozen=True)
class Judgement:
    """One sampled input: nominal value, range, reasoning and (optionally) source and quote."""

    value: float
    low: float
    high: float
    basis: str
    where: str
    source: str | None = None
    quote: str | None = None
    distribution: Distribution = "uniform"

    @property
    def fixed(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True)
class Issue:
    """One issue: a position scale [low, high] with labelled points, and the optional Nash reading."""

    name: str
    question: str
    low: float
    high: float
    labels: tuple[tuple[float, str], ...]
    disagreement: Mapping[str, Judgement] = field(default_factory=dict)

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class Actor:
    name: str
    label: str
    capability: Judgement
    position: Mapping[str, Judgement]
    salience: Mapping[str, Judgement]
    doc: str = ""


@dataclass(frozen=True)
class Case:
    """A stakeholder case: issues and actors, each number a judgement."""

    name: str
    issues: Mapping[str, Issue]
    actors: Mapping[str, Actor]
    doc: str = ""
    date: dt.date | None = None
    sources: Mapping[str, SourceSpec] = field(default_factory=dict)
    path: str = ""

    def judgements(self) -> dict[str, Judgement]:
        """Every judgement under a stable dotted path (``actors.us.position.force_presence``)."""
        found: dict[str, Judgement] = {}
        for issue in self.issues.values():
            for party, j in issue.disagreement.items():
                found[f"issues.{issue.name}.nash.disagreement.{party}"] = j
        for actor in self.actors.values():
            found[f"actors.{actor.name}.capability"] = actor.capability
            for attribute in ("position", "salience"):
                for issue_name, j in getattr(actor, attribute).items():
                    found[f"actors.{actor.name}.{attribute}.{issue_name}"] = j
        return found


# ---------------------------------------------------------------- reading


def read_case(path: str | Path) -> Case:
    """Read and validate a stakeholder YAML file; errors name the file, line and key."""
    file = Path(path)
    return read_case_text(read_capped(file, MODEL_BYTES, "stakeholder file"), str(file))


def read_case_text(text: bytes | str, file: str = "<string>") -> Case:
    """Parse stakeholder YAML given as text or UTF-8 bytes (``file`` names it in messages)."""
    doc = parse_yaml(text, file, "stakeholder file")
    if not isinstance(doc, dict):
        raise ModelFileError(f"{file}:1: a stakeholder file is a mapping with `case`, `issues` and `actors`")
    try:
        spec = CaseFile.model_validate(doc)
    except ValidationError as err:
        raise ModelFileError(validation_message(err, doc, file, CaseFile)) from err
    return _build(spec, doc, file)


def _judgement(spec: JudgementSpec, where: str) -> Judgement:
    return Judgement(spec.value, spec.range[0], spec.range[1], spec.basis.strip(), where,
                     spec.source, spec.quote, spec.distribution)


def _build(spec: CaseFile, doc: Any, file: str) -> Case:
    problems: list[str] = []

    def at(*loc: Any) -> str:
        return f"{file}:{line_of(doc, loc)}"

    def check_source(j: JudgementSpec, *loc: Any) -> None:
        if j.source is not None and j.source not in spec.sources:
            problems.append(f"{at(*loc, 'source')}: {'.'.join(map(str, loc))}.source: "
                            f"{j.source!r} is not listed under `sources:` (listed: {', '.join(spec.sources) or 'none'})")

    issues: dict[str, Issue] = {}
    for name, issue in spec.issues.items():
        disagreement = {}
        if issue.nash is not None:
            for party, j in issue.nash.disagreement.items():
                loc = ("issues", name, "nash", "disagreement", party)
                if party not in spec.actors:
                    problems.append(f"{at(*loc)}: {'.'.join(loc)}: {party!r} is not an actor "
                                    f"(actors: {', '.join(spec.actors)})")
                check_source(j, *loc)
                disagreement[party] = _judgement(j, at(*loc))
        issues[name] = Issue(name, issue.question.strip(), issue.scale[0], issue.scale[1],
                             tuple(sorted(issue.labels.items())), disagreement)
    if not issues:
        problems.append(f"{at('issues')}: issues: name at least one issue")

    actors: dict[str, Actor] = {}
    for name, actor in spec.actors.items():
        loc0 = ("actors", name)
        if actor.capability.range[0] < 0:
            problems.append(f"{at(*loc0, 'capability')}: actors.{name}.capability: capability cannot be negative")
        check_source(actor.capability, *loc0, "capability")
        for attribute in ("position", "salience"):
            given: dict[str, JudgementSpec] = getattr(actor, attribute)
            for issue_name in issues:
                if issue_name not in given:
                    problems.append(f"{at(*loc0, attribute)}: actors.{name}.{attribute}: no value for issue {issue_name!r}")
            for issue_name, j in given.items():
                loc = (*loc0, attribute, issue_name)
                if issue_name not in issues:
                    problems.append(f"{at(*loc)}: actors.{name}.{attribute}.{issue_name}: unknown issue "
                                    f"(issues: {', '.join(issues)})")
                    continue
                issue = issues[issue_name]
                low, high = (issue.low, issue.high) if attribute == "position" else (0.0, 100.0)
                if j.range[0] < low or j.range[1] > high:
                    problems.append(f"{at(*loc)}: actors.{name}.{attribute}.{issue_name}: range "
                                    f"[{j.range[0]:g}, {j.range[1]:g}] leaves [{low:g}, {high:g}]")
                check_source(j, *loc)
        actors[name] = Actor(
            name, actor.name.strip(), _judgement(actor.capability, at(*loc0, "capability")),
            {k: _judgement(v, at(*loc0, "position", k)) for k, v in actor.position.items() if k in issues},
            {k: _judgement(v, at(*loc0, "salience", k)) for k, v in actor.salience.items() if k in issues},
            (actor.doc or "").strip(),
        )
    if len(actors) < 2:
        problems.append(f"{at('actors')}: actors: a bargaining case needs at least two actors")
    if problems:
        raise ModelFileError("\n".join(problems))
    return Case(spec.case, issues, actors, spec.doc.strip(), spec.date, dict(spec.sources), file)


def case_from_table(name: str, rows: Mapping[str, tuple[float, float, float]], issue: str = "issue",
                    scale: tuple[float, float] | None = None, basis: str = "table value") -> Case:
    """A one-issue case from point values ``{actor: (capability, position, salience)}``.

    Used for published examples such as the European Community table (fixed numbers, no
    ranges). Without ``scale`` the scale is the span of the positions.
    """
    positions = [p for _, p, _ in rows.values()]
    low, high = scale if scale is not None else (min(positions), max(positions))
    if not low < high:
        raise UsageError(f"{name}: the positions span no interval; give `scale`")
    point = lambda v: Judgement(float(v), float(v), float(v), basis, name)  # noqa: E731
    actors = {a: Actor(a, a, point(c), {issue: point(p)}, {issue: point(s)}) for a, (c, p, s) in rows.items()}
    issues = {issue: Issue(issue, issue, float(low), float(high), ((float(low), "low end"), (float(high), "high end")))}
    return Case(name, issues, actors)


# ---------------------------------------------------------------- sampling


def _site(path: str) -> int:
    """A stream site fixed by the judgement's path, so adding a judgement reshuffles no other."""
    return STAKEHOLDER_SITE + zlib.crc32(path.encode("utf-8"))


def _draw(j: Judgement, u: np.ndarray) -> np.ndarray:
    if j.fixed:
        return np.full(u.shape, j.value)
    return from_unit(u, j.low, j.high, j.distribution, j.value)  # the judgement's value is a triangle's mode


def sample_case(case: Case, runs: int = 1, seed: int = 0, first_run: int = 0, sample: bool | None = None) -> xr.Dataset:
    """Draw every judgement of ``case`` once per run: a Dataset over (run, actor[, issue]).

    With ``runs == 1`` (or ``sample=False``) every judgement takes its nominal value;
    otherwise run ``k`` draws from its own stream (``SeedSequence(seed, spawn_key=(k,))``,
    at a site fixed by the judgement's path), so run ``k`` is the same alone or in any
    ensemble, and the flagship run ``k`` and the stakeholder draw ``k`` pair up.

    Variables: ``capability (run, actor)``, ``position (run, issue, actor)``,
    ``salience (run, issue, actor)`` (0-100) and, for issues with a Nash reading,
    ``disagreement_<issue> (run, party)``. Coordinates ``scale_low``/``scale_high`` per issue.
    """
    if not isinstance(runs, (int, np.integer)) or runs < 1:
        raise UsageError(f"runs must be a whole number >= 1, got {runs!r}")
    do_sample = runs > 1 if sample is None else sample
    run_index = np.arange(first_run, first_run + runs, dtype=np.int64)
    streams = Streams(int(seed), run_index)
    paths = case.judgements()
    sites = {_site(p) for p in paths}
    if len(sites) != len(paths):  # pragma: no cover - a CRC collision among a file's paths
        raise UsageError(f"{case.path}: two judgement paths hash to the same random stream; rename one")

    def value(path: str) -> np.ndarray:
        j = paths[path]
        if not do_sample:
            return np.full(runs, j.value)
        return _draw(j, streams.draw(_site(path), 0))

    actors = list(case.actors)
    issues = list(case.issues)
    capability = np.stack([value(f"actors.{a}.capability") for a in actors], axis=-1)
    position = np.stack([np.stack([value(f"actors.{a}.position.{i}") for a in actors], axis=-1) for i in issues], axis=1)
    salience = np.stack([np.stack([value(f"actors.{a}.salience.{i}") for a in actors], axis=-1) for i in issues], axis=1)
    data: dict[str, Any] = {
        "capability": (("run", "actor"), capability),
        "position": (("run", "issue", "actor"), position),
        "salience": (("run", "issue", "actor"), salience),
    }
    for issue in case.issues.values():
        if issue.disagreement:
            parties = list(issue.disagreement)
            values = np.stack([value(f"issues.{issue.name}.nash.disagreement.{p}") for p in parties], axis=-1)
            data[f"disagreement_{issue.name}"] = (("run", f"party_{issue.name}"), values)
    coords = {
        "run": run_index, "actor": actors, "issue": issues,
        "scale_low": ("issue", [case.issues[i].low for i in issues]),
        "scale_high": ("issue", [case.issues[i].high for i in issues]),
    }
    for issue in case.issues.values():
        if issue.disagreement:
            coords[f"party_{issue.name}"] = list(issue.disagreement)
    return xr.Dataset(data, coords=coords, attrs={"case": case.name, "seed": int(seed), "runs": int(runs),
                                                   "sampled": int(do_sample)})


# ---------------------------------------------------------------- quotes


@dataclass(frozen=True)
class QuoteCheck:
    """The outcome of checking one quoted judgement against its source document."""

    path: str
    source: str
    status: Literal["verified", "not_found", "source_missing"]
    message: str


def check_case_quotes(case: Case, extra_folders: list[str] | None = None) -> list[QuoteCheck]:
    """Check each judgement's ``quote`` against its source file, found as model evidence is.

    The source's ``file`` is looked up in ``sources/`` beside the stakeholder file, then in
    each folder of ``$POLICYLAB_SOURCES``, then in ``extra_folders``; quotes must appear
    after the same normalisation as evidence quotes (NFKC, straight quotes, dashes, spaces).
    """
    folders = sources_path(case.path, extra_folders)
    texts: dict[str, str | None] = {}
    results = []
    for path, j in case.judgements().items():
        if j.quote is None or j.source is None:
            continue
        if j.source not in texts:
            file = case.sources[j.source].file if j.source in case.sources else None
            found = find_source(file, folders) if file else None
            texts[j.source] = normalise(read_source_text(found)) if found else None
        text = texts[j.source]
        if text is None:
            results.append(QuoteCheck(path, j.source, "source_missing",
                                      f"{j.where}: {path}: source {j.source!r} not found on the sources path; "
                                      "put its file in sources/ beside the stakeholder file or on $POLICYLAB_SOURCES"))
        elif normalise(j.quote) in text:
            results.append(QuoteCheck(path, j.source, "verified", f"{path}: quote verified in {j.source}"))
        else:
            results.append(QuoteCheck(path, j.source, "not_found",
                                      f"{j.where}: {path}: quote not found in {j.source}: {j.quote[:60]!r}"))
    return results
