"""The compiled (numba) backend computes what the NumPy backend computes.

"The same" means equal to 1e-12 relative: the interpreter repeats NumPy's arithmetic
operation for operation (so most results are bit for bit equal), but NumPy's SIMD
``exp``/``log``/``sin``… and the C library's may differ in the last bit. Errors must be
the same too: a model that becomes NaN fails on both backends with the same message.
The property test generates models from every operator, builtin, lookup extrapolation,
random function and stateful function, both integrators, levers, events and scenarios.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import special, stats

pytest.importorskip("numba")

from policylab.api import BackendFallbackWarning, Model, load  # noqa: E402
from policylab.compile import opcodes, parametric  # noqa: E402
from policylab.simulate import engine, engines  # noqa: E402
from policylab.compile.lookups import lookup_function  # noqa: E402
from policylab.compile.opcodes import Op, _tables, row  # noqa: E402
from policylab.errors import SimulationError, UsageError  # noqa: E402
from policylab.expr.builtins import BUILTINS, POISSON_NORMAL_FROM, find_builtin  # noqa: E402
from policylab.formats.yaml_reader import read_yaml_text  # noqa: E402
from policylab.model.ir import Lookup  # noqa: E402
from policylab.simulate import numba_backend, numba_kernels  # noqa: E402
from policylab.simulate.streams import run_keys, uniform  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "benchmarks"
FLAGSHIP = ROOT / "models" / "iraq_dialogue" / "model.yaml"
RTOL = 1e-12


def assert_same(numpy_ds, numba_ds) -> None:  # type: ignore[no-untyped-def]
    """Equal to RTOL relative to each variable's scale; the same coordinates and parameters."""
    assert numba_ds.attrs["backend"] == "numba"
    assert list(numpy_ds.data_vars) == list(numba_ds.data_vars)
    for name in numpy_ds.data_vars:
        a, b = numpy_ds[name].values, numba_ds[name].values
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * scale, err_msg=name)
    for name, coord in numpy_ds.coords.items():
        assert np.array_equal(coord.values, numba_ds[name].values), name


def run_both(model: Model, **kwargs):  # type: ignore[no-untyped-def]
    """Both backends' results, or both errors (which must read the same)."""
    try:
        expected = model.run(**kwargs)
    except SimulationError as error:
        with pytest.raises(SimulationError) as caught:
            model.run(backend="numba", **kwargs)
        assert str(caught.value) == str(error)
        return None
    actual = model.run(backend="numba", **kwargs)
    assert_same(expected, actual)
    return actual


# --- generated models --------------------------------------------------------------------

NUMBERS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 0.25, 1.7, 4.2, 10.0, 0.1, 7.3])
BINARY = ["+", "-", "*", "/", "^", "mod"]
COMPARE = ["<", "<=", ">", ">=", "=", "<>"]
PURE = [row for row in BUILTINS.values() if row.kind == "pure"]  # every registered pure builtin, at every arity
# the other builtins, each with arguments it is meant for (below); a registered builtin missing here fails a test
GENERATED_OTHERS = {"step", "pulse", "ramp", "pulse_train", "uniform", "normal", "lognormal", "poisson", "exponential",
                    "smooth", "smooth3", "delay1", "delay3", "trend", "delay_fixed", "previous", "init", "lookup",
                    "smoothn", "delayn", "forecast"}


