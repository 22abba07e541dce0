"""Loops That Matter scores against hand-computed values (docs/loops.md)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from policylab.api import load

SI = """
model: two-stock-diffusion
time: {start: 0, stop: 40, dt: 0.5, units: week}
constants:
  people: {value: 1000, units: person}
  contact: {value: 0.5, units: 1/week}
stocks:
  adopters: {initial: 10, units: person, in: [adoption]}
  potential: {initial: people - 10, units: person, out: [adoption]}
flows:
  adoption: {equation: contact * adopters * potential / people, units: person/week}
"""


def _model(tmp_path: Path, text: str, name: str = "m.yaml"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load(path)


def test_two_stock_scores_match_the_hand_computation_and_dominance_shifts_at_half_adoption(tmp_path: Path) -> None:
    """adoption = c·A·P/N: the R loop (through adopters) has relative score P(t-dt)/N and the B loop
    (through potential) -A(t-dt)/N, so dominance passes from R to B when half have adopted."""
    model = _model(tmp_path, SI)
    ds = model.loops(backend="numpy")
    run = model.run(backend="numpy")
    assert set(ds.polarity.values) == {"R", "B"} and not ds.alone.any()
    r = ds.relative_score.sel(loop=[i for i in ds.loop.values if i.startswith("R")][0]).isel(run=0).values
    b = ds.relative_score.sel(loop=[i for i in ds.loop.values if i.startswith("B")][0]).isel(run=0).values
    adopters = run["adopters"].isel(run=0).values
    potential = run["potential"].isel(run=0).values
    assert np.isnan(r[0]) and np.isnan(b[0])  # step 0 has no previous step
    np.testing.assert_allclose(r[1:], potential[:-1] / 1000, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b[1:], -adopters[:-1] / 1000, rtol=1e-9, atol=1e-12)
    # Hand-computed crossing: with Euler, A(t+dt) = A + dt·c·A·(N-A)/N from A(0)=10; R dominates while A(t-dt) < N/2.
    a, t, crossing = 10.0, 0.0, None
    while t < 40:
        if a >= 500 and crossing is None:
            crossing = t + 0.5  # the first step whose previous adopters are at least half
        a, t = a + 0.5 * 0.5 * a * (1000 - a) / 1000, t + 0.5
    times = ds.time.values
    first_b = times[1:][np.abs(b[1:]) >= np.abs(r[1:])][0]
    assert first_b == pytest.approx(crossing)
    # The continuous-time inflection ln(N/A0 - 1)/c = 9.19 weeks; Euler at dt = 0.5 crosses within a step or two.
    assert abs(first_b - math.log(1000 / 10 - 1) / 0.5) < 1.5


NET = """
model: one-net-flow
time: {start: 0, stop: 30, dt: 0.25, units: year}
constants:
  fertility: {value: 0.3, units: 1/year}
  crowding: {value: 0.0004, units: 1/(person*year)}
stocks:
  population: {initial: 50, units: person, in: [net_growth]}
flows:
  net_growth: {equation: births - deaths, units: person/year}
auxiliaries:
  births: {equation: fertility * population, units: person/year}
  deaths: {equation: crowding * population * population, units: person/year}
"""

SPLIT = """
model: split-flows
time: {start: 0, stop: 30, dt: 0.25, units: year}
constants:
  fertility: {value: 0.3, units: 1/year}
  crowding: {value: 0.0004, units: 1/(person*year)}
stocks:
  population: {initial: 50, units: person, in: [births], out: [deaths]}
flows:
  births: {equation: fertility * population, units: person/year}
  deaths: {equation: crowding * population * population, units: person/year}
