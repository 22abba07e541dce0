"""Every check kind has a small model where it passes and one where it must fail."""

from __future__ import annotations

import numpy as np
import pytest

from policylab.validation import validate

RUNS = 64
NEGATIVE_ERROR = "0.01 * (capacity - level) / settle_time * (1 + 200 * effort)"
"""A planted sign error: (capacity - level) for (level - capacity) in an overflow drain, which then
drains a level below capacity; with effort at 1 it drains the level below zero within days."""


def only(model, kind: str):  # type: ignore[no-untyped-def]
    report = validate(model, kinds=[kind], runs=RUNS, backend="numpy")
    assert report.results, "no check ran"
    return report


# --------------------------------------------------------------------------- behaviour
def test_a_true_reference_mode_passes_in_every_run_and_the_median(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  grows:
    kind: behaviour
    median: true
    expect: 'at(level, "2020-12-31") > at(level, "2020-01-01") and peak_time(level) > "2020-06-01"'
""")
    result = only(model, "behaviour").results[0]
    assert result.passed and result.share == 1.0 and result.median is True and result.total == RUNS


def test_a_false_reference_mode_fails_with_a_counter_example(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  shrinks:
    kind: behaviour
    require: 0.8
    expect: 'mean(level, "2020-10-01", "2020-12-31") < mean(level, "2020-01-01", "2020-03-31")'
""")
    report = only(model, "behaviour")
    result = report.results[0]
    assert not report.ok and result.share == 0.0 and result.verdict == "FAIL"
    example = result.counter_example
    assert example is not None and example.run == 0 and "--run-index 0" in example.command
    assert set(example.parameters) == {"growth_rate", "settle_time"}


def test_against_compares_each_run_with_the_same_run_of_another_scenario(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  push_helps:
    kind: behaviour
    scenario: push
    against: base
    expect: 'at(level, "2020-08-01") > at(against(level), "2020-08-01") and all(level >= against(level) - 1e-9)'
  push_hurts:
    kind: behaviour
    scenario: push
    against: base
    expect: 'at(level, "2020-08-01") < at(against(level), "2020-08-01")'
""")
    results = {r.name: r for r in only(model, "behaviour").results}
    assert results["push_helps"].passed
    assert not results["push_hurts"].passed and results["push_hurts"].share == 0.0


def test_a_trigger_counts_only_triggered_runs_and_its_share_is_required(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  fast_runs_saturate:
    kind: behaviour
    when: "growth_rate > 0.05"
    trigger_require: 0.9
    expect: 'at(share_of_capacity, "2020-12-31") > 0.5'
""")
    result = only(model, "behaviour").results[0]
    assert 0.2 < result.trigger_share < 0.8  # about half the sampled growth rates exceed 0.05
    assert result.share == 1.0 and not result.passed  # holds where triggered, but triggered too rarely


# --------------------------------------------------------------------------- data
DATA = """date,series,value
2020-02,level_seen,3
2020-06-01,level_seen,40
2020-09-01,level_seen,90
"""
MAPPING = "data: data.csv\nseries:\n  level_seen: {variable: level}\n"


def test_data_within_tolerance_passes_and_outside_fails(model_with) -> None:  # type: ignore[no-untyped-def]
    checks = """  wide:
    kind: data
    mapping: mapping.yaml
    series: level_seen
    tolerance: {relative: 10}
    reason: "a test"
  narrow:
    kind: data
    mapping: mapping.yaml
    series: level_seen
    tolerance: {absolute: 0.001}
    reason: "a test"
    from: "2020-05-01"
"""
    model = model_with(checks, extra={"data.csv": DATA, "mapping.yaml": MAPPING})
    results = {r.name: r for r in only(model, "data").results}
    assert results["wide"].passed and results["wide"].total == 3 and results["wide"].counted == "observations"
    assert not results["narrow"].passed and results["narrow"].total == 2
    assert "observed" in results["narrow"].detail


# --------------------------------------------------------------------------- reality
def test_a_reality_check_applies_its_given_and_compares_with_the_baseline(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  no_growth_without_rate:
    kind: reality
    given: {growth_rate: 0}
    expect: "max(level) <= 1 and all(level <= baseline(level))"
  emptied_stays_empty:
    kind: reality
    given:
      level: {value: 0, at: "2020-06-01"}
      effort: {value: 1, from: "2020-03-01"}
    expect: 'max(level, "2020-06-02", "2020-12-31") == 0 and at(level, "2020-05-01") > at(baseline(level), "2020-05-01")'
  wrongly_expects_growth:
    kind: reality
    given: {growth_rate: 0}
    expect: 'at(level, "2020-12-31") > 1'
""")
    results = {r.name: r for r in only(model, "reality").results}
    assert results["no_growth_without_rate"].passed
    assert results["emptied_stays_empty"].passed
    failed = results["wrongly_expects_growth"]
    assert not failed.passed and failed.share == 0.0
    assert "--set growth_rate=0" in failed.counter_example.command


# --------------------------------------------------------------------------- lever response
def test_a_lever_response_in_the_declared_or_derived_direction_passes(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  effort_raises_level:
    kind: lever_response
    lever: effort
    from: ["2020-01-01", "2020-03-01"]
    at: "2020-06-01"
    expect: {level: auto, final_level: "+"}
  effort_lowers_level:
    kind: lever_response
    lever: effort
    at: "2020-06-01"
    expect: {level: "-"}
""")
    results = {r.name: r for r in only(model, "lever_response").results}
    assert results["effort_raises_level"].passed and results["effort_raises_level"].share == 1.0
    assert not results["effort_lowers_level"].passed and results["effort_lowers_level"].share == 0.0