def pure_calls(sub: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A call of any registered pure builtin with an allowed number of arguments."""

    @st.composite
    def call(draw: st.DrawFn) -> str:
        row = draw(st.sampled_from(PURE))
        count = draw(st.integers(row.min_args, row.max_args if row.max_args is not None else row.min_args + 2))
        return f"{row.name}({', '.join(draw(st.lists(sub, min_size=count, max_size=count)))})"

    return call()


def test_the_generated_models_use_every_registered_builtin() -> None:
    assert set(BUILTINS) == {row.name for row in PURE} | GENERATED_OTHERS


def expressions(names: list[str], lookups: list[str], depth: int = 3) -> st.SearchStrategy[str]:
    """Equation text over ``names`` from every operator and builtin (stateful ones included)."""
    leaf = st.one_of(NUMBERS.map(lambda v: repr(v)), st.sampled_from(names + ["TIME", "DT"]))
    if depth == 0:
        return leaf
    sub = expressions(names, lookups, depth - 1)
    small = expressions(names, lookups, 0)
    options = [
        leaf,
        st.tuples(sub, st.sampled_from(BINARY), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(COMPARE), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda e: f"(not {e})"),
        sub.map(lambda e: f"(-{e})"),
        st.tuples(sub, sub, sub).map(lambda t: f"(if {t[0]} then {t[1]} else {t[2]})"),
        pure_calls(sub),
        pure_calls(sub),
        st.tuples(small, NUMBERS).map(lambda t: f"step({t[0]}, {t[1]})"),
        st.tuples(small, NUMBERS, st.sampled_from(["", ", 0", ", 1.5", ", 2"])).map(
            lambda t: f"pulse({t[0]}, {t[1]}{t[2]})"),
        st.tuples(small, NUMBERS, st.sampled_from(["", ", 3", ", 1e999"])).map(lambda t: f"ramp({t[0]}, {t[1]}{t[2]})"),
        st.tuples(NUMBERS, NUMBERS, NUMBERS, NUMBERS).map(lambda t: f"pulse_train({t[0]}, {t[1]}, {t[2]}, {t[3]})"),
        st.tuples(sub, sub).map(lambda t: f"uniform({t[0]}, {t[1]})"),
        st.tuples(sub, small).map(lambda t: f"normal({t[0]}, {t[1]})"),
        st.tuples(NUMBERS, NUMBERS).map(lambda t: f"lognormal({t[0]} + 0.5, {t[1]})"),
        sub.map(lambda e: f"poisson({e})"),
        sub.map(lambda e: f"exponential({e})"),
        st.tuples(sub, st.sampled_from(["smooth", "smooth3", "delay1", "delay3", "trend"]), NUMBERS).map(
            lambda t: f"{t[1]}({t[0]}, {t[2]} + 0.5)"),
        st.tuples(sub, st.sampled_from(["smoothn", "delayn"]), NUMBERS, st.sampled_from([1, 2, 3])).map(
            lambda t: f"{t[1]}({t[0]}, {t[2]} + 0.5, {t[3]})"),
        st.tuples(sub, NUMBERS, NUMBERS).map(lambda t: f"forecast({t[0]}, {t[1]} + 0.5, {t[2]})"),
        st.tuples(sub, NUMBERS).map(lambda t: f"delay_fixed({t[0]}, {t[1]}, 1)"),
        sub.map(lambda e: f"previous({e}, 0.5)"),
        sub.map(lambda e: f"init({e})"),
    ]
    if lookups:
        options.append(st.tuples(st.sampled_from(lookups), sub).map(lambda t: f"{t[0]}({t[1]})"))
        options.append(st.tuples(st.sampled_from(lookups), sub).map(lambda t: f"lookup({t[0]}, {t[1]})"))
    return st.one_of(*options)


@st.composite
def models(draw: st.DrawFn) -> str:
    """The YAML text of a small model with stocks, flows, auxiliaries, lookups, a lever, an event."""
    dt = draw(st.sampled_from([0.25, 0.5, 1.0]))
    steps = draw(st.integers(2, 24))
    method = draw(st.sampled_from(["euler", "rk4"]))
    save = dt * draw(st.sampled_from([1, 1, 2]))
    stop = dt * steps
    lines = ["model: generated", f"time: {{start: 0, stop: {stop}, dt: {dt}, save_every: {save}, method: {method}}}"]
    lines += ["constants:", "  c1: {value: 1.5, range: [0.5, 2.5], judgement: true}", "  c2: 0.3", "  c3: 4"]
    lookups: list[str] = []
    lines.append("lookups:" if draw(st.booleans()) else "lookups: {}")
    for k in range(draw(st.integers(1, 2)) if lines[-1] == "lookups:" else 0):
        n = draw(st.integers(1, 6))
        xs = sorted(draw(st.lists(NUMBERS, min_size=n, max_size=n)))
        ys = draw(st.lists(st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3)), min_size=n, max_size=n))
        kind = draw(st.sampled_from(["clamp", "linear", "discrete"]))
        points = ", ".join(f"[{x}, {y}]" for x, y in zip(xs, ys))
        lines.append(f"  f{k}: {{points: [{points}], extrapolation: {kind}}}")
        lookups.append(f"f{k}")
    interpolation = draw(st.sampled_from(["", ", interpolation: linear"]))
    lines += ["levers:", f"  lev: {{baseline: 1, range: [0, 3], path: {{{stop / 3}: 2, {stop / 2}: 0.5}}{interpolation}}}"]
    lines += ["events:", f"  ev: {{dates: [{dt * draw(st.integers(0, steps))}], magnitude: 2}}"]
    base = ["c1", "c2", "c3", "lev", "ev", "s1", "s2"]
    aux1 = draw(expressions(base, lookups))
    aux2 = draw(expressions(base + ["a1"], lookups))
    flow_in = draw(expressions(base + ["a1", "a2"], lookups))
    flow_out = draw(expressions(base + ["a1", "a2"], lookups, depth=2))
    nonneg = draw(st.sampled_from(["true", "false"]))
    lines += [
        "stocks:",
        f"  s1: {{initial: {draw(st.sampled_from(['1', 'c3', 'c1 * 2', '0']))}, in: [inflow], out: [outflow], "
        f"non_negative: {nonneg}}}",
        "  s2: {initial: 2, in: [outflow]}",
        "flows:",
        f"  inflow: {{equation: '{flow_in}', non_negative: {draw(st.sampled_from(['true', 'false']))}}}",
        f"  outflow: {{equation: '{flow_out}'}}",
        "auxiliaries:",
        f"  a1: {{equation: '{aux1}'}}",
        f"  a2: {{equation: '{aux2}'}}",
        "scenarios:",
        "  other: {policy_from: 1, set: {c2: 0.7, lev: 2.5, ev: {dates: []}}}",
    ]
    return "\n".join(lines) + "\n"


@st.composite
def calls(draw: st.DrawFn) -> dict:
    runs = draw(st.integers(1, 9))
    call = {"runs": runs, "seed": draw(st.integers(0, 2**40)), "deterministic": draw(st.booleans()),
            "scenario": draw(st.sampled_from([None, "other"]))}
    if draw(st.booleans()):  # per-run arrays or scalars (the compiled backend holds both in registers)
        call["params"] = {
            name: np.array(draw(st.lists(NUMBERS, min_size=runs, max_size=runs))) if draw(st.booleans())
            else draw(NUMBERS)
            for name in draw(st.sampled_from([("c3", "lev"), ("c2",), ("lev",), ("c1", "c3")]))
        }
    return call


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# the calls set c1 outside its judgement range on purpose: the engines must agree there too
@pytest.mark.filterwarnings("ignore::policylab.model.guards.OutsideRangeWarning")
@SETTINGS
@given(models(), calls())
def test_a_generated_model_gives_the_same_results_or_the_same_error_on_both_backends(text: str, call: dict) -> None:
    model = Model(read_yaml_text(text, "generated.yaml"))
    run_both(model, **call)


@pytest.mark.slow
@pytest.mark.timeout(7200)
@pytest.mark.filterwarnings("ignore::policylab.model.guards.OutsideRangeWarning")
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(), calls())
def test_many_generated_models_give_the_same_results_on_both_backends(text: str, call: dict) -> None:
    model = Model(read_yaml_text(text, "generated.yaml"))
    run_both(model, **call)


# --- generated arrayed models: the engines compute an array's elements as one block ----------


@st.composite
def arrayed_models(draw: st.DrawFn) -> str:
    """The YAML text of a small model over generated dimensions: arrayed constants, judgement parameters,
    lookups, stocks and flows; apply-to-all and per-element equations; reductions; a fixed element."""
    dt = draw(st.sampled_from([0.25, 0.5, 1.0]))
    steps = draw(st.integers(2, 16))
    method = draw(st.sampled_from(["euler", "rk4"]))
    n = draw(st.integers(2, 5))
    m = draw(st.integers(1, 3))
    regions = [f"r{i}" for i in range(n)]
    values = draw(st.lists(NUMBERS, min_size=n, max_size=n))
    lines = ["model: generated_arrays", f"time: {{start: 0, stop: {dt * steps}, dt: {dt}, method: {method}}}",
             "dimensions:", f"  region: [{', '.join(regions)}]", f"  age: [{', '.join(f'g{j}' for j in range(m))}]",
             "constants:", f"  k1: {{dims: [region], values: [{', '.join(map(repr, values))}]}}",
             "  kj: {dims: [region], value: 1.5, range: [0.5, 2.5], judgement: true}",
             "  c1: {value: 1.2, range: [0.5, 2.5], judgement: true}", "  c2: 0.3",
             "lookups:",
             "  f: {dims: [region], points: [[0, 0], [2, 1], [5, 3]], elements: {r0: [[0, 1], [3, -1]]}}",
             "  h: {points: [[0, 0], [1, 2], [4, 2.5]], extrapolation: linear}",
             "levers:", "  lev: {baseline: 1, range: [0, 3]}"]
    base = ["k1", "kj", "c1", "c2", "lev", "s"]
    lookups = ["f", "h"]
    a1 = draw(expressions(base, lookups, depth=2))
    a2 = draw(expressions(base + ["a1"], lookups, depth=2))
    a2_first = draw(st.one_of(st.just(""), expressions(base + ["a1"], lookups, depth=1).map(
        lambda e: f", elements: {{r0: '{e}'}}")))  # a per-element equation: r0 has its own
    inflow = draw(expressions(base + ["a1", "a2", "total", "spread"], lookups, depth=2))
    outflow = draw(st.sampled_from(["s / (1 + kj)", "s * c2", "a1 * 0.1", "0"]))
    lines += [
        "stocks:",
        f"  s: {{dims: [region], initial: '{draw(st.sampled_from(['k1', '1', 'k1 * kj', 'c1']))}', "
        f"in: [inflow], out: [outflow], non_negative: {draw(st.sampled_from(['true', 'false']))}}}",
        "  grid: {dims: [region, age], initial: 1, in: [growth]}",
        "flows:",
        f"  inflow: {{dims: [region], equation: '{inflow}', non_negative: {draw(st.sampled_from(['true', 'false']))}}}",
        f"  outflow: {{dims: [region], equation: '{outflow}'}}",
        "  growth: {dims: [region, age], equation: 'grid * 0.01 * k1 - a1 * 0.001'}",
        "auxiliaries:",
        f"  a1: {{dims: [region], equation: '{a1}'}}",
        f"  a2: {{dims: [region], equation: '{a2}'{a2_first}}}",
        "  total: {equation: 'SUM(s[*])'}",
        "  spread: {equation: 'MAX(a1[*]) - MIN(a1[*]) + STDDEV(s[*])'}",
        "  rows: {dims: [region], equation: 'SUM(grid[region, *]) + s[r0]'}",
        "  share: {dims: [region], equation: 's / (total + 1)'}",
        "scenarios:",
        "  other: {policy_from: 1, set: {c2: 0.7, lev: 2.5}}",
    ]
    return "\n".join(lines) + "\n"


def run_scalar_lowering(model: Model, **kwargs):  # type: ignore[no-untyped-def]
    """The NumPy engine's results with every element lowered on its own (no blocks); ``model`` fresh (a model
    keeps the runners, and so the tapes, of its latest calls)."""
    lowered = []

    def scalar(*args, **kw):  # type: ignore[no-untyped-def]
        lowered.append(True)
        return opcodes.lower(*args, **kw, lockstep=False)

    modules = (parametric, engines)
    saved = [module.lower for module in modules]
    for module in modules:
        module.lower = scalar
    try:
        result = model.run(**kwargs)
    finally:
        for module, lower in zip(modules, saved, strict=True):
            module.lower = lower
    assert lowered  # the run did lower with lockstep=False
    return result


@pytest.mark.filterwarnings("ignore::policylab.model.guards.OutsideRangeWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrayed_models(), calls())
def test_a_generated_arrayed_model_gives_the_same_results_on_both_engines_and_as_scalars(text: str, call: dict) -> None:
    model = Model(read_yaml_text(text, "generated.yaml"))
    call = {**call, "params": {k: v for k, v in call.get("params", {}).items() if k in ("c2", "lev")}}
    vectorised = run_both(model, **call)
    if vectorised is None:
        return
    scalar = run_scalar_lowering(Model(read_yaml_text(text, "generated.yaml")), **call)
    for name in scalar.data_vars:
        a, b = scalar[name].values, vectorised[name].values
        scale = float(np.nanmax(np.abs(a))) if a.size and np.isfinite(a).any() else 0.0
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * scale, err_msg=name)


# --- the shared benchmark models and the flagship ------------------------------------------


@pytest.mark.parametrize("name", ["teacup", "rivals"])
def test_the_shared_benchmark_models_give_the_same_results(name: str) -> None:
    path = SHARED / f"{name}.xmile"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    model = load(path)
    run_both(model)
    design = np.genfromtxt(SHARED / f"{name}_lhs1000.csv", delimiter=",", names=True, max_rows=40)
    params = {column: design[column] for column in design.dtype.names}
    run_both(model, runs=40, params=params, sample=False)


def test_the_flagship_gives_the_same_results_in_every_scenario() -> None:
    model = load(FLAGSHIP)
    for scenario in model.scenarios:
        run_both(model, scenario=scenario, deterministic=True)
    run_both(model, runs=30, seed=11)


# --- pieces, against NumPy and SciPy ---------------------------------------------------------


def test_uniform_draws_are_the_streams_draws_bit_for_bit() -> None:
    keys = run_keys(12345, np.arange(300))
    for site, step in [(1, 0), (7, 123), (2**40 + 3, 0), (99, 10**6)]:
        offset = numba_kernels._offset(site, step)
        drawn = np.array([numba_kernels._uniform(k, offset) for k in keys])
        assert np.array_equal(drawn, uniform(keys, site, step))


def test_poisson_draws_are_scipys_ppf_exactly() -> None:
    rng = np.random.default_rng(3)
    q = np.concatenate([rng.uniform(0, 1, 3000), [1e-300, 1e-12, 0.5, 1 - 1e-16, 2.0**-53]])
    mu = np.concatenate([rng.choice([1e-300, 1e-8, 0.3, 1, 7.5, 40, 1e3, 1e6], 3000), [2.0, 1.0, 5.0, 3.0, 1.0]])
    expected = stats.poisson.ppf(q, mu)
    actual = np.array([numba_kernels._poisson_ppf(a, b) for a, b in zip(q, mu)])
    np.testing.assert_array_equal(actual, expected)


def test_poisson_draws_from_huge_means_are_the_numpy_backends_approximation() -> None:
    q = np.random.default_rng(4).uniform(0, 1, 500)
    for mean in (POISSON_NORMAL_FROM, 1e12, 2.0**53, 1e300):
        actual = np.array([numba_kernels._poisson_ppf(a, mean) for a in q])
        np.testing.assert_array_equal(actual, find_builtin("poisson").impl(q, mean))


def test_normal_quantiles_are_scipys_ndtri_exactly() -> None:
    from numba import njit

    @njit
    def ndtri(u):  # type: ignore[no-untyped-def]
        out = np.empty_like(u)
        for i in range(u.size):
            out[i] = numba_kernels._ndtri(u[i], 0)
        return out

    u = np.concatenate([np.random.default_rng(4).uniform(0, 1, 2000), [2.0**-53, 0.5, 1 - 2.0**-53]])
    assert np.array_equal(ndtri(u), special.ndtri(u))


@pytest.mark.parametrize("extrapolation", ["clamp", "linear", "discrete"])
def test_lookups_are_numpy_interp_bit_for_bit(extrapolation: str) -> None:
    rng = np.random.default_rng(5)
    for n in range(1, 9):
        for xs in (np.linspace(-2, 3, n), np.sort(rng.uniform(-5, 5, n)), np.sort(rng.integers(-2, 3, n)).astype(float)):
            ys = rng.uniform(-4, 4, n)
            table = Lookup("t", xs=tuple(xs), ys=tuple(ys), extrapolation=extrapolation)
            x = np.concatenate([xs, np.nextafter(xs, np.inf), np.nextafter(xs, -np.inf), rng.uniform(-7, 7, 50),
                                [np.nan, np.inf, -np.inf]])
            with np.errstate(all="ignore"):
                expected = lookup_function(table)(x)
            index, data, params = _tables([table])
            registers = np.zeros((3, x.size))  # argument, result, the interpreter's scratch row
            registers[0] = x
            code = np.array([row(Op.LOOKUP, 1, 0, 0), row(Op.LOOKUP, 0, 0, 0)])
            numba_kernels._exec(code, 0, 2, registers, x.size, 0.0, 1.0, 0, 0, np.zeros(x.size, np.uint64),
                                np.zeros((1, 1, 1)), np.zeros((1, 1, 1), np.int8), np.zeros((1, 1)), index, data, params)
            np.testing.assert_array_equal(registers[1], expected, err_msg=f"{xs} {ys}")
            np.testing.assert_array_equal(registers[0], expected, err_msg=f"in place: {xs} {ys}")


# --- errors, fallbacks, options ----------------------------------------------------------------

BLOW_UP = """
model: blow-up
time: {start: 0, stop: 10, dt: 0.5, method: %s}
constants:
  when: {value: 3, range: [1, 9], judgement: true}