"""


def test_splitting_a_net_flow_into_inflow_and_outflow_leaves_loop_scores_unchanged(tmp_path: Path) -> None:
    """The 2023 correction: the flow-to-stock score reads changes of flows, not their values."""
    net = _model(tmp_path, NET, "net.yaml").loops(backend="numpy")
    split = _model(tmp_path, SPLIT, "split.yaml").loops(backend="numpy")
    by_polarity = {}
    for ds in (net, split):
        for polarity in ("R", "B"):
            chosen = ds.sel(loop=ds.loop[ds.polarity == polarity])
            assert chosen.sizes["loop"] == 1
            by_polarity.setdefault(polarity, []).append(chosen)
    for polarity, (a, b) in by_polarity.items():
        np.testing.assert_allclose(a.score.values[0, 1:], b.score.values[0, 1:], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.relative_score.values[0, 1:], b.relative_score.values[0, 1:], rtol=1e-9)
    # the value-based 2020 form would have scored the births loop |births / net| — far from this one
    run = _model(tmp_path, SPLIT, "split2.yaml").run(backend="numpy").isel(run=0)
    old = np.abs(run.births.values / (run.births.values - run.deaths.values))[1:]
    assert np.nanmax(np.abs(old - by_polarity["R"][1].score.values[0, 1:, 0])) > 0.5


def test_a_loop_alone_in_its_partition_is_flagged_and_scores_one(tmp_path: Path) -> None:
    model = _model(tmp_path, """
        model: teacup
        time: {start: 0, stop: 10, dt: 0.5, units: minute}
        constants:
          room: {value: 20, units: degree}
          tau: {value: 5, units: minute}
        stocks:
          heat: {initial: 90, units: degree, out: [loss]}
        flows:
          loss: {equation: (heat - room) / tau, units: degree/minute}
        """)
    ds = model.loops(backend="numpy", periods=[("all", 0, 10.5)])
    assert bool(ds.alone.item()) and ds.polarity.item() == "B"
    np.testing.assert_allclose(ds.relative_score.values[0, 1:, 0], -1.0)
    assert not ds.dominant.any()  # alone is reported as such, not as dominant


def test_discovery_finds_the_strong_loops_and_says_so(tmp_path: Path) -> None:
    """The strongest-path search finds both loops of the two-stock model; scores equal the exhaustive ones."""
    model = _model(tmp_path, SI)
    exhaustive = model.loops(backend="numpy")
    found = model.loops(backend="numpy", mode="discovery")
    assert exhaustive.attrs["loop_mode"] == "exhaustive" and found.attrs["loop_mode"] == "discovery"
    assert "discovery_time_points" in found.attrs["loop_budget"]
    assert sorted(found.loop.values) == sorted(exhaustive.loop.values)
    np.testing.assert_allclose(found.relative_score.sel(loop=exhaustive.loop).values, exhaustive.relative_score.values)


def test_loops_over_an_ensemble_give_period_shares_and_scores_per_run(tmp_path: Path) -> None:
    """Per run, the R loop dominates the early period and the B loop the late one; runs are independent."""
    model = _model(tmp_path, SI.replace("contact: {value: 0.5, units: 1/week}",
                                       "contact: {value: 0.5, units: 1/week, range: [0.4, 0.6], judgement: true}"))
    periods = [("early", 0, 5), ("late", 25, 40.5)]
    ds = model.loops(runs=6, seed=3, backend="numpy", periods=periods)
    assert ds.sizes == {"loop": 2, "time": 81, "run": 6, "period": 2}
    r = [i for i in ds.loop.values if i.startswith("R")][0]
    assert ds.dominant.sel(loop=r, period="early").all() and not ds.dominant.sel(loop=r, period="late").any()
    assert (ds.dominant.sum("loop") == 1).all()  # one dominant loop per partition, period and run
    single = model.loops(runs=1, seed=3, backend="numpy", params={"contact": float(ds.contact.values[0])})
    np.testing.assert_allclose(single.relative_score.values[..., 0], ds.relative_score.values[..., 0], rtol=1e-12)


def test_cli_names_the_dominant_loop_of_each_period_within_100_columns(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from policylab.cli import app

    path = tmp_path / "si.yaml"
    path.write_text(textwrap.dedent(SI), encoding="utf-8")
    args = ["loops", str(path), "--runs", "1", "--backend", "numpy", "--period", "early=0..5", "--period", "late=25..40.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    early = lines.index(next(line for line in lines if line.startswith("early")))
    first = next(line for line in lines[early:] if line.strip().startswith(("R[", "B[")))
    assert first.strip().startswith("R[adopters]#") and "100%" in first
    assert "exhaustive" in result.stdout and "adopters -> adoption" in result.stdout.replace("\n      ", " ")
    data = json.loads(CliRunner().invoke(app, [*args, "--format", "json"]).stdout)
    late = {row["loop"]: row for row in data["periods"][1]["loops"]}
    assert max(late, key=lambda k: late[k]["dominant_share"]).startswith("B[") and data["mode"] == "exhaustive"
    bad = CliRunner().invoke(app, ["loops", str(path), "--period", "nonsense"])
    assert bad.exit_code == 2 and "LABEL=START..END" in bad.output


def test_a_result_too_large_for_memory_is_refused_before_running(tmp_path: Path) -> None:
    from policylab.errors import UsageError

    model = _model(tmp_path, SI)
    with pytest.raises(UsageError, match="save_every"):
        model.loops(runs=10_000_000, backend="numpy")


EVENTS = """
model: generated-clashes
time: {start: 2020-01-01, stop: 2020-12-31, dt: 1, units: day}
default_scenario: pinned
constants:
  escalation: {value: 0.02, units: 1/day}
  calm: {value: 0.05, units: 1/day}
