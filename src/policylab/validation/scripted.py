"""Checks that run scenarios and test conditions per run: behaviour, reality and lever_response.

Behaviour checks follow Sterman (2000, *Business Dynamics*, ch. 21) on behaviour
reproduction, stated as reference modes over an ensemble; reality checks follow Vensim's
Reality Check (``:TEST INPUT:`` / ``:THE CONDITION: ... :IMPLIES: ...``): a setting and the
consequence it must have, optionally relative to the same runs without the setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import xarray as xr

from policylab.api import Model
from policylab.compile.graph import suggest
from policylab.errors import CheckError
from policylab.model.ir import Check, Lever, Stock
from policylab.results.outcomes import outcome_array
from policylab.validation import derived
from policylab.validation.conditions import Condition, Frames, compile_condition, evaluate, holds
from policylab.validation.context import Context, where
from policylab.validation.results import CheckResult

MAX_PATHS = 20_000



def _outputs(model: Model) -> set[str]:
    return set(model.variables)


# --------------------------------------------------------------------------- behaviour
@dataclass(frozen=True)
class Behaviour:
    check: Check
    expect: Condition
    when: Condition | None


def prepare_behaviour(ctx: Context, check: Check) -> Behaviour:
    """Parse and name-check the conditions; declare what the scenarios must save."""
    frames = ("against",) if check.against else ()
    expect = compile_condition(ctx.ir, check.expect, where(check, "expect"), _outputs(ctx.model), frames)
    when = compile_condition(ctx.ir, check.when, where(check, "when"), _outputs(ctx.model), frames) if check.when else None
    scenario = ctx.scenario_of(check)
    for condition in filter(None, (expect, when)):
        ctx.need(scenario, condition.variables("run"))
        if check.against:
            ctx.need(check.against, condition.variables("against"))
    return Behaviour(check, expect, when)


def run_behaviour(ctx: Context, item: Behaviour) -> CheckResult:
    check = item.check
    scenario = ctx.scenario_of(check)
    runs = ctx.runs_of(check)
    ds = ctx.ensemble(scenario, runs)
    others = {"against": ctx.ensemble(check.against, runs)} if check.against else {}
    frames = Frames(ctx.ir, ds, others, lambda n, d: ctx.constant(n, d, scenario))
    ok = holds(evaluate(item.expect, frames))
    triggered = holds(evaluate(item.when, frames)) if item.when else np.ones(len(ok), bool)
    counted = int(triggered.sum())
    share = float(ok[triggered].mean()) if counted else float("nan")
    trigger_share = float(triggered.mean()) if item.when else None
    passed = counted > 0 and share >= check.require - 1e-12
    if check.trigger_require is not None and trigger_share is not None:
        passed = passed and trigger_share >= check.trigger_require - 1e-12
    in_median = None
    if check.median:
        median_frames = Frames(ctx.ir, ctx.median(ds), {k: ctx.median(v) for k, v in others.items()},
                               lambda n, d: ctx.constant(n, d, scenario))
        expect_median = bool(holds(evaluate(item.expect, median_frames))[0])
        when_median = bool(holds(evaluate(item.when, median_frames))[0]) if item.when else True
        in_median = expect_median or not when_median
        passed = passed and in_median
    failing = np.flatnonzero(triggered & ~ok)
    example = None
    if failing.size:
        names = sorted(set(item.expect.variables("run")) & set(ds.data_vars))
        note = "" if not check.against else f"compare with the same command under --scenario {check.against}"
        example = ctx.counter_example(ds, int(failing[0]), scenario, names, note=note)
    detail = _behaviour_detail(counted, len(ok), share, check, in_median)
    return CheckResult(check.display or check.name, check.kind, scenario, share, check.require, passed, "runs",
                       counted, detail, check.doc, str(check.where), in_median, trigger_share, example)


def _behaviour_detail(counted: int, runs: int, share: float, check: Check, in_median: bool | None) -> str:
    parts = []
    if check.when:
        parts.append(f"triggered in {counted} of {runs} runs" + (" — never triggered" if not counted else ""))
    if in_median is False:
        parts.append("fails in the pointwise ensemble median")
    if counted and share < check.require:
        parts.append(f"holds in {share:.1%} of runs, needs {check.require:.0%}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- reality
@dataclass(frozen=True)
class Reality:
    check: Check
    expect: Condition
    variant: Model
    scenario: str
    params: dict[str, float]


def reality_variant(ctx: Context, checks: list[Check]) -> tuple[Model, dict[str, tuple[str, dict[str, float]]]]:
    """One variant model holding every reality check's scenario (and stock resets)."""
    ir = ctx.ir
    stocks = {g.target for c in checks for g in c.given if isinstance(ir.variables.get(g.target), Stock)}
    variant_ir = derived.with_resets(ir, stocks)
    scenarios, arms = {}, {}
    for check in checks:
        name = f"~given:{check.name}"
        scenario, params = derived.given_scenario(variant_ir, ctx.scenario_of(check), name, check.given,
                                                  f"checks.{check.display or check.name}")
        scenarios[name] = scenario
        arms[check.name] = (name, params)
    return derived.load_ir(derived.with_scenarios(variant_ir, scenarios)), arms