stocks:
  level: {initial: 1, in: [growth]}
flows:
  growth: {equation: 'if TIME >= when then 1 / (TIME - TIME) else 0.1'}
auxiliaries:
  watch: {equation: 'level * 2'}
"""


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("runs", [1, 5, 300])
def test_a_value_that_becomes_infinite_is_named_as_the_numpy_backend_names_it(method: str, runs: int) -> None:
    model = Model(read_yaml_text(BLOW_UP % method, "blow_up.yaml"))
    with pytest.raises(SimulationError, match="became infinite at time") as numpy_error:
        model.run(runs=runs, seed=4)
    with pytest.raises(SimulationError) as numba_error:
        model.run(runs=runs, seed=4, backend="numba")
    assert str(numba_error.value) == str(numpy_error.value)


ARRAYED_BLOW_UP = """
model: arrayed-blow-up
time: {start: 0, stop: 10, dt: 0.5, method: euler}
dimensions:
  region: [a, b, c, d]
constants:
  when: {dims: [region], value: 5, range: [1, 9], judgement: true}
stocks:
  level: {dims: [region], initial: 1, in: [growth], out: [loss], non_negative: true}
flows:
  growth: {dims: [region], equation: 'if TIME >= when then 1 / (TIME - TIME) else 0.1'}
  loss: {dims: [region], equation: 'level * 0.01'}
