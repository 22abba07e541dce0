"""The `checks:` section and `bounds:` key of the native format, and their XMILE round trip."""

from __future__ import annotations

import math

import pytest

from policylab.errors import ExpressionError, ModelFileError
from policylab.formats.xmile import read_xmile_bytes, write_xmile
from policylab.formats.yaml_reader import read_yaml_text

HEAD = """model: t
time: {start: 2019-01-01, stop: 2019-12-31, dt: 1, units: day}
levers:
  effort: {baseline: 0, range: [0, 1]}
constants:
  growth: {value: 0.01, range: [0.005, 0.02], judgement: true}
stocks:
  level: {initial: 1, in: [gain], bounds: [0, null]}
flows:
  gain: {equation: growth * level * (1 + effort)}
scenarios:
  base: {}
  push: {set: {effort: 1}}
"""

CHECKS = """checks:
  grows:
    kind: behaviour
    scenario: base
    expect: 'at(level, "2019-12-31") > at(level, "2019-01-01")'
    require: 0.9
    median: true
    against: push
  fits:
    kind: data
    mapping: mapping.yaml
    series: level_observed
    tolerance: {lower_bound: 0.25}
    reason: "a lower bound in the source"
    from: "2019-02-01"
    until: 2019-06-30
  reset:
    kind: reality
    given:
      effort: {value: 1, from: "2019-03-01"}
      growth: 0
      level: {value: 0, at: "2019-06-01"}
    expect: "max(level) <= max(baseline(level))"
  responds:
    kind: lever_response
    lever: effort
    from: ["2019-01-01", "2019-06-01"]
    at: "2019-12-31"
    expect: {level: "+", gain: auto}
  forecast:
    kind: holdout
    mapping: mapping.yaml
    cutoff: "2019-06-30"
    until: "2019-09-30"
    fit: [growth]
    runs: 50
"""


def test_every_check_kind_is_read_with_dates_as_model_times() -> None:
    model = read_yaml_text(HEAD + CHECKS, "m.yaml")
    checks = model.checks
    assert list(checks) == ["grows", "fits", "reset", "responds", "forecast"]
    assert checks["grows"].median and checks["grows"].against == "push" and checks["grows"].require == 0.9
    assert checks["fits"].tolerance == "lower_bound" and checks["fits"].tolerance_value == 0.25
    assert (checks["fits"].start, checks["fits"].until) == (31.0, 180.0)
    given = {g.target: g for g in checks["reset"].given}
    assert given["effort"].start == 59.0 and given["growth"].start is None and given["level"].at == 151.0
    assert checks["responds"].lever_from == (0.0, 151.0)
    assert {r.variable: r.direction for r in checks["responds"].responses} == {"level": "+", "gain": "auto"}
    assert checks["forecast"].fit == ("growth",) and checks["forecast"].runs == 50
    assert checks["grows"].where.line == 15


def test_bounds_read_null_as_unbounded() -> None:
    model = read_yaml_text(HEAD, "m.yaml")
    assert model.variables["level"].bounds == (0.0, math.inf)
    assert model.variables["gain"].bounds is None


def test_a_key_of_another_kind_is_refused_with_the_keys_of_this_kind() -> None:
    text = HEAD + "checks:\n  bad:\n    kind: behaviour\n    expect: 'max(level) > 0'\n    series: x\n"
    with pytest.raises(ModelFileError, match=r"m.yaml:\d+: checks.bad: `series` does not apply to a behaviour check"):
        read_yaml_text(text, "m.yaml")


def test_a_condition_that_does_not_parse_names_its_line() -> None:
    text = HEAD + "checks:\n  bad:\n    kind: behaviour\n    expect: 'max(level) >'\n"
    with pytest.raises(ExpressionError, match=r"m.yaml:17: checks.bad.expect: cannot parse"):
        read_yaml_text(text, "m.yaml")


def test_an_unknown_against_scenario_is_refused_with_a_suggestion() -> None:
    text = HEAD + "checks:\n  bad:\n    kind: behaviour\n    expect: 'max(level) > 0'\n    against: pusj\n"
    with pytest.raises(ModelFileError, match=r"m.yaml:\d+: checks.bad.against: scenario 'pusj' is not defined. Did you mean 'push'"):
        read_yaml_text(text, "m.yaml")


def test_reversed_bounds_are_refused() -> None:
    with pytest.raises(ModelFileError, match="bounds .* are reversed"):
        read_yaml_text(HEAD.replace("bounds: [0, null]", "bounds: [1, 0]"), "m.yaml")


def test_checks_and_bounds_survive_the_xmile_round_trip() -> None:
    model = read_yaml_text(HEAD + CHECKS, "m.yaml")
    copy = read_xmile_bytes(write_xmile(model).encode("utf-8"), "m.xmile")
    strip = lambda c: {k: v for k, v in vars(c).items() if k not in ("where", "given", "responses")}  # noqa: E731
    assert {n: strip(c) for n, c in copy.checks.items()} == {n: strip(c) for n, c in model.checks.items()}
    assert [(g.target, g.value, g.start, g.at) for g in copy.checks["reset"].given] == \
        [(g.target, g.value, g.start, g.at) for g in model.checks["reset"].given]
    assert copy.variables["level"].bounds == (0.0, math.inf)
