"""Ground truth for the simulator: closed-form solutions and exact discrete recursions.

Each test writes a tiny model inline, runs it, and compares the trajectory with the
analytic answer. Tolerances are stated next to each comparison with the reason for them.
"""

from __future__ import annotations

import numpy as np
import pytest

from policylab.api import Model
from policylab.formats.yaml_reader import read_yaml_text


def model(body: str, time: str) -> Model:
    """A runnable model from the YAML sections in ``body`` and a ``time:`` flow mapping."""
    return Model(read_yaml_text(f"model: closed-form\ntime: {time}\n{body}", "closed_form.yaml"))


def trajectory(body: str, time: str, name: str, **run: object) -> tuple[np.ndarray, np.ndarray]:
    """Times and run 0's values of variable ``name``."""
    ds = model(body, time).run(variables=[name], **run)  # type: ignore[arg-type]
    return ds["time"].values, ds[name].values[0]


def erlang3_cdf(s: np.ndarray, tau: float) -> np.ndarray:
    """Step response of a third-order smooth or delay: the Erlang-3 CDF with mean ``tau``."""
    x = 3 * np.clip(s, 0, None) / tau
    return 1 - np.exp(-x) * (1 + x + x * x / 2)


DECAY = """
constants:
  k: 0.5
stocks:
  x: {initial: 1, out: [decay]}
flows:
  decay: {equation: k * x}
"""

LOGISTIC = """
constants:
  r: 0.6
  capacity: 1000
stocks:
  x: {initial: 10, in: [growth]}
flows:
  growth: {equation: r * x * (1 - x / capacity)}
"""


def logistic(t: np.ndarray, r: float = 0.6, capacity: float = 1000, x0: float = 10) -> np.ndarray:
    return capacity / (1 + (capacity / x0 - 1) * np.exp(-r * t))


# --- stocks and flows -------------------------------------------------------------------

def test_exponential_decay_with_rk4_matches_exp_to_1e_6_relative() -> None:
    t, x = trajectory(DECAY, "{start: 0, stop: 10, dt: 0.05, method: rk4}", "x")
    np.testing.assert_allclose(x, np.exp(-0.5 * t), rtol=1e-6, atol=0)


def test_logistic_growth_with_rk4_matches_its_closed_form_to_1e_6_relative() -> None:
    t, x = trajectory(LOGISTIC, "{start: 0, stop: 20, dt: 0.05, method: rk4}", "x")
    np.testing.assert_allclose(x, logistic(t), rtol=1e-6, atol=0)


def test_euler_decay_is_exactly_the_discrete_recursion() -> None:
    # Euler computes x_{n+1} = x_n (1 - k dt); only floating-point rounding may differ.
    t, x = trajectory(DECAY, "{start: 0, stop: 10, dt: 0.1}", "x")
    n = np.arange(len(t))
    np.testing.assert_allclose(x, (1 - 0.5 * 0.1) ** n, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("body", "exact"), [(DECAY, lambda t: np.exp(-0.5 * t)), (LOGISTIC, logistic)],
                         ids=["decay", "logistic"])
def test_euler_error_is_first_order_so_halving_dt_halves_it(body: str, exact) -> None:  # type: ignore[no-untyped-def]
    errors = []
    for dt in (0.02, 0.01):
        t, x = trajectory(body, f"{{start: 0, stop: 10, dt: {dt}, save_every: 1}}", "x")
        errors.append(np.max(np.abs(x - exact(t)) / np.abs(exact(t))))
    assert errors[1] > 1e-6  # Euler is really inexact here...
    assert 1.8 < errors[0] / errors[1] < 2.2  # ...and its error is O(dt)


def test_rk4_error_is_fourth_order_so_halving_dt_divides_it_by_16() -> None:
    errors = []
    for dt in (0.5, 0.25):
        t, x = trajectory(LOGISTIC, f"{{start: 0, stop: 10, dt: {dt}, save_every: 1, method: rk4}}", "x")
        errors.append(np.max(np.abs(x - logistic(t))))
    assert 12 < errors[0] / errors[1] < 20