"""


@pytest.mark.parametrize("runs", [64, 300, 301])
def test_an_arrayed_stock_that_becomes_infinite_is_named_as_the_numpy_backend_names_it(runs: int) -> None:
    # full blocks step an arrayed stock's elements as one span of registers (numba): the same element and run named
    model = Model(read_yaml_text(ARRAYED_BLOW_UP, "arrayed_blow_up.yaml"))
    with pytest.raises(SimulationError, match=r"\w+\[[a-d]\] became infinite at time") as numpy_error:
        model.run(runs=runs, seed=4)
    with pytest.raises(SimulationError) as numba_error:
        model.run(runs=runs, seed=4, backend="numba")
    assert str(numba_error.value) == str(numpy_error.value)
    finite = Model(read_yaml_text(ARRAYED_BLOW_UP.replace("1 / (TIME - TIME)", "0.2"), "arrayed_ok.yaml"))
    results = {backend: finite.run(runs=runs, seed=4, backend=backend) for backend in ("numpy", "numba")}
    np.testing.assert_allclose(results["numba"]["level"].values, results["numpy"]["level"].values, rtol=1e-12)


TIME_FUNCTIONS = """
model: time-functions
time: {start: 0, stop: 12, dt: 0.25, method: euler}
constants:
  first: {value: 2, range: [1, 4], judgement: true}
  every: {value: 3, range: [0, 4], judgement: true}