def prepare_reality(ctx: Context, check: Check, variant: Model, arm: tuple[str, dict[str, float]]) -> Reality:
    expect = compile_condition(ctx.ir, check.expect, where(check, "expect"), _outputs(ctx.model), ("baseline",))
    return Reality(check, expect, variant, arm[0], arm[1])


def run_reality(ctx: Context, item: Reality) -> CheckResult:
    check = item.check
    runs = ctx.runs_of(check)
    base_scenario = ctx.scenario_of(check)
    names = set(item.expect.variables("run"))
    ds = ctx.ensemble(item.scenario, runs, item.variant, item.params, names)
    baseline = ctx.ensemble(base_scenario, runs, item.variant, None, set(item.expect.variables("baseline")) or names)
    frames = Frames(ctx.ir, ds, {"baseline": baseline},
                    lambda n, d: np.array([[item.params[n]]]) if n in item.params and d is ds
                    else ctx.constant(n, d, base_scenario))
    ok = holds(evaluate(item.expect, frames))
    share = float(ok.mean())
    passed = share >= check.require - 1e-12
    failing = np.flatnonzero(~ok)
    example = None
    if failing.size:
        settings = _expressible_settings(ctx, check, base_scenario)
        note = "" if settings is not None else (
            "`policylab run` cannot set a lever from a date or reset a stock; rerun this run index with "
            "`policylab validate --check " + (check.display or check.name) + "`")
        example = ctx.counter_example(ds, int(failing[0]), base_scenario, sorted(names & set(ds.data_vars)),
                                      settings or {}, note, expressible=settings is not None)
    detail = "" if passed else f"holds in {share:.1%} of runs, needs {check.require:.0%}"
    return CheckResult(check.display or check.name, check.kind, base_scenario, share, check.require, passed, "runs",
                       len(ok), detail, check.doc, str(check.where), counter_example=example)


def _expressible_settings(ctx: Context, check: Check, scenario: str | None) -> dict[str, float] | None:
    """``--set`` values reproducing ``given``, or None when `run` cannot express them."""
    policy_from = ctx.ir.scenarios[scenario].policy_from if scenario in ctx.ir.scenarios else None
    settings = {}
    for g in check.given:
        var = ctx.ir.variables.get(g.target)
        if isinstance(var, Stock) or g.at is not None:
            return None
        if isinstance(var, Lever) and (policy_from is not None or (g.start is not None and g.start > ctx.ir.time.start)):
            return None
        settings[g.target] = g.value
    return settings


# --------------------------------------------------------------------------- lever response
@dataclass(frozen=True)
class LeverResponse:
    check: Check
    directions: dict[str, str]
    arms: dict[tuple[float, str], str]
    """(from time, "min"/"max") -> scenario of the variant."""
    variant: Model


def prepare_lever_responses(ctx: Context, checks: list[Check]) -> list[LeverResponse]:
    """Resolve directions (``auto`` from the signed causal paths) and build one variant with every arm."""
    ir = ctx.ir
    scenarios, prepared = {}, []
    for check in checks:
        at_lever = where(check, "lever")
        lever = ir.variables.get(check.lever)
        if not isinstance(lever, Lever):
            levers = list(ir.of_kind(Lever))
            raise CheckError(f"{at_lever}: {check.lever!r} is not a lever of {ir.name}.{suggest(check.lever, levers)}")
        if lever.range is None:
            raise CheckError(f"{at_lever}: lever {check.lever!r} has no `range: [min, max]` to move across; give it one")
        directions = {}
        for response in check.responses:
            here = f"{response.where}: checks.{check.display or check.name}.expect.{response.variable}"
            if response.variable not in ctx.model.variables and response.variable not in ir.outcomes:
                known = list(ctx.model.variables) + list(ir.outcomes)
                raise CheckError(f"{here}: {response.variable!r} is not a variable or outcome of {ir.name}."
                                 f"{suggest(response.variable, known)}")
            directions[response.variable] = response.direction if response.direction != "auto" else \
                _path_sign(ctx, check.lever, response.variable, here)
        times = check.lever_from or (ir.time.start,)
        for t in times:
            if not ir.time.start - 1e-9 <= t <= ir.time.stop + 1e-9:
                raise CheckError(f"{where(check, 'from')}: {t:g} is outside the run")
        arms = {}
        for t in times:
            for end, value in (("min", lever.range[0]), ("max", lever.range[1])):
                name = f"~lever:{check.name}:{t:g}:{end}"
                scenarios[name] = derived.lever_scenario(ir, ctx.scenario_of(check), name, check.lever, value, t)
                arms[(t, end)] = name
        prepared.append((check, directions, arms))
    variant = derived.load_ir(derived.with_scenarios(ir, scenarios))
    return [LeverResponse(c, d, a, variant) for c, d, a in prepared]


