"""Conditions of checks: the expression language over an ensemble's time series, with window functions.

A condition is parsed by the model's own grammar (a tree, never ``eval``) and evaluated on
arrays shaped ``(runs, times)`` (a series) or ``(runs, 1)`` (one value per run). Window
functions reduce a series to one value per run::

    at(x, t)  mean(x[, from, to])  max(x[, from, to])  min(x[, from, to])  sum(x[, from, to])
    change(x, from, to)  peak_time(x[, from, to])  first_time(cond[, from, to])
    all(cond[, from, to])  any(cond[, from, to])  lag(x, d)  abs(x)
    against(x)  baseline(x)

A quoted date ``"2019-10-01"`` is that date's model time wherever it appears, so it can
never parse as a subtraction and compares with times (``peak_time(x) >= "2019-12-01"``).
Missing values are NaN: ``lag`` before the start, ``at`` outside the run, comparisons with
NaN; windows ignore them, and a run whose condition is NaN does not satisfy it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from policylab.compile.graph import suggest
from policylab.errors import CheckError, ExpressionError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp, children
from policylab.simulate.results import series_names
from policylab.expr.parser import parse
from policylab.model.ir import Constant, Lever, Model
from policylab.results.outcomes import outcome_array

DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
WINDOWED = ("mean", "max", "min", "sum", "peak_time", "first_time", "all", "any")
FRAMES = ("against", "baseline")
FUNCTIONS = WINDOWED + ("at", "change", "lag", "abs") + FRAMES
EPS = 1e-9


def is_date(name: str) -> bool:
    """Whether a (quoted) name is a date literal, ``YYYY-MM-DD`` or ``YYYY-MM``."""
    return bool(DATE.match(name))


def date_time(model: Model, text: str, where: str) -> float:
    """The model time of a date literal (``YYYY-MM`` reads as the 15th, as the data do)."""
    if model.time.calendar_start is None:
        raise CheckError(f"{where}: {text!r} is a date but {model.name} has no calendar (its time starts at a "
                         f"number); write model times as numbers")
    try:
        day = dt.date.fromisoformat(text if len(text) == 10 else f"{text}-15")
    except ValueError as err:
        raise CheckError(f"{where}: {text!r} is not a valid date; write YYYY-MM-DD") from err
    return model.time.to_time(day)


@dataclass(frozen=True)
class Condition:
    """A parsed, name-checked condition: what it reads from each frame ("run", "against", "baseline")."""

    text: str
    tree: Expr
    where: str
    reads: dict[str, frozenset[str]] = field(default_factory=dict)

    def variables(self, frame: str = "run") -> list[str]:
        return sorted(self.reads.get(frame, frozenset()))


def compile_condition(model: Model, text: str, where: str, outputs: set[str], frames: tuple[str, ...] = ()) -> Condition:
    """Parse ``text`` and check every name, call and literal window against ``model``.

    ``outputs`` are the names a run can save; ``frames`` the comparison frames this check
    has (``against`` with ``against:``, ``baseline`` in reality checks).
    """
    try:
        tree = parse(text, where)
    except ExpressionError as err:
        raise CheckError(str(err)) from err
    reads: dict[str, set[str]] = {"run": set()}
    _collect(model, tree, where, outputs, frames, "run", reads)
    return Condition(text, tree, where, {k: frozenset(v) for k, v in reads.items()})


def _collect(model: Model, node: Expr, where: str, outputs: set[str], frames: tuple[str, ...], frame: str,
             reads: dict[str, set[str]]) -> None:
    """Walk ``node`` noting the variables each frame reads; raise CheckError on anything unknown."""
    if isinstance(node, Call):
        if node.func not in FUNCTIONS:
            raise CheckError(f"{where}: {node.func}() is not a check function; use one of "
                             f"{', '.join(FUNCTIONS)}{suggest(node.func, FUNCTIONS)}")
        _arity(node, where)
        if node.func in FRAMES:
            if node.func not in frames:
                need = "`against: SCENARIO` on a behaviour check" if node.func == "against" else "a reality check"
                raise CheckError(f"{where}: {node.func}(x) needs {need}")
            reads.setdefault(node.func, set())
            _collect(model, node.args[0], where, outputs, frames, node.func, reads)
            return
        for i, arg in enumerate(node.args):
            if i >= 1 and node.func != "lag":
                _static_time(model, arg, where, node.func)
            _collect(model, arg, where, outputs, frames, frame, reads)
        return
    if isinstance(node, Subscript):
        raise CheckError(f"{where}: {node.name}[...]: array elements are not supported in checks yet")
    if isinstance(node, Name):
        name = node.name
        if is_date(name) or name == "time":
            if is_date(name):
                date_time(model, name, where)
            return
        if name in outputs or isinstance(model.variables.get(name), (Lever, Constant)):
            reads[frame].add(name)
        elif name in model.outcomes:
            reads[frame].add(model.outcomes[name].variable)
        else:
            known = sorted(outputs | set(model.outcomes))
            raise CheckError(f"{where}: {name!r} is not a variable or outcome of {model.name}.{suggest(name, known)}")
        return
    for sub in children(node):
        _collect(model, sub, where, outputs, frames, frame, reads)


def _arity(node: Call, where: str) -> None:
    n = len(node.args)
    allowed = {"at": (2,), "change": (3,), "lag": (2,), "abs": (1,), "against": (1,), "baseline": (1,)}.get(
        node.func, (1, 3))
    if n not in allowed:
        forms = {"at": "at(x, t)", "change": "change(x, from, to)", "lag": "lag(x, d)", "abs": "abs(x)",
                 "against": "against(x)", "baseline": "baseline(x)"}
        form = forms.get(node.func, f"{node.func}(x) or {node.func}(x, from, to)")
        raise CheckError(f"{where}: {node.func}() takes {' or '.join(map(str, allowed))} arguments, got {n}: write {form}")


def _static_time(model: Model, node: Expr, where: str, func: str) -> None:
    """A literal time argument (date or number) must fall within the run."""
    if isinstance(node, Name) and is_date(node.name):
        value, text = date_time(model, node.name, where), node.name
    elif isinstance(node, Num):
        value, text = node.value, f"{node.value:g}"
    else:
        return
    spec = model.time
    if not spec.start - EPS <= value <= spec.stop + EPS:
        span = _span_text(model)
        raise CheckError(f"{where}: {func}(): time {text} is outside the run ({span}); choose a time within it")


def _span_text(model: Model) -> str:
    spec = model.time
    if spec.calendar_start is not None and spec.days_per_unit is not None:
        end = spec.calendar_start + dt.timedelta(days=round((spec.stop - spec.start) * spec.days_per_unit))
        return f"{spec.calendar_start} to {end}"
    return f"{spec.start:g} to {spec.stop:g} {spec.units}"


# --------------------------------------------------------------------------- evaluation
@dataclass
class Frames:
    """The ensembles a condition reads: the run itself and, where the check has them, comparisons."""

    model: Model
    run: xr.Dataset
    others: dict[str, xr.Dataset] = field(default_factory=dict)
    constants: Callable[[str, xr.Dataset], np.ndarray] | None = None


def evaluate(condition: Condition, frames: Frames) -> np.ndarray:
    """One value per run of the ensemble (NaN where it cannot be computed)."""
    with np.errstate(all="ignore"):
        value = _eval(condition.tree, frames, frames.run, condition.where)
    runs = frames.run.sizes["run"]
    if value.shape[1] != 1:
        raise CheckError(f"{condition.where}: {condition.text!r} is a time series, not one value per run; wrap it "
                         f"in a window function, e.g. all(...), any(...), at(x, t) or max(x, from, to)")
    return np.broadcast_to(value, (runs, 1))[:, 0].astype(float)


def holds(values: np.ndarray) -> np.ndarray:
    """Runs whose condition is true (non-zero and not NaN)."""
    return ~np.isnan(values) & (values != 0)


def _eval(node: Expr, frames: Frames, ds: xr.Dataset, where: str) -> np.ndarray:
    match node:
        case Num(value=v):
            return np.full((1, 1), float(v))
        case Name(name=name):
            return _name(name, frames, ds, where)
        case UnaryOp(op=op, operand=o):
            value = _eval(o, frames, ds, where)
            return -value if op == "-" else value
        case BinOp(op=op, left=a, right=b):
            return _arith(op, _eval(a, frames, ds, where), _eval(b, frames, ds, where))
        case Compare(op=op, left=a, right=b):
            left, right = _eval(a, frames, ds, where), _eval(b, frames, ds, where)
            result = _COMPARE[op](left, right).astype(float)
            return np.where(np.isnan(left) | np.isnan(right), np.nan, result)
        case BoolOp(op=op, left=a, right=b):
            left, right = _eval(a, frames, ds, where), _eval(b, frames, ds, where)
            tl, tr = (left != 0), (right != 0)
            result = (tl & tr) if op == "and" else (tl | tr)
            return np.where(np.isnan(left) | np.isnan(right), np.nan, result.astype(float))
        case Not(operand=o):
            value = _eval(o, frames, ds, where)
            return np.where(np.isnan(value), np.nan, (value == 0).astype(float))
        case IfThenElse(condition=c, then=t, otherwise=o):
            cond = _eval(c, frames, ds, where)
            return np.where(np.isnan(cond), np.nan, np.where(cond != 0, _eval(t, frames, ds, where),
                                                             _eval(o, frames, ds, where)))
        case Call():
            return _call(node, frames, ds, where)
    raise CheckError(f"{where}: {type(node).__name__} is not supported in checks")


_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "=": np.equal, "<>": np.not_equal,
}


def _arith(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "^":
        return np.power(a, b)
    return np.mod(a, b)


def _name(name: str, frames: Frames, ds: xr.Dataset, where: str) -> np.ndarray:
    model = frames.model
    if is_date(name):
        return np.full((1, 1), date_time(model, name, where))
    if name == "time":
        return ds["time"].values[None, :].astype(float)
    if name in ds.data_vars:
        return ds.variables[name].transpose("run", "time").values.astype(float)  # no coordinates to carry
    if name in ds.coords and ds[name].dims == ("run",):
        return ds[name].values.astype(float)[:, None]
    var = model.variables.get(name)
    if isinstance(var, Constant):
        value = frames.constants(name, ds) if frames.constants is not None else np.asarray(var.value)
        return np.asarray(value, dtype=float).reshape(-1, 1)
    if name in model.outcomes:
        return outcome_array(ds, model.outcomes[name])[:, None]
    raise CheckError(f"{where}: {name!r} was not saved for this check (an internal error: please report it)")


def _times(ds: xr.Dataset) -> np.ndarray:
    return ds["time"].values.astype(float)


def _window_mask(node: Call, frames: Frames, ds: xr.Dataset, where: str) -> np.ndarray:
    """(runs or 1, times) mask of the window ``from``..``to`` (the whole run without them)."""
    times = _times(ds)[None, :]
    if len(node.args) == 1:
        return np.ones_like(times, dtype=bool)
    low = _eval(node.args[1], frames, ds, where)
    high = _eval(node.args[2], frames, ds, where)
    return (times >= low - EPS) & (times <= high + EPS)


def _windowed(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(values.shape, mask.shape)
    return np.where(np.broadcast_to(mask, shape), np.broadcast_to(values, shape), np.nan)


def _call(node: Call, frames: Frames, ds: xr.Dataset, where: str) -> np.ndarray:
    func = node.func
    if func in FRAMES:
        other = frames.others[func]
        return _eval(node.args[0], frames, other, where)
    if func == "abs":
        return np.abs(_eval(node.args[0], frames, ds, where))
    if func == "at":
        return _at(_eval(node.args[0], frames, ds, where), _times(ds), _eval(node.args[1], frames, ds, where))
    if func == "change":
        series, times = _eval(node.args[0], frames, ds, where), _times(ds)
        return _at(series, times, _eval(node.args[2], frames, ds, where)) - _at(
            series, times, _eval(node.args[1], frames, ds, where))
    if func == "lag":
        return _lag(_eval(node.args[0], frames, ds, where), _times(ds), _eval(node.args[1], frames, ds, where), where)
    values = _windowed(_eval(node.args[0], frames, ds, where), _window_mask(node, frames, ds, where))
    present = ~np.isnan(values)
    some = present.any(axis=1, keepdims=True)
    times = _times(ds)
    if func == "mean":
        total = np.nansum(values, axis=1, keepdims=True)
        return np.where(some, total / np.maximum(present.sum(axis=1, keepdims=True), 1), np.nan)
    if func == "sum":
        step = float(times[1] - times[0]) if len(times) > 1 else 1.0
        return np.where(some, np.nansum(values, axis=1, keepdims=True) * step, np.nan)
    if func in ("max", "min", "peak_time"):
        filled = np.where(present, values, -np.inf if func != "min" else np.inf)
        if func == "peak_time":
            return np.where(some, times[np.argmax(filled, axis=1)][:, None], np.nan)
        reduce = np.max if func == "max" else np.min
        return np.where(some, reduce(filled, axis=1, keepdims=True), np.nan)
    true = present & (values != 0)
    if func == "first_time":
        first = np.argmax(true, axis=1)
        found = true.any(axis=1)
        return np.where(found, times[first], np.inf)[:, None]
    if func == "all":
        return np.where(some, (true | ~present).all(axis=1, keepdims=True), np.nan).astype(float)
    return np.where(some, true.any(axis=1, keepdims=True), np.nan).astype(float)  # any


def _at(series: np.ndarray, times: np.ndarray, when: np.ndarray) -> np.ndarray:
    """``series`` interpolated linearly at per-run times ``when`` (NaN outside the run)."""
    runs = max(series.shape[0], when.shape[0])
    series = np.broadcast_to(series, (runs, series.shape[1]))
    if series.shape[1] == 1:
        series = np.broadcast_to(series, (runs, len(times)))
    t = np.broadcast_to(when, (runs, 1))[:, 0]
    inside = np.isfinite(t) & (t >= times[0] - EPS) & (t <= times[-1] + EPS)
    if len(times) == 1:
        return np.where(inside, series[:, 0], np.nan)[:, None]
    safe = np.where(inside, t, times[0])
    left = np.clip(np.searchsorted(times, safe + EPS, side="right") - 1, 0, len(times) - 2)
    frac = np.clip((safe - times[left]) / (times[left + 1] - times[left]), 0.0, 1.0)
    rows = np.arange(runs)
    value = series[rows, left] * (1 - frac) + series[rows, left + 1] * np.where(frac > 0, frac, 0.0)
    value = np.where(frac > 0, value, series[rows, left])  # exact saved times read exactly (no NaN * 0)
    return np.where(inside, value, np.nan)[:, None]


def _lag(series: np.ndarray, times: np.ndarray, delay: np.ndarray, where: str) -> np.ndarray:
    """``series`` shifted later by ``delay`` time units (NaN before the start)."""
    if delay.size != 1 or not np.isfinite(delay).all():
        raise CheckError(f"{where}: lag(x, d): d must be a fixed number of time units")
    step = float(times[1] - times[0]) if len(times) > 1 else 1.0
    shift = float(delay.ravel()[0]) / step
    k = int(round(shift))
    if abs(shift - k) > 1e-6 or k < 0:
        raise CheckError(f"{where}: lag(x, d): d ({float(delay.ravel()[0]):g}) must be a non-negative multiple "
                         f"of the saved interval ({step:g})")
    series = np.broadcast_to(series, (series.shape[0], len(times))).astype(float)
    out = np.full_like(series, np.nan)
    if k < len(times):
        out[:, k:] = series[:, :len(times) - k]
    return out


def pointwise_median(ds: xr.Dataset) -> xr.Dataset:
    """The pointwise ensemble median as a one-run Dataset (parameters as their medians)."""
    data = {name: ds[name].median("run").expand_dims(run=[0]).transpose("run", "time") for name in series_names(ds)}
    coords = {name: ("run", [float(np.median(ds[name].values))]) for name in ds.coords if ds[name].dims == ("run",)
              and name != "run"}
    median = xr.Dataset(data).assign_coords(coords)
    if "date" in ds.coords:
        median = median.assign_coords(date=ds["date"])
    return median