# --- smooths and delays -----------------------------------------------------------------
# A unit step from t = 0 with the output starting at 0 is smooth on the whole run, so RK4
# with dt = 0.01 is accurate to ~1e-10: we require 1e-8.
# A unit step at t0 = 5 from equilibrium is a discontinuity that RK4 samples with its
# last stage: the step ending at t0 sees the input on for 1/6 of its weight, an error of
# at most dt / (6 tau) ~ 8e-4 (dt = 0.01, tau = 2) that decays afterwards. We allow
# dt / (4 tau) = 1.25e-3, which still catches a delay off by one step (dt / tau = 5e-3).

CONTINUOUS = "{start: 0, stop: 20, dt: 0.01, method: rk4, save_every: 0.5}"
TAU, T0, DT = 2.0, 5.0, 0.01


@pytest.mark.parametrize(
    ("equation", "response"),
    [
        ("SMOOTH(STEP(1, 0), 2, 0)", lambda t: 1 - np.exp(-t / TAU)),
        ("SMOOTH1(STEP(1, 0), 2, 0)", lambda t: 1 - np.exp(-t / TAU)),
        ("SMOOTH3(STEP(1, 0), 2, 0)", lambda t: erlang3_cdf(t, TAU)),
        ("SMOOTHN(STEP(1, 0), 2, 3, 0)", lambda t: erlang3_cdf(t, TAU)),
        ("DELAY1(STEP(1, 0), 2, 0)", lambda t: 1 - np.exp(-t / TAU)),
        ("DELAY3(STEP(1, 0), 2, 0)", lambda t: erlang3_cdf(t, TAU)),
        ("DELAYN(STEP(1, 0), 2, 3, 0)", lambda t: erlang3_cdf(t, TAU)),
    ],
)
def test_response_to_a_step_at_the_start_matches_its_analytic_form(equation: str, response) -> None:  # type: ignore[no-untyped-def]
    t, y = trajectory(f"auxiliaries:\n  y: {{equation: '{equation}'}}\n", CONTINUOUS, "y")
    np.testing.assert_allclose(y, response(t), rtol=0, atol=1e-8)


@pytest.mark.parametrize(
    ("function", "response"),
    [
        ("SMOOTH", lambda s: 1 - np.exp(-s / TAU)),
        ("SMOOTH3", lambda s: erlang3_cdf(s, TAU)),
        ("DELAY1", lambda s: 1 - np.exp(-s / TAU)),
        ("DELAY3", lambda s: erlang3_cdf(s, TAU)),
    ],
)
def test_response_to_a_later_unit_step_matches_its_analytic_form(function: str, response) -> None:  # type: ignore[no-untyped-def]
    body = f"auxiliaries:\n  u: {{equation: 'STEP(1, {T0})'}}\n  y: {{equation: '{function}(u, {TAU})'}}\n"
    t, y = trajectory(body, CONTINUOUS, "y")
    s = np.clip(t - T0, 0, None)
    np.testing.assert_allclose(y, response(s), rtol=0, atol=DT / (4 * TAU))


def test_delay1_conserves_material_so_its_stock_integral_matches_the_input() -> None:
    body = """
auxiliaries:
  u: {equation: 'STEP(1, 5)'}
stocks:
  delivered: {initial: 0, in: [out]}
flows:
  out: {equation: 'DELAY1(u, 2)'}
"""
    t, delivered = trajectory(body, CONTINUOUS, "delivered")
    s = np.clip(t - T0, 0, None)
    exact = s - TAU * (1 - np.exp(-s / TAU))  # integral of 1 - exp(-s/tau)
    np.testing.assert_allclose(delivered, exact, rtol=0, atol=2 * DT)


