"""A check's share of runs carries its Wilson interval, and a verdict the interval does not settle is called weak.

``policylab validate`` decides by the share of runs in which a check holds; with 200 runs a share of
54.5 % against a required 50 % is not distinguishable from one of 48 %, and the report must say so.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.results.intervals import Interval
from policylab.validation.results import CheckResult


def _check(share: float, total: int, required: float, counted: str = "runs") -> CheckResult:
    return CheckResult("c", "behaviour", "base", share, required, share >= required, counted, total)  # type: ignore[arg-type]


def test_a_share_of_runs_shows_its_interval_and_is_weak_when_the_interval_holds_the_requirement() -> None:
    close = _check(0.545, 200, 0.5)
    low, high = Interval().wilson(109, 200)
    assert close.interval == (low, high) and low < 0.5 < high
    assert close.weak and close.passed
    assert close.row()["share"] == f"54.5% of 200 runs [{low:.1%}–{high:.1%}], weak"
    clear = _check(0.91, 200, 0.8)
    assert not clear.weak and "weak" not in clear.row()["share"] and "[" in clear.row()["share"]
    failing = _check(0.47, 200, 0.5)  # a failure can be weak too
    assert failing.weak and not failing.passed
    every = _check(1.0, 200, 1.0)  # every run required: the verdict is whether one fails, never weak
    assert every.interval is not None and every.interval[1] == 1.0 and not every.weak


@pytest.mark.parametrize("counted", ["observations", "settings", "outcomes"])
def test_a_share_of_fixed_items_has_no_sampling_interval(counted: str) -> None:
    check = _check(0.5, 6, 0.5, counted)
    assert check.interval is None and not check.weak and "[" not in check.row()["share"]


def test_validate_names_its_weak_checks_and_reports_the_interval_in_json(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  grows_fast:
    kind: behaviour
    require: 0.5
    expect: 'growth_rate > 0.05'
""")
    table = CliRunner().invoke(app, ["validate", model.ir.path, "--runs", "16", "--kind", "behaviour", "--backend",
                                     "numpy"])
    report = json.loads(CliRunner().invoke(app, ["validate", model.ir.path, "--runs", "16", "--kind", "behaviour",
                                                 "--format", "json", "--backend", "numpy"]).stdout)
    (check,) = report["checks"]
    low, high = check["interval"]
    assert low <= check["share"] <= high
    assert check["weak"] == (low < 0.5 <= high)
    assert check["weak"], "16 runs cannot settle a share near one half"
    assert "weak: grows_fast" in table.output and "(1 weak)" in table.output