# --------------------------------------------------------------------------- holdout
def _truth(model_with, scale_after_cutoff: float) -> str:  # type: ignore[no-untyped-def]
    """Observations from the model itself at growth_rate 0.06 (a known truth), scaled after the cut-off."""
    truth = model_with().run(params={"growth_rate": 0.06}, deterministic=True, variables=["level"])
    rows = []
    for month in range(2, 11):
        value = float(truth["level"].sel(time=truth["time"].values[truth["date"].values.astype("datetime64[D]")
                                                                  == np.datetime64(f"2020-{month:02d}-01")])[0, 0])
        rows.append(f"2020-{month:02d}-01,level_seen,{value * (scale_after_cutoff if month > 5 else 1):.6g}\n")
    return "date,series,value\n" + "".join(rows)


@pytest.mark.parametrize(("scale", "passes"), [(1.0, True), (3.0, False)])
def test_a_holdout_scores_the_prediction_after_the_cutoff(model_with, scale: float, passes: bool) -> None:  # type: ignore[no-untyped-def]
    data = _truth(model_with, scale)
    model = model_with("""  forecast:
    kind: holdout
    mapping: mapping.yaml
    cutoff: "2020-05-15"
    fit: [growth_rate]
    runs: 40
    require: 0.6
""", extra={"data.csv": data, "mapping.yaml": MAPPING})
    result = only(model, "holdout").results[0]
    assert result.passed is passes
    assert abs(result.metrics["fitted"]["growth_rate"] - 0.06) < 0.005  # fitted on the first months' truth
    stats = result.metrics["series"]["level_seen"]
    assert stats["n"] == 5 and {"rmse", "um", "us", "uc", "coverage_50", "coverage_80", "coverage_90"} <= set(stats)
    assert abs(stats["um"] + stats["us"] + stats["uc"] - 1) < 1e-9


# --------------------------------------------------------------------------- automatic
def test_the_extreme_sweep_finds_a_planted_sign_error_that_drives_a_stock_negative(model_with) -> None:  # type: ignore[no-untyped-def]
    healthy = validate(model_with(), kinds=["extreme"], runs=RUNS, backend="numpy").results[0]
    assert healthy.passed and healthy.share == 1.0
    broken = validate(model_with(loss=NEGATIVE_ERROR), kinds=["extreme"], runs=RUNS, backend="numpy").results[0]
    assert not broken.passed
    negative = [v for v in broken.metrics["violations"] if v["message"].startswith("level = -")]
    assert "outside its bounds [0, inf]" in negative[0]["message"]
    assert broken.counter_example is not None and "--set" in broken.counter_example.command


def test_integration_checks_pass_for_a_smooth_model_and_fail_for_a_stiff_one(model_with) -> None:  # type: ignore[no-untyped-def]
    smooth = validate(model_with(), kinds=["integration"], runs=RUNS, backend="numpy")
    assert smooth.ok and {r.name for r in smooth.results} == {"integration_half_dt", "integration_method"}
    stiff = validate(model_with(loss="0.95 * level"), kinds=["integration"], runs=RUNS, backend="numpy")
    assert not stiff.ok  # a drain of 95 % of the level per day with dt = 1 day: Euler is far off
    assert all(not r.passed for r in stiff.results) and "mean_level" in stiff.results[0].detail


def test_units_are_checked_as_policylab_check_does(model_with) -> None:  # type: ignore[no-untyped-def]
    assert validate(model_with(), kinds=["units"]).ok
    wrong = validate(model_with(loss="level + settle_time"), kinds=["units"]).results[0]
    assert not wrong.passed and wrong.total >= 1


def test_rk4_against_euler_does_not_apply_to_a_model_with_discrete_events(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A pulse is a jump per Euler step; RK4 would integrate it as an input, so the check says it does not apply."""
    import policylab

    path = tmp_path / "pulsed.yaml"
    path.write_text(
        "model: pulsed\ntime: {start: 0, stop: 50, dt: 1, units: day}\n"
        "events:\n  shock: {dates: [10], magnitude: 1, units: 1/day}\n"
        "stocks:\n  level: {initial: 0, units: '1', in: [jump], out: [decay]}\n"
        "flows:\n  jump: {equation: 'MIN(1 / DT, 0.7 * shock) * (1 - level)', units: 1/day}\n"
        "  decay: {equation: level / 20, units: 1/day}\n"
        "outcomes:\n  final_level: {variable: level, stat: final}\n", encoding="utf-8")
    report = validate(policylab.load(path), kinds=["integration"], runs=1, backend="numpy")
    method = next(r for r in report.results if r.name == "integration_method")
    assert method.passed and method.share is None and "not applicable" in method.detail
    assert next(r for r in report.results if r.name == "integration_half_dt").share is not None
