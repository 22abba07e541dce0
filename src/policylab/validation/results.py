"""What ``policylab validate`` reports: one result per check, with a counter-example run for failures."""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

from policylab.results.intervals import Interval

Kind = Literal["behaviour", "data", "reality", "lever_response", "holdout", "extreme", "integration", "units"]
KINDS: tuple[str, ...] = get_args(Kind)
AUTOMATIC: tuple[str, ...] = ("extreme", "integration", "units")
Counted = Literal["runs", "observations", "settings", "outcomes", "issues", "series"]
REPORT_VERSION = 1


@dataclass(frozen=True)
class CounterExample:
    """A run in which a check fails, and how to reproduce it with ``policylab run``.

    ``command`` is empty when ``policylab run`` cannot express the run's settings (``note`` says why).
    """

    run: int
    seed: int
    scenario: str | None
    parameters: dict[str, float] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)
    command: str = ""
    note: str = ""


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check over an ensemble."""

    name: str
    kind: str
    scenario: str | None
    share: float | None
    """Share of ``counted`` items (runs, observations, settings...) in which the check holds."""
    required: float | None
    passed: bool
    counted: Counted = "runs"
    total: int = 0
    detail: str = ""
    doc: str = ""
    where: str = ""
    median: bool | None = None
    """Whether the check holds in the pointwise median run (checks with ``median: true``)."""
    trigger_share: float | None = None
    counter_example: CounterExample | None = None
    metrics: dict[str, object] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"

    @property
    def interval(self) -> tuple[float, float] | None:
        """The share's Wilson interval (the tables' 80 %) when it is a share of sampled runs: how far it could move
        with another ensemble of the same size. None for shares of fixed items (observations, settings...)."""
        if self.counted != "runs" or not self.total or self.share is None or not math.isfinite(self.share):
            return None
        return Interval().wilson(round(self.share * self.total), self.total)

    @property
    def weak(self) -> bool:
        """Whether another ensemble of this size could well give the other verdict: the share's interval holds the
        required share. A requirement of every run is never weak: its verdict is whether some run fails (the
        interval still says how often an unseen failure could be)."""
        band = self.interval
        return (band is not None and self.required is not None and self.required < 1.0
                and band[0] < self.required <= band[1])

    def row(self) -> dict[str, str]:
        """The cells of the report's table (name, kind, scenario, share, required, verdict): a share of runs with
        its interval, and ``weak`` when that interval holds the required share."""
        share = "—" if self.share is None or (isinstance(self.share, float) and math.isnan(self.share)) else (
            f"{self.share:.1%} of {self.total} {self.counted}" if self.total else f"{self.share:.1%}")
        band = self.interval
        if band is not None:
            share += f" [{band[0]:.1%}–{band[1]:.1%}]"
        if self.trigger_share is not None:
            share += f" (triggered in {self.trigger_share:.1%})"
        if self.weak:
            share += ", weak"
        required = "—" if self.required is None else f"{self.required:.0%}"
        if self.median is not None:
            required += " + median"
        return {"name": self.name, "kind": self.kind, "scenario": self.scenario or "—", "share": share,
                "required": required, "verdict": self.verdict}


@dataclass
class ValidationReport:
    """Every check's result for one model, ensemble size and seed."""

    model: str
    path: str
    runs: int
    seed: int
    backend: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def to_json(self) -> dict[str, object]:
        """A versioned, JSON-ready structure (``report_version`` changes when fields change meaning)."""
        return {"report_version": REPORT_VERSION, "model": self.model, "path": self.path, "runs": self.runs,
                "seed": self.seed, "backend": self.backend, "ok": self.ok,
                "checks": [_clean(asdict(r)) | {"verdict": r.verdict, "interval": _clean(r.interval), "weak": r.weak}
                           for r in self.results]}


def _clean(value: object) -> object:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def run_command(path: str, scenario: str | None, seed: int, run: int, settings: dict[str, float],
                variables: list[str], deterministic: bool = False) -> str:
    """The ``policylab run`` command that reproduces run ``run`` (its sampled parameters and stream)."""
    words = ["policylab", "run", path]
    if scenario:
        words += ["--scenario", scenario]
    words += ["--seed", str(seed), "--run-index", str(run)]
    for name, value in settings.items():
        words += ["--set", f"{name}={value:.17g}"]
    if deterministic:
        words.append("--deterministic")
    if variables:
        words += ["--vars", ",".join(variables)]
    words += ["--format", "csv"]
    return " ".join(shlex.quote(w) for w in words)
