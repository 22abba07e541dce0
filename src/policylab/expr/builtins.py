"""The op registry: one row per operation of the expression language, looked up by canonical name.

A row says everything the rest of the pipeline needs to know about one builtin: its arity,
kind, NumPy kernel, units signature, the opcode of the tape both engines run, its XMILE
and Vensim spellings and a one-line doc. The parser's list of callable names, the unit
checker's signatures (``compile.units``), constant folding and lowering (``compile.opcodes``)
and both interpreters' dispatch (``simulate``) are read from here; tests fail when a row
lacks a column its kind needs (``tests/expr/test_registry.py``).

Kinds:

- ``pure``: a NumPy function of the evaluated arguments;
- ``time``: a function of (time, dt, *args) — STEP, PULSE, RAMP…;
- ``random``: a function of (uniform draws, *args), plus the mean used in deterministic mode;
- ``stateful``: expanded by the compiler into hidden stocks or discrete states
  (SMOOTH*, DELAY*, TREND, FORECAST, INIT, PREVIOUS; ``compile.desugar``);
- ``lookup``: ``LOOKUP(table, x)``, resolved by the compiler.

Operators (``+``, ``<``, ``and``…) have rows in :data:`OPERATORS` with their opcode and
the NumPy function that folds them. Adding a builtin: see ``docs/dev/adding-a-builtin.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

Kind = Literal["pure", "time", "random", "stateful", "lookup"]
Value = float | np.ndarray

TIME_TOLERANCE = 1e-9
"""How close (as a fraction of DT) a time must be to an event, a STEP's start or a lever's date to count as
reached: clock times are sums of DT and carry rounding error."""


@dataclass(frozen=True)
class Builtin:
    """One row of the registry (see the module docstring for what reads each column)."""

    name: str
    min_args: int
    max_args: int | None
    kind: Kind
    doc: str
    impl: Callable[..., Value] | None = None  # the NumPy kernel (pure: of the arguments; time: of time, dt, *args)
    mean: Callable[..., Value] | None = None  # random: the value in deterministic mode
    units: str | None = None  # the signature ``compile.units`` checks: argument patterns -> result
    opcode: str | None = None  # the member of ``compile.opcodes.Op`` both interpreters run (None: folded or expanded)
    defaults: tuple[float, ...] = ()  # values of trailing optional arguments the opcode always reads
    xmile: str | None = None  # how XMILE spells it (default: the name in capitals); "" where XMILE has none
    vensim: str | None = None  # how Vensim spells it, where the meaning is the same; None where it differs or is missing

    @property
    def xmile_name(self) -> str | None:
        """The XMILE spelling the writer emits (None where XMILE has no such function)."""
        if self.xmile == "":
            return None
        return self.xmile or self.name.upper()


@dataclass(frozen=True)
class Operator:
    """An operator of the grammar: its opcode and its NumPy ufunc, the one kernel that both folds
    constants and runs in the NumPy interpreter (a test's truth value is 1.0 or 0.0)."""

    symbol: str
    opcode: str
    kernel: np.ufunc
    doc: str

    def fold(self, *args: Value) -> Value:
        """The operator applied to folded values: a float for scalars, an array for arrays."""
        result = self.kernel(*args)
        if isinstance(result, np.ndarray) and result.ndim:
            return result if result.dtype == np.float64 else result.astype(np.float64)
        return float(result)


@dataclass(frozen=True)
class _Variadic:
    """A ufunc folded over any number of arguments (MIN, MAX); the tape applies ``ufunc`` pairwise."""

    ufunc: np.ufunc

    def __call__(self, *args: Value) -> Value:
        result = args[0]
        for arg in args[1:]:
            result = self.ufunc(result, arg)
        return result


def _variadic(ufunc: np.ufunc) -> Callable[..., Value]:
    return _Variadic(ufunc)


def _xidz(a: Value, b: Value, x: Value = 0.0) -> Value:
    b_arr = np.asarray(b, dtype=float)
    zero = b_arr == 0
    safe = np.where(zero, 1.0, b_arr)
    result = np.where(zero, x, np.asarray(a, dtype=float) / safe)
    return result if result.ndim else float(result)


def _round(x: Value) -> Value:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _step(time: float, dt: float, height: Value, start: Value) -> Value:
    return np.where(time >= np.asarray(start) - TIME_TOLERANCE * dt, height, 0.0) + 0.0


def _pulse(time: float, dt: float, volume: Value, first: Value, interval: Value = 0.0) -> Value:
    since = time - np.asarray(first, dtype=float)
    interval = np.asarray(interval, dtype=float)
    safe_interval = np.where(interval > 0, interval, 1.0)
    in_train = np.mod(since + dt / 2, safe_interval) < dt
    single = np.abs(since) < dt / 2
    on = (since > -dt / 2) & np.where(interval > 0, in_train, single)
    return np.where(on, np.asarray(volume, dtype=float) / dt, 0.0) + 0.0


def _ramp(time: float, dt: float, slope: Value, start: Value, end: Value = np.inf) -> Value:
    clipped = np.minimum(time, end)
    return np.where(time > start, np.asarray(slope, dtype=float) * (clipped - np.asarray(start)), 0.0) + 0.0


def _pulse_train(time: float, dt: float, start: Value, width: Value, interval: Value, end: Value) -> Value:
    since = time - np.asarray(start, dtype=float)
    interval = np.asarray(interval, dtype=float)
    phase = np.mod(since, np.where(interval > 0, interval, np.inf))
    on = (since >= -TIME_TOLERANCE * dt) & (time <= np.asarray(end) + TIME_TOLERANCE * dt) & (phase < width)
    return np.where(on, 1.0, 0.0)


def _lognormal(u: np.ndarray, mean: Value, sd: Value) -> Value:
    mean = np.asarray(mean, dtype=float)
    variance = np.asarray(sd, dtype=float) ** 2
    sigma2 = np.log1p(variance / (mean * mean))
    mu = np.log(mean) - sigma2 / 2
    return np.exp(mu + np.sqrt(sigma2) * special.ndtri(u))


POISSON_NORMAL_FROM = 1e7
"""Means from which POISSON draws the Cornish-Fisher normal approximation instead of the exact quantile.

The exact inverse CDF needs a search over SciPy's incomplete gamma function whose cost grows
with the mean (milliseconds per draw at 1e9; it never ends near 2**53, and SciPy's root finder
returns NaN there). From 1e7 on the approximation ``poisson_normal`` is within one count of the
exact quantile (no difference in 20,000 draws at 1e7 and 1e8, one off-by-one at 3e7), in constant
time, on both engines.
"""


def poisson_normal(z: Value, mean: Value) -> Value:
    """The Poisson quantile at standard normal quantile ``z`` for a large ``mean``: Cornish-Fisher with
    continuity correction, ``ceil(mean + sqrt(mean) z + (z^2 - 1)/6 - 1/2)`` (Johnson, Kemp & Kotz 2005, 4.5)."""
    return np.maximum(np.ceil(mean + np.sqrt(mean) * z + (z * z - 1.0) / 6.0 - 0.5), 0.0)


def _poisson(u: np.ndarray, mean: Value) -> Value:
    """Inverse CDF: the smallest k with P(K <= k) >= u, found from a Cornish-Fisher start.

    Same values as ``scipy.stats.poisson.ppf`` (0 differences in 28 million draws over means
    1e-9 … 3000, see tests) at a tenth of its cost: SciPy inverts the incomplete gamma
    function (``pdtrik``) for every draw; here ``pdtr`` is evaluated at the one to three
    integers around the Cornish-Fisher estimate. Means from :data:`POISSON_NORMAL_FROM` on
    take :func:`poisson_normal` (the search would take ever longer); a NaN or non-positive
    mean gives 0; an infinite one a non-finite count (the run then stops with an error).
    """
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    q, mu = np.broadcast_arrays(np.asarray(u, dtype=float), np.where(mean > 0, mean, 1e-300))
    # Most draws of a rare event are 0: u clearly below P(K = 0) = exp(-mean) settles them
    # without the search (the margin keeps the borderline ones for pdtr, so values do not change).
    settled = q < np.exp(-mu) - ZERO_MARGIN
    if settled.all():
        return np.zeros(q.shape)
    k = np.zeros(q.shape)
    rest = ~settled
    k[rest] = _poisson_search(q[rest], mu[rest])
    return k * (mean > 0)


ZERO_MARGIN = 1e-12
"""How far below exp(-mean) a uniform must be to settle a Poisson draw at 0 without SciPy's pdtr
(pdtr(0, m) is within 1.4e-15 of exp(-m): measured over 2 million means from 1e-12 to 1,000)."""


def _poisson_search(q: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """The smallest k with pdtr(k, mu) >= q, searched from a Cornish-Fisher start (1-d arrays)."""
    z = special.ndtri(q)
    large = mu >= POISSON_NORMAL_FROM
    k = np.where(large, poisson_normal(z, mu), np.maximum(np.floor(mu + np.sqrt(mu) * z + (z * z - 1.0) / 6.0), 0.0))
    while True:  # below POISSON_NORMAL_FROM the start is a few counts off at most
        low = ~large & (special.pdtr(k, mu) < q)
        if not low.any():
            break
        k = k + low
    while True:
        high = ~large & (k > 0) & (special.pdtr(k - 1.0, mu) >= q)
        if not high.any():
            break
        k = k - high
    return k


def _truth(x: Value) -> Value:
    return np.not_equal(x, 0)


def _pi() -> float:
    return float(np.pi)


_TRIG = "1 -> 1"
_ROWS: list[Builtin] = [
    # pure: a function of the arguments
    Builtin("min", 1, None, "pure", "smallest argument", _variadic(np.minimum), units="a... -> a", opcode="MIN"),
    Builtin("max", 1, None, "pure", "largest argument", _variadic(np.maximum), units="a... -> a", opcode="MAX"),
    Builtin("abs", 1, 1, "pure", "absolute value", np.abs, units="a -> a", opcode="ABS", vensim="ABS"),
    Builtin("sign", 1, 1, "pure", "-1, 0 or 1: the sign of x (NaN stays NaN)", lambda x: np.sign(x) + 0.0,
            units="a -> 1", opcode="SIGN"),
    Builtin("exp", 1, 1, "pure", "e to the power x", np.exp, units=_TRIG, opcode="EXP", vensim="EXP"),
    Builtin("ln", 1, 1, "pure", "natural logarithm", np.log, units=_TRIG, opcode="LN", vensim="LN"),
    Builtin("log10", 1, 1, "pure", "base-10 logarithm", np.log10, units=_TRIG, opcode="LOG10"),
    Builtin("sqrt", 1, 1, "pure", "square root", np.sqrt, units="a -> sqrt(a)", opcode="SQRT", vensim="SQRT"),
    Builtin("sin", 1, 1, "pure", "sine (radians)", np.sin, units=_TRIG, opcode="SIN", vensim="SIN"),
    Builtin("cos", 1, 1, "pure", "cosine (radians)", np.cos, units=_TRIG, opcode="COS", vensim="COS"),
    Builtin("tan", 1, 1, "pure", "tangent (radians)", np.tan, units=_TRIG, opcode="TAN", vensim="TAN"),
    Builtin("arcsin", 1, 1, "pure", "inverse sine", np.arcsin, units=_TRIG, opcode="ASIN", vensim="ARCSIN"),
    Builtin("arccos", 1, 1, "pure", "inverse cosine", np.arccos, units=_TRIG, opcode="ACOS", vensim="ARCCOS"),
    Builtin("arctan", 1, 1, "pure", "inverse tangent", np.arctan, units=_TRIG, opcode="ATAN", vensim="ARCTAN"),
    Builtin("pi", 0, 0, "pure", "the number π (3.14159…)", _pi, units=" -> 1", xmile="PI"),
    Builtin("int", 1, 1, "pure", "largest integer not above x", np.floor, units="a -> a", opcode="FLOOR"),
    Builtin("round", 1, 1, "pure", "nearest integer, halves away from zero", _round, units="a -> a", opcode="ROUND"),
    Builtin("modulo", 2, 2, "pure", "remainder of a / b (sign of b)", np.mod, units="a a -> a", opcode="MOD",
            xmile="MOD"),
    Builtin("trunc", 1, 1, "pure", "integer part, rounding toward zero (Vensim INTEGER)", np.trunc, units="a -> a",
            opcode="TRUNC", vensim="INTEGER"),
    Builtin("fmod", 2, 2, "pure", "remainder of a / b with the sign of a (Vensim MODULO)", np.fmod, units="a a -> a",
            opcode="FMOD"),
    Builtin("safediv", 2, 3, "pure", "a / b, or x (default 0) when b is 0", _xidz, units="a b a/b -> a/b",
            opcode="XIDZ", defaults=(0.0,)),
    Builtin("xidz", 3, 3, "pure", "a / b, or x when b is 0", _xidz, units="a b a/b -> a/b", opcode="XIDZ",
            xmile="SAFEDIV", vensim="XIDZ"),
    Builtin("zidz", 2, 2, "pure", "a / b, or 0 when b is 0", _xidz, units="a b -> a/b", opcode="XIDZ",
            defaults=(0.0,), xmile="SAFEDIV", vensim="ZIDZ"),
    Builtin("if_then_else", 3, 3, "pure", "IF_THEN_ELSE(c, a, b)",
            lambda c, a, b: np.where(np.asarray(c) != 0, a, b) + 0.0, units="? a a -> a", opcode="SELECT0",
            vensim="IF THEN ELSE"),
    # time: a function of the clock
    Builtin("step", 2, 2, "time", "height from time t0 on, else 0", _step, units="a t -> a", opcode="STEP",
            vensim="STEP"),
    Builtin("pulse", 2, 3, "time", "volume/DT in the step at `first` (and every `interval` after)", _pulse,
            units="a t t -> a/t", opcode="PULSE", defaults=(0.0,)),
    Builtin("ramp", 2, 3, "time", "slope * (TIME - start) from start (to end)", _ramp, units="a t t -> a*t",
            opcode="RAMP", defaults=(np.inf,), vensim="RAMP"),
    Builtin("pulse_train", 4, 4, "time", "1 for `width` every `interval` from start to end", _pulse_train,
            units="t t t t -> 1", opcode="PULSE_TRAIN", vensim="PULSE TRAIN"),
    # random: drawn from the run's stream
    Builtin("uniform", 2, 3, "random", "uniform on [min, max]", lambda u, a, b, *_: a + (b - a) * u,
            lambda a, b, *_: (a + b) / 2, units="a a ? -> a", opcode="UNIFORM", xmile="RANDOM"),
    Builtin("normal", 2, 3, "random", "normal(mean, sd)", lambda u, m, s, *_: m + s * special.ndtri(u),
            lambda m, s, *_: m, units="a a ? -> a", opcode="NORMAL"),
    Builtin("lognormal", 2, 3, "random", "lognormal with that mean and sd", lambda u, m, s, *_: _lognormal(u, m, s),
            lambda m, s, *_: m, units="a a ? -> a", opcode="LOGNORMAL"),
    Builtin("poisson", 1, 2, "random", "Poisson count with that mean", lambda u, m, *_: _poisson(u, m),
            lambda m, *_: m, units="a ? -> a", opcode="POISSON"),
    Builtin("exponential", 1, 2, "random", "exponential with that mean", lambda u, m, *_: -m * np.log1p(-u),
            lambda m, *_: m, units="a ? -> a", opcode="EXPONENTIAL", xmile="EXPRND"),
    # stateful: expanded into hidden stocks or pipelines by compile.desugar
    Builtin("smooth", 2, 3, "stateful", "first-order exponential smooth of input over time (init)",
            units="a t a -> a", xmile="SMTH1", vensim="SMOOTH"),
    Builtin("smooth3", 2, 3, "stateful", "third-order exponential smooth", units="a t a -> a", xmile="SMTH3",
            vensim="SMOOTH3"),
    Builtin("smoothn", 3, 4, "stateful", "n-th order exponential smooth", units="a t 1 a -> a", xmile="SMTHN",
            vensim="SMOOTH N"),
    Builtin("delay1", 2, 3, "stateful", "first-order material delay", units="a t a -> a", vensim="DELAY1"),
    Builtin("delay3", 2, 3, "stateful", "third-order material delay", units="a t a -> a", vensim="DELAY3"),
    Builtin("delayn", 3, 4, "stateful", "n-th order material delay", units="a t 1 a -> a", vensim="DELAY N"),
    Builtin("delay_fixed", 2, 3, "stateful", "pipeline delay: input as it was `time` ago", units="a t a -> a",
            xmile="DELAY", vensim="DELAY FIXED"),
    Builtin("trend", 2, 3, "stateful", "fractional rate of change of input, averaged over time",
            units="a t 1/t -> 1/t", vensim="TREND"),
    Builtin("forecast", 3, 4, "stateful", "input extrapolated `horizon` ahead along its trend",
            units="a t t 1/t -> a", xmile="FORCST", vensim="FORECAST"),
    Builtin("init", 1, 1, "stateful", "value of x at the start of the run", units="a -> a", vensim="INITIAL"),
    Builtin("previous", 1, 2, "stateful", "value of x one step earlier (init in the first step)", units="a a -> a"),
    # lookup: a graphical function, resolved by the compiler
    Builtin("lookup", 2, 2, "lookup", "LOOKUP(table, x): a graphical function at x", opcode="LOOKUP"),
]

OPERATORS: dict[str, Operator] = {o.symbol: o for o in [
    Operator("+", "ADD", np.add, "sum"),
    Operator("-", "SUB", np.subtract, "difference"),
    Operator("*", "MUL", np.multiply, "product"),
    Operator("/", "DIV", np.divide, "quotient (IEEE: x/0 is ±inf or NaN)"),
    Operator("^", "POW", np.power, "power"),
    Operator("mod", "MOD", np.mod, "remainder with the sign of the divisor"),
    Operator("<", "LT", np.less, "1 if less, else 0"),
    Operator("<=", "LE", np.less_equal, "1 if less or equal, else 0"),
    Operator(">", "GT", np.greater, "1 if greater, else 0"),
    Operator(">=", "GE", np.greater_equal, "1 if greater or equal, else 0"),
    Operator("=", "EQ", np.equal, "1 if equal, else 0"),
    Operator("<>", "NE", np.not_equal, "1 if different, else 0"),
    Operator("and", "AND", np.logical_and, "1 if both are non-zero (NaN counts as non-zero)"),
    Operator("or", "OR", np.logical_or, "1 if either is non-zero"),
    Operator("not", "NOT", np.logical_not, "1 if zero, else 0"),
    Operator("neg", "NEG", np.negative, "minus x"),
]}

ALIASES: dict[str, str] = {
    "initial": "init",
    "smooth1": "smooth",
    "smth1": "smooth",
    "smth3": "smooth3",
    "smthn": "smoothn",
    "delay": "delay_fixed",
    "delayfixed": "delay_fixed",
    "exprnd": "exponential",
    "random_uniform": "uniform",
    "random_normal": "normal",
    "random_poisson": "poisson",
    "arctangent": "arctan",
    "pulsetrain": "pulse_train",
    "mod": "modulo",
    "floor": "int",
}

BUILTINS: dict[str, Builtin] = {row.name: row for row in _ROWS}


def find_builtin(name: str) -> Builtin | None:
    """The builtin called ``name`` (canonical spelling, aliases resolved), or None."""
    return BUILTINS.get(ALIASES.get(name, name))


def truth(x: Value) -> Value:
    """A number as a condition: non-zero is true (as every interpreter reads it)."""
    return _truth(x)