def _path_sign(ctx: Context, lever: str, target: str, here: str) -> str:
    """The sign shared by every signed causal path lever -> target, else a CheckError asking to declare it."""
    from policylab.compile.causal import causal_graph

    ir = ctx.ir
    variable = ir.outcomes[target].variable if target in ir.outcomes and target not in ctx.model.variables else target
    graph = causal_graph(ctx.model)
    digraph = nx.DiGraph()
    for link in graph.links:
        digraph.add_edge(link.source, link.target, sign=link.sign)
    if lever not in digraph or variable not in digraph or not nx.has_path(digraph, lever, variable):
        raise CheckError(f"{here}: no causal path leads from {lever} to {variable}; declare the direction (\"+\" or \"-\") "
                         "or drop it")
    signs = set()
    for count, path in enumerate(nx.all_simple_paths(digraph, lever, variable, cutoff=12)):
        if count >= MAX_PATHS:
            raise CheckError(f"{here}: more than {MAX_PATHS:,} causal paths lead from {lever} to {variable}; "
                             "declare the direction (\"+\" or \"-\")")
        link_signs = [digraph.edges[a, b]["sign"] for a, b in zip(path, path[1:])]
        if any(s not in ("+", "-") for s in link_signs):
            raise CheckError(f"{here}: the path {' -> '.join(path)} has a link of unknown sign; declare the direction")
        signs.add("-" if link_signs.count("-") % 2 else "+")
        if len(signs) > 1:
            raise CheckError(f"{here}: causal paths from {lever} to {variable} disagree in sign (some raise it, "
                             "some lower it); declare the direction you expect (\"+\" or \"-\")")
    return signs.pop()


def _read(ds: xr.Dataset, ir, name: str, at: float | None) -> np.ndarray:  # type: ignore[no-untyped-def]
    if name in ir.outcomes and name not in ds.data_vars:
        return outcome_array(ds, ir.outcomes[name])
    times = ds["time"].values
    index = len(times) - 1 if at is None else int(np.argmin(np.abs(times - at)))
    return ds[name].values[:, index]


def run_lever_response(ctx: Context, item: LeverResponse) -> CheckResult:
    check, ir = item.check, ctx.ir
    runs = ctx.runs_of(check)
    names = {ir.outcomes[n].variable if n in ir.outcomes and n not in ctx.model.variables else n for n in item.directions}
    ok = np.ones(runs, bool)
    metrics: dict[str, object] = {}
    arms = {}
    for (t, end), scenario in item.arms.items():
        arms[(t, end)] = ctx.ensemble(scenario, runs, item.variant, None, names)
    for t in sorted({t for t, _ in item.arms}):
        low, high = arms[(t, "min")], arms[(t, "max")]
        for name, direction in item.directions.items():
            change = _read(high, ir, name, check.at) - _read(low, ir, name, check.at)
            right = change > 0 if direction == "+" else change < 0
            metrics[f"{name} from {t:g} ({direction})"] = float(right.mean())
            ok &= right
    share = float(ok.mean())
    passed = share >= check.require - 1e-12
    example = None
    failing = np.flatnonzero(~ok)
    if failing.size:
        scenario = ctx.scenario_of(check)
        lever = ir.variables[check.lever]
        policy_from = ir.scenarios[scenario].policy_from if scenario in ir.scenarios else None
        expressible = policy_from is None and all(t <= ir.time.start + 1e-9 for t, _ in item.arms)
        note = (f"the arm with {check.lever} at its maximum: the same command with --set {check.lever}="
                f"{lever.range[1]:g}") if expressible else (  # type: ignore[union-attr]
            f"`policylab run` cannot hold {check.lever} at a level from a date")
        example = ctx.counter_example(arms[next(iter(item.arms))], int(failing[0]), scenario, sorted(names),
                                      {check.lever: lever.range[0]}, note, expressible)  # type: ignore[union-attr]
    wrong = [k for k, v in metrics.items() if v < 1]
    detail = "" if passed else "wrong direction in some runs: " + ", ".join(f"{k}: {metrics[k]:.0%} right" for k in wrong[:4])
    return CheckResult(check.display or check.name, check.kind, ctx.scenario_of(check), share, check.require, passed,
                       "runs", runs, detail, check.doc, str(check.where), counter_example=example, metrics=metrics)