auxiliaries:
  same_pulse: {equation: 'PULSE(5, 2, 3)'}
  own_pulse: {equation: 'PULSE(5, first, every)'}
  same_step: {equation: 'STEP(2, 4)'}
  own_step: {equation: 'STEP(2, first)'}
  same_ramp: {equation: 'RAMP(1.5, 2, 8)'}
  own_ramp: {equation: 'RAMP(every, first, 8)'}
  same_train: {equation: 'PULSE_TRAIN(1, 0.5, 2, 9)'}
  own_train: {equation: 'PULSE_TRAIN(first, 0.5, every, 9)'}
  mixed: {equation: 'PULSE(first, 2, 3) + STEP(every, 4)'}
"""


@pytest.mark.parametrize("runs", [1, 40, 300])
def test_time_functions_of_values_the_same_in_every_run_or_not_agree_on_both_backends(runs: int) -> None:
    # numba computes a time function once when every operand is the same in all runs of a block, else per run
    model = Model(read_yaml_text(TIME_FUNCTIONS, "time_functions.yaml"))
    numpy_ds, numba_ds = (model.run(runs=runs, seed=6, backend=backend) for backend in ("numpy", "numba"))
    for name in numpy_ds.data_vars:
        np.testing.assert_array_equal(numba_ds[name].values, numpy_ds[name].values, err_msg=name)
    if runs > 1:  # the per-run operands really differ between runs
        assert np.ptp(numba_ds["own_pulse"].values.sum(axis=1)) > 0
        assert np.ptp(numba_ds["same_pulse"].values.sum(axis=1)) == 0


def test_a_nan_delay_time_is_reported_as_the_numpy_backend_reports_it() -> None:
    text = ("model: nan-delay\ntime: {start: 0, stop: 4, dt: 1}\nconstants:\n  zero: 0\n"
            "auxiliaries:\n  late: {equation: 'delay_fixed(TIME, zero / zero, 0)'}\n")
    model = Model(read_yaml_text(text, "nan_delay.yaml"))
    with pytest.raises(SimulationError, match="DELAY_FIXED inside late is NaN in run 0") as numpy_error:
        model.run()
    with pytest.raises(SimulationError) as numba_error:
        model.run(backend="numba")
    assert str(numba_error.value) == str(numpy_error.value)


def test_an_unsorted_lookup_runs_with_numpy_and_says_so() -> None:
    text = ("model: unsorted\ntime: {start: 0, stop: 3, dt: 1}\n"
            "lookups:\n  f: {points: [[1, 0], [2, 1], [3, 2]]}\n"
            "auxiliaries:\n  y: {equation: 'f(TIME)'}\n")
    ir = read_yaml_text(text, "unsorted.yaml")
    unsorted = dataclasses.replace(ir.variables["f"], xs=(2.0, 1.0, 3.0))  # the readers refuse these; other IR builders may not
    model = Model(dataclasses.replace(ir, variables={**ir.variables, "f": unsorted}))
    with pytest.warns(BackendFallbackWarning, match="ran with the NumPy backend"):
        ds = model.run(backend="numba")
    assert ds.attrs["backend"] == "numpy"
    assert np.array_equal(ds["y"].values, model.run()["y"].values)


def test_progress_is_reported_at_the_same_steps_on_both_backends() -> None:
    model = Model(read_yaml_text(BLOW_UP.replace("1 / (TIME - TIME)", "1") % "euler", "p.yaml"))
    seen: dict[str, list[int]] = {"numpy": [], "numba": []}
    for backend, steps in seen.items():
        model.run(backend=backend, progress=steps.append)  # type: ignore[arg-type]
    assert seen["numba"] == seen["numpy"] == list(range(21))


def test_an_unknown_backend_is_a_usage_error_listing_the_choices() -> None:
    model = Model(read_yaml_text(BLOW_UP % "euler", "b.yaml"))
    with pytest.raises(UsageError, match="backend must be one of numpy, numba, auto, got 'jax'"):
        model.run(backend="jax")  # type: ignore[arg-type]


def test_without_numba_the_numba_backend_is_a_usage_error_naming_the_extra(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import policylab.simulate

    monkeypatch.setitem(sys.modules, "policylab.simulate.numba_backend", None)  # as if numba were not installed
    monkeypatch.delattr(policylab.simulate, "numba_backend", raising=False)
    model = Model(read_yaml_text(BLOW_UP % "euler", "b.yaml"))
    with pytest.raises(UsageError, match=r"policylab\[fast\]"):
        model.run(backend="numba")


def test_the_cli_runs_with_the_numba_backend(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policylab.cli import app

    path = tmp_path / "m.yaml"
    path.write_text(BLOW_UP.replace("1 / (TIME - TIME)", "1") % "rk4", encoding="utf-8")
    outputs = {}
    for backend in ("numpy", "numba"):
        done = CliRunner().invoke(app, ["run", str(path), "--format", "csv", "--backend", backend])
        assert done.exit_code == 0, done.output
        outputs[backend] = done.output
    assert outputs["numba"] == outputs["numpy"]
    done = CliRunner().invoke(app, ["run", str(path), "--backend", "jax"])
    assert done.exit_code == 2 and "'jax' is not one of 'numpy', 'numba', 'auto'" in done.output


@pytest.mark.parametrize("kernels", ["serial", "parallel"])
def test_warm_up_runs_the_kernels_it_names_and_says_they_are_ready(monkeypatch, kernels: str) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from policylab.cli import app

    used: list[str] = []
    for name in ("_steps_serial", "_steps_parallel", "_simulate_serial", "_simulate_parallel"):
        kernel = getattr(numba_backend, name)
        monkeypatch.setattr(numba_backend, name, lambda *args, _k=kernel, _n=name: used.append(_n) or _k(*args))
    done = CliRunner().invoke(app, ["warm-up", "--kernels", kernels])
    assert done.exit_code == 0, done.output
    assert f"numba backend ready ({kernels} kernels" in done.output
    assert set(used) == ({"_simulate_serial", "_steps_serial"} if kernels == "serial"
                         else {"_simulate_parallel", "_steps_parallel"})


def test_warm_up_without_numba_is_a_usage_error_naming_the_extra(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    import policylab.api
    from policylab.cli import app

    monkeypatch.setattr(policylab.api, "numba_available", lambda: False)
    done = CliRunner().invoke(app, ["warm-up"])
    assert done.exit_code == 2 and "policylab[fast]" in done.output  # as `run --backend numba` without it


def test_a_non_finite_rate_beside_finite_stocks_is_not_an_error_on_either_backend() -> None:
    text = ("model: quiet-infinity\ntime: {start: 0, stop: 4, dt: 1}\nconstants:\n  zero: 0\n"
            "stocks:\n  s: {initial: 1, in: [inflow]}\n"
            "flows:\n  inflow: {equation: '(not previous(-1 / zero, 0.5))'}\n")
    model = Model(read_yaml_text(text, "quiet.yaml"))
    assert run_both(model) is not None  # found by the property test: the start check looked at rates first


def test_how_runs_are_split_into_blocks_does_not_change_a_result(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = load(FLAGSHIP)
    wide = model.run(runs=70, seed=5, backend="numba", variables=["us_iran_tension", "attack_draws", "attacks"])
    monkeypatch.setattr(numba_backend, "BLOCK", 16)
    narrow = model.run(runs=70, seed=5, backend="numba", variables=["us_iran_tension", "attack_draws", "attacks"])
    for name in wide.data_vars:
        assert np.array_equal(wide[name].values, narrow[name].values), name


def _narrow_blocks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Blocks of two runs on both engines (the width a large arrayed model's register file gets)."""
    monkeypatch.setattr(engine, "block_runs", lambda *args: 2)
    monkeypatch.setattr(numba_backend, "block_runs", lambda *args: 2)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("path", [ROOT / "models" / "sir_regions" / "model.yaml", FLAGSHIP])