def test_euler_smooth_of_a_step_is_exactly_the_discrete_first_order_recursion() -> None:
    body = "auxiliaries:\n  y: {equation: 'SMOOTH(STEP(1, 5), 2)'}\n"
    t, y = trajectory(body, "{start: 0, stop: 20, dt: 0.25}", "y")
    n = np.clip(np.rint((t - 5) / 0.25), 0, None)
    np.testing.assert_allclose(y, 1 - (1 - 0.25 / 2) ** n, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_delay_fixed_is_the_input_shifted_by_the_delay_exactly(method: str) -> None:
    body = "auxiliaries:\n  u: {equation: 'STEP(1, 2) + RAMP(0.5, 4)'}\n  y: {equation: 'DELAY_FIXED(u, 3, 0)'}\n"
    ds = model(body, f"{{start: 0, stop: 12, dt: 0.25, method: {method}}}").run()
    t, u, y = ds["time"].values, ds["u"].values[0], ds["y"].values[0]
    shift = round(3 / 0.25)
    assert np.array_equal(y[shift:], u[:-shift])
    assert np.array_equal(y[:shift], np.zeros(shift))
    assert t[shift] == 3.0


def test_delay_fixed_without_an_initial_value_starts_at_the_input() -> None:
    t, y = trajectory("auxiliaries:\n  y: {equation: 'DELAY(TIME + 7, 2)'}\n", "{start: 0, stop: 6, dt: 1}", "y")
    assert y.tolist() == [7, 7, 7, 8, 9, 10, 11]


def test_delay_fixed_reads_a_delay_time_computed_at_initialisation() -> None:
    body = "stocks:\n  lag: {initial: 3}\nauxiliaries:\n  y: {equation: 'DELAY_FIXED(TIME + 7, lag, 0)'}\n"
    _t, y = trajectory(body, "{start: 0, stop: 6, dt: 1}", "y")
    assert y.tolist() == [0, 0, 0, 7, 8, 9, 10]


# --- TREND, FORECAST, INIT, PREVIOUS ----------------------------------------------------
# For x = exp(g t), a first-order average with time T settles at x / (1 + g T), so
# TREND = (x - average) / (average T) = g exactly; starting TREND at g begins in that
# steady state, so only RK4's error (~1e-12 here) remains.

def test_trend_of_exponential_growth_is_its_growth_rate() -> None:
    body = "auxiliaries:\n  y: {equation: 'TREND(EXP(0.05 * TIME), 4, 0.05)'}\n"
    _t, y = trajectory(body, "{start: 0, stop: 30, dt: 0.05, method: rk4}", "y")
    np.testing.assert_allclose(y, 0.05, rtol=1e-8)


def test_trend_starts_at_its_initial_trend_and_relaxes_to_the_growth_rate() -> None:
    body = "auxiliaries:\n  y: {equation: 'TREND(EXP(0.05 * TIME), 2)'}\n"
    _t, y = trajectory(body, "{start: 0, stop: 40, dt: 0.05, method: rk4}", "y")
    assert y[0] == 0.0
    assert y[-1] == pytest.approx(0.05, rel=1e-6)


def test_forecast_of_exponential_growth_extrapolates_along_the_trend() -> None:
    body = "auxiliaries:\n  y: {equation: 'FORECAST(EXP(0.05 * TIME), 4, 10, 0.05)'}\n"
    t, y = trajectory(body, "{start: 0, stop: 30, dt: 0.05, method: rk4}", "y")
    np.testing.assert_allclose(y, np.exp(0.05 * t) * (1 + 0.05 * 10), rtol=1e-8)


def test_init_holds_the_value_its_argument_had_at_the_start() -> None:
    body = """
stocks:
  x: {initial: 3, in: [grow]}
flows:
  grow: {equation: 1}
auxiliaries:
  y: {equation: 'INIT(x) + INITIAL(TIME)'}
"""
    _t, y = trajectory(body, "{start: 2, stop: 6, dt: 0.5}", "y")
    assert y.tolist() == [5.0] * 9


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_previous_is_the_value_one_step_earlier_and_its_init_in_the_first_step(method: str) -> None:
    t, y = trajectory("auxiliaries:\n  y: {equation: 'PREVIOUS(TIME * 2, -1)'}\n",
                      f"{{start: 0, stop: 3, dt: 0.5, method: {method}}}", "y")
    assert y[0] == -1
    np.testing.assert_array_equal(y[1:], 2 * (t[1:] - 0.5))


def test_previous_without_init_starts_at_its_argument() -> None:
    _t, y = trajectory("auxiliaries:\n  y: {equation: 'PREVIOUS(TIME + 7)'}\n", "{start: 0, stop: 3, dt: 1}", "y")
    assert y.tolist() == [7, 7, 8, 9]


# --- time inputs ------------------------------------------------------------------------

def run_aux(equation: str, time: str = "{start: 0, stop: 6, dt: 0.5}", **run: object) -> tuple[np.ndarray, np.ndarray]:
    return trajectory(f"auxiliaries:\n  y: {{equation: '{equation}'}}\n", time, "y", **run)


def test_step_is_zero_before_its_time_and_its_height_from_then_on() -> None:
    t, y = run_aux("STEP(2, 3)")
    np.testing.assert_array_equal(y, np.where(t >= 3, 2.0, 0.0))


def test_pulse_is_volume_over_dt_in_one_step_so_a_stock_gains_the_volume() -> None:
    body = """
stocks:
  total: {initial: 0, in: [inflow]}
flows:
  inflow: {equation: 'PULSE(3, 1)'}
"""
    ds = model(body, "{start: 0, stop: 4, dt: 0.5}").run()
    assert ds["inflow"].values[0].tolist() == [0, 0, 6, 0, 0, 0, 0, 0, 0]
    assert ds["total"].values[0][-1] == 3.0


def test_pulse_with_an_interval_repeats() -> None:
    t, y = run_aux("PULSE(3, 1, 1.5)")
    np.testing.assert_array_equal(y, np.where(np.isin(t, [1, 2.5, 4, 5.5]), 6.0, 0.0))


def test_ramp_rises_at_its_slope_from_start_and_holds_after_end() -> None:
    t, y = run_aux("RAMP(2, 1, 3)")
    np.testing.assert_array_equal(y, 2 * (np.clip(t, 1, 3) - 1))


def test_ramp_without_an_end_keeps_rising() -> None:
    t, y = run_aux("RAMP(-1, 2)")
    np.testing.assert_array_equal(y, -np.clip(t - 2, 0, None))


def test_pulse_train_is_one_for_width_every_interval_until_end() -> None:
    t, y = run_aux("PULSE_TRAIN(1, 0.5, 2, 4)", "{start: 0, stop: 6, dt: 0.25}")
    on = ((t >= 1) & (t <= 4) & (np.mod(t - 1, 2) < 0.5))
    np.testing.assert_array_equal(y, on * 1.0)


# --- lookups ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("extrapolation", "expected"),
    [
        ("clamp", [0, 0, 0, 5, 10, 5, 0, 0, 0]),
        ("linear", [-10, -5, 0, 5, 10, 5, 0, -5, -10]),
        ("discrete", [0, 0, 0, 0, 10, 10, 0, 0, 0]),
    ],
)
def test_lookup_interpolates_inside_its_points_and_extrapolates_as_declared(extrapolation: str, expected: list[float]) -> None:
    body = f"""
lookups:
  f: {{points: [[0, 0], [1, 10], [2, 0]], extrapolation: {extrapolation}}}
auxiliaries:
  y: {{equation: 'f(TIME - 1)'}}
"""
    _t, y = trajectory(body, "{start: 0, stop: 4, dt: 0.5}", "y")
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_lookup_function_form_gives_the_same_values_as_a_call() -> None:
    body = """
lookups:
  f: {points: [[0, 1], [4, 3]]}
auxiliaries:
  a: {equation: 'f(TIME)'}
  b: {equation: 'LOOKUP(f, TIME)'}
"""
    ds = model(body, "{start: 0, stop: 4, dt: 1}").run()
    np.testing.assert_array_equal(ds["a"].values, ds["b"].values)
    assert ds["a"].values[0].tolist() == [1, 1.5, 2, 2.5, 3]


