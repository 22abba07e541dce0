"""Window functions against closed forms: a stock that grows by 1 per time unit is x(t) = t."""

from __future__ import annotations

import math

import pytest

import policylab
from policylab.errors import CheckError
from policylab.formats.yaml_reader import read_yaml_text
from policylab.validation.conditions import Frames, compile_condition, evaluate

LINE = """model: line
time: {start: 0, stop: 20, dt: 0.5, save_every: 1}
stocks:
  x: {initial: 0, in: [rise]}
flows:
  rise: {equation: 1}
auxiliaries:
  wave: {equation: "if x < 8 then x else 16 - x"}
"""


@pytest.fixture(scope="module")
def frames() -> Frames:
    model = policylab.Model(read_yaml_text(LINE, "line.yaml"))
    return Frames(model.ir, model.run(variables=["x", "wave", "rise"]))


@pytest.mark.parametrize(("text", "expected"), [
    ("at(x, 7)", 7.0), ("at(x, 7.25)", 7.25), ("mean(x, 2, 6)", 4.0), ("mean(x)", 10.0), ("max(x, 0, 5)", 5.0),
    ("min(x, 3, 20)", 3.0), ("sum(rise, 0, 9)", 10.0), ("change(x, 4, 9)", 5.0), ("peak_time(wave)", 8.0),
    ("first_time(x > 12.5)", 13.0), ("first_time(x > 50)", math.inf), ("all(x >= 0)", 1.0), ("any(x > 20)", 0.0),
    ("at(lag(x, 3), 10)", 7.0), ("min(lag(x, 3))", 0.0), ("all(lag(x, 3) < x)", 1.0), ("abs(0 - at(x, 2))", 2.0),
    ("at(x, first_time(wave < 5, 9, 20) + 2)", 14.0), ("time", None),
])
def test_window_functions_agree_with_the_closed_form(frames: Frames, text: str, expected: float | None) -> None:
    condition = compile_condition(frames.model, text, "test", {"x", "wave", "rise"})
    if expected is None:
        with pytest.raises(CheckError, match="is a time series"):
            evaluate(condition, frames)
        return
    assert evaluate(condition, frames)[0] == pytest.approx(expected)


def test_a_nan_makes_a_condition_false_rather_than_true(frames: Frames) -> None:
    condition = compile_condition(frames.model, "at(x, first_time(x > 50)) < 100", "test", {"x"})
    assert math.isnan(evaluate(condition, frames)[0])


def test_dates_need_a_calendar_model(frames: Frames) -> None:
    with pytest.raises(CheckError, match="is a date but line has no calendar"):
        compile_condition(frames.model, 'at(x, "2020-01-01") > 0', "test", {"x"})