def test_narrow_blocks_of_runs_give_the_numbers_of_wide_ones(monkeypatch, backend: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    wide = load(path).run(runs=23, seed=5, backend=backend)
    _narrow_blocks(monkeypatch)
    narrow = load(path).run(runs=23, seed=5, backend=backend)  # a fresh model: it keeps its prepared runners
    for name in wide.data_vars:
        assert np.array_equal(wide[name].values, narrow[name].values, equal_nan=True), name


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_narrow_blocks_name_a_non_finite_value_as_one_block_does(monkeypatch, backend: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SimulationError) as wide:
        Model(read_yaml_text(BLOW_UP % "euler", "b.yaml")).run(runs=45, seed=4, backend=backend)
    _narrow_blocks(monkeypatch)
    with pytest.raises(SimulationError) as narrow:
        Model(read_yaml_text(BLOW_UP % "euler", "b.yaml")).run(runs=45, seed=4, backend=backend)
    assert str(narrow.value) == str(wide.value)


def test_an_arrayed_model_gets_narrower_blocks_than_a_scalar_one() -> None:
    cells = ", ".join(f"c{i}" for i in range(2000))
    text = ("model: wide\ntime: {start: 0, stop: 2, dt: 1}\ndimensions:\n  cell: [" + cells + "]\n"
            "constants:\n  rate: {dims: [cell], value: 0.1}\n"
            "stocks:\n  level: {dims: [cell], initial: 1, in: [growth]}\n"
            "flows:\n  growth: {dims: [cell], equation: level * rate}\n")
    arrayed, scalar = Model(read_yaml_text(text, "wide.yaml")), load(FLAGSHIP)
    widths = {}
    for name, model in (("arrayed", arrayed), ("scalar", scalar)):
        call = model.prepare_call(runs=1000)
        tape = model.runner("numpy", call, False)._lower(call.inputs)[1]  # type: ignore[attr-defined]
        registers, count = opcodes.step_footprint(tape)
        assert 0 < registers <= tape.n_registers and count >= 1
        widths[name] = engine.block_runs(tape, engine.CACHE_BYTES, engine.PER_CALL)
    assert widths["scalar"] >= engine.PER_CALL > widths["arrayed"]


@pytest.mark.parametrize(("runs", "threads", "width"), [(1, 2, 1), (10, 2, 5), (200, 2, 100), (10_000, 2, 512),
                                                        (10_000, 1, 512), (40, 2, 20), (0, 2, 1), (2, 2, 1), (8, 1, 1),
                                                        (9, 2, 5), (9, 1, 9)])
def test_blocks_are_wide_but_leave_no_thread_idle(runs: int, threads: int, width: int) -> None:
    assert numba_backend.block_width(runs, threads) == width


def test_blocks_are_no_wider_than_the_tape_allows_in_cache() -> None:
    assert numba_backend.block_width(1000, 2, 20) == 20
    assert numba_backend.block_width(10, 2, 4) == 4
    assert numba_backend.block_width(10_000, 2, 100_000) == numba_backend.BLOCK


def test_the_first_compile_is_announced_once_and_a_cached_interpreter_silently(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    model = Model(read_yaml_text(BLOW_UP.replace("1 / (TIME - TIME)", "1") % "euler", "quiet.yaml"))
    model.run(backend="numba")  # compiled (or loaded) by now
    assert numba_backend.needs_compiling(False) is False
    monkeypatch.setattr(numba_backend, "_loaded", set())
    monkeypatch.setattr(numba_backend, "needs_compiling", lambda parallel: True)
    with caplog.at_level("WARNING", logger="policylab"):
        model.run(backend="numba")
        model.run(backend="numba")
    messages = [r.getMessage() for r in caplog.records if "compiling the numba backend" in r.getMessage()]
    assert len(messages) == 1 and "once, 3-4 minutes of CPU" in messages[0]


def test_multiplying_by_one_dividing_by_one_and_subtracting_zero_emit_nothing_and_change_no_bit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = ("model: identities\ntime: {start: 0, stop: 4, dt: 1}\nconstants:\n  one: 1\n  zero: 0\n"
            "auxiliaries:\n"
            "  x: {equation: 'IF TIME = 1 THEN -0 * TIME ELSE 1 / (TIME - 3.5)'}\n"
            "  y: {equation: 'x * one * DT / one / DT - zero'}\n  w: {equation: 'one * x'}\n")
    model = Model(read_yaml_text(text, "identities.yaml"))
    tapes = []
    simulate = numba_backend.simulate
    monkeypatch.setattr(numba_backend, "simulate", lambda program, tape, *rest, **kw: (
        tapes.append(tape), simulate(program, tape, *rest, **kw))[1])
    numba_ds, numpy_ds = model.run(backend="numba"), model.run()
    lo, hi = tapes[0].stage
    ops = list(tapes[0].code[lo:hi, 0])
    assert ops.count(Op.MUL) == 1 and ops.count(Op.DIV) == 1 and ops.count(Op.SUB) == 1  # x's own, no more
    expected = numpy_ds["x"].values.ravel()
    assert (np.signbit(expected) & (expected == 0)).any()  # -0 is kept (x + 0 would lose it: not simplified)
    for name in ("y", "w"):
        got = numba_ds[name].values.ravel()
        assert np.array_equal(np.signbit(got), np.signbit(expected)) and np.array_equal(got, expected, equal_nan=True)


ONE_CALL = """
model: one-call
time: {start: 0, stop: 12, dt: 0.25, method: %s}
constants:
  rate: {value: 0.3, range: [0.1, 0.5], judgement: true}
lookups:
  effect: {points: [[0, 1], [5, 0.5], [10, 0.2]]}
stocks:
  level: {initial: 4, in: [inflow], out: [drain], non_negative: true}
flows:
  inflow: {equation: 'step(2, 3) + delay_fixed(drain, 1.5, 0.5)'}
  drain: {equation: 'rate * level * effect(TIME)'}
auxiliaries:
  watch: {equation: 'uniform(0, 1) + level'}
"""


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("runs", [1, 3])
def test_a_block_run_in_one_kernel_call_gives_what_the_run_call_by_call_gives(method: str, runs: int) -> None:
    """Without progress to report, one block goes to the kernel in one call (``_simulate_serial``); with it,
    start and steps are separate calls (``_init_serial``, ``_steps_serial``): the same numbers."""
    model = Model(read_yaml_text(ONE_CALL % method, "one_call.yaml"))
    for save_every in (None, 1.0):
        call = dict(runs=runs, seed=7, backend="numba", save_every=save_every)
        reported: list[int] = []
        whole = model.run(**call)
        stepped = model.run(**call, progress=reported.append)
        assert reported  # the step-by-step path ran
        for name in whole.data_vars:
            np.testing.assert_array_equal(whole[name].values, stepped[name].values, err_msg=name)
        np.testing.assert_allclose(whole["level"].values, model.run(runs=runs, seed=7, save_every=save_every)["level"].values,
                                   rtol=RTOL)