# --- safe division ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("equation", "expected"),
    [
        ("SAFEDIV(6, TIME - 2)", [-3, -6, 0, 6, 3]),
        ("SAFEDIV(6, TIME - 2, 99)", [-3, -6, 99, 6, 3]),
        ("XIDZ(6, TIME - 2, -1)", [-3, -6, -1, 6, 3]),
        ("ZIDZ(6, TIME - 2)", [-3, -6, 0, 6, 3]),
    ],
)
def test_safe_division_returns_the_fallback_exactly_when_the_divisor_is_zero(equation: str, expected: list[float]) -> None:
    _t, y = run_aux(equation, "{start: 0, stop: 4, dt: 1}")
    assert y.tolist() == expected


# --- constants and signs (docs/dev/adding-a-builtin.md follows these two) -----------------

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pi_is_the_circle_constant_on_both_engines(backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    body = "auxiliaries:\n  area: {equation: 'PI() * TIME ^ 2'}\n  wave: {equation: 'SIN(PI() * TIME / 2)'}\n"
    ds = model(body, "{start: 0, stop: 3, dt: 1}").run(backend=backend)
    np.testing.assert_allclose(ds["area"].values[0], np.pi * np.arange(4.0) ** 2, rtol=1e-15)
    np.testing.assert_allclose(ds["wave"].values[0], [0, 1, 0, -1], atol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sign_is_minus_one_zero_or_one_on_both_engines(backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    _t, y = run_aux("SIGN(TIME - 2) + SIGN(0 * TIME)", "{start: 0, stop: 4, dt: 1}", backend=backend)
    assert y.tolist() == [-1, -1, 0, 1, 1]
    assert not np.signbit(y[2])  # a zero sign is +0.0, as NumPy gives


# --- random functions -------------------------------------------------------------------
# 4,000 runs x 11 steps = 44,000 draws per function (all independent: one stream per run,
# a fresh draw per step). Means are checked to 5 standard errors and variances to 5 %,
# which fails by chance with probability well below 1e-5.

RANDOM = """
auxiliaries:
  uniform: {equation: 'UNIFORM(2, 4)'}
  normal: {equation: 'NORMAL(5, 2)'}
  lognormal: {equation: 'LOGNORMAL(3, 1)'}
  poisson: {equation: 'POISSON(4)'}
  exponential: {equation: 'EXPONENTIAL(2)'}
  exprnd: {equation: 'EXPRND(2)'}
"""
MOMENTS = {
    "uniform": (3.0, 4 / 12),
    "normal": (5.0, 4.0),
    "lognormal": (3.0, 1.0),
    "poisson": (4.0, 4.0),
    "exponential": (2.0, 4.0),
    "exprnd": (2.0, 4.0),
}
RANDOM_TIME = "{start: 0, stop: 10, dt: 1}"


@pytest.fixture(scope="module")
def draws():  # type: ignore[no-untyped-def]
    return model(RANDOM, RANDOM_TIME).run(runs=4000, seed=11)


@pytest.mark.parametrize("name", sorted(MOMENTS))
def test_random_function_has_the_documented_mean_and_variance(draws, name: str) -> None:  # type: ignore[no-untyped-def]
    mean, variance = MOMENTS[name]
    sample = draws[name].values.ravel()
    assert abs(sample.mean() - mean) < 5 * np.sqrt(variance / sample.size)
    assert sample.var() == pytest.approx(variance, rel=0.05)


def test_uniform_stays_in_its_interval_and_poisson_gives_whole_numbers(draws) -> None:  # type: ignore[no-untyped-def]
    uniform = draws["uniform"].values
    assert uniform.min() >= 2 and uniform.max() <= 4
    poisson = draws["poisson"].values
    assert np.array_equal(poisson, np.round(poisson)) and poisson.min() >= 0


def test_random_functions_draw_afresh_each_step_and_each_run(draws) -> None:  # type: ignore[no-untyped-def]
    normal = draws["normal"].values
    assert len(np.unique(normal[0])) == normal.shape[1]
    assert len(np.unique(normal[:, 0])) == normal.shape[0]


def test_two_calls_of_the_same_function_draw_independently(draws) -> None:  # type: ignore[no-untyped-def]
    a, b = draws["exponential"].values.ravel(), draws["exprnd"].values.ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.03


def test_deterministic_mode_makes_random_functions_return_their_means() -> None:
    ds = model(RANDOM, RANDOM_TIME).run(runs=3, deterministic=True)
    for name, (mean, _variance) in MOMENTS.items():
        assert np.array_equal(ds[name].values, np.full((3, 11), mean)), name


def test_random_draws_are_reproducible_from_the_seed_and_change_with_it() -> None:
    m = model(RANDOM, RANDOM_TIME)
    first, again, other = m.run(runs=5, seed=3), m.run(runs=5, seed=3), m.run(runs=5, seed=4)
    assert np.array_equal(first["normal"].values, again["normal"].values)
    assert not np.array_equal(first["normal"].values, other["normal"].values)