stocks:
  tension: {initial: 10, units: "1", in: [clash], out: [calming]}
flows:
  calming: {equation: calm * tension, units: 1/day}
events:
  clash:
    hazard: escalation * tension
    record: [2020-02-01]
    magnitude: 1
    units: 1/day
scenarios:
  pinned: {doc: "the record until July", condition_until: 2020-07-01}
"""


def test_a_generated_event_is_scored_through_its_hazard_and_not_while_it_follows_its_record(tmp_path: Path) -> None:
    """Deterministic: clash = escalation·tension, so after July the R loop's share is e/(e+c) by hand;
    before, the event follows its record, its input does not move it, and the loop through it scores 0."""
    model = _model(tmp_path, EVENTS)
    ds = model.loops(backend="numpy", deterministic=True)
    r = ds.relative_score.sel(loop=[i for i in ds.loop.values if i.startswith("R")][0]).isel(run=0)
    july = model.ir.time.to_time(__import__("datetime").date(2020, 7, 1))
    before, after = r.sel(time=slice(1, july - 1)), r.sel(time=slice(july + 2, None))
    assert (before == 0).all()
    np.testing.assert_allclose(after.values, 0.02 / (0.02 + 0.05), rtol=1e-9)


def test_a_model_without_feedback_is_a_clear_error_exit_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policylab.cli import app

    path = tmp_path / "open.yaml"
    path.write_text(textwrap.dedent("""
        model: open-loop
        time: {start: 0, stop: 5, dt: 1, units: day}
        stocks:
          water: {initial: 0, units: litre, in: [tap]}
        flows:
          tap: {equation: 2, units: litre/day}
        """), encoding="utf-8")
    result = CliRunner().invoke(app, ["loops", str(path), "-n", "1", "--backend", "numpy"])
    assert result.exit_code == 1 and "no feedback loop" in result.output and "Traceback" not in result.output


def test_re_evaluation_replays_the_runs_own_random_draws(tmp_path: Path) -> None:
    """Every input at the previous step, the draw included, gives back the saved value exactly."""
    from policylab.results.loops.ensemble import _trace
    from policylab.results.loops.links import evaluate
    from policylab.results.loops.scores import LinkScorer
    from policylab.results.loops.structure import SystemGraph

    model = _model(tmp_path, """
        model: noisy
        time: {start: 0, stop: 20, dt: 0.5, units: day}
        constants:
          k: {value: 0.1, units: 1/day}
        stocks:
          s: {initial: 10, units: "1", in: [growth]}
        flows:
          growth: {equation: "k * s * (1 + 0.5 * RANDOM_UNIFORM(-1, 1))", units: 1/day}
        """)
    system = SystemGraph(model)
    _ds, trace = _trace(model, system, ["s", "growth"], None, 4, 7, 0, None, False, False, "numpy")
    scorer = LinkScorer(system, {}, trace)
    _now, before = scorer._views()
    again = evaluate(system.targets["growth"], before, {}, scorer._time_before, trace.dt, scorer._uniforms("growth"))
    np.testing.assert_array_equal(again, before["growth"])
    means = evaluate(system.targets["growth"], before, {}, scorer._time_before, trace.dt)  # no draws: the mean
    assert np.abs(means - before["growth"]).max() > 0.01
