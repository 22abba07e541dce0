"""A small logistic-growth model for validation tests; each test appends the checks it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

import policylab

MODEL = """model: growth
time: {start: 2020-01-01, stop: 2020-12-31, dt: 1, units: day, save_every: 1}
default_scenario: base
levers:
  effort: {baseline: 0, range: [0, 1], units: "1", doc: "More effort, faster growth"}
constants:
  growth_rate: {value: 0.05, range: [0.03, 0.07], judgement: true, units: 1/day, basis: "test"}
  capacity: {value: 100, units: widget}
  settle_time: {value: 10, range: [5, 20], judgement: true, units: day, basis: "test"}
stocks:
  level: {initial: 1, units: widget, in: [gain], out: [loss], bounds: [0, null]}
flows:
  gain:
    equation: growth_rate * (1 + effort) * level * (1 - level / capacity)
    units: widget/day
    evidence:
      - {from: effort, sign: "+", assumption: "effort speeds growth"}
  loss: {equation: "LOSS", units: widget/day}
auxiliaries:
  share_of_capacity: {equation: level / capacity, units: "1", bounds: [0, 1]}
scenarios:
  base: {doc: "as written"}
  push: {doc: "full effort from mid-year", policy_from: 2020-07-01, set: {effort: 1}}
outcomes:
  final_level: {variable: level, stat: final}
  mean_level: {variable: level, stat: mean}
"""


HEALTHY_LOSS = "0.01 * (level - 0) / settle_time"
def write_model(folder: Path, checks: str = "", loss: str = HEALTHY_LOSS, extra: dict[str, str] | None = None) -> Path:
    """The test model with ``checks`` appended (text under `checks:`) and the loss flow's equation."""
    text = MODEL.replace("LOSS", loss)
    if checks:
        text += "checks:\n" + checks
    path = folder / "model.yaml"
    path.write_text(text, encoding="utf-8")
    for name, content in (extra or {}).items():
        (folder / name).write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def model_with(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``model_with(checks, ...)`` -> a loaded policylab.Model."""
    def make(checks: str = "", loss: str = HEALTHY_LOSS, extra: dict[str, str] | None = None) -> policylab.Model:
        return policylab.load(write_model(tmp_path, checks, loss, extra))
    return make
