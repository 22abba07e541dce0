"""Fan-chart data: per-time quantiles of an ensemble, the x axis (dates for calendar models), event marks.

Both the HTML report and the dashboard's HTTP API draw the same bands, so they are
computed here once under the interval convention (``results.intervals``): the median and
the central band (by default 10th–90th percentile) of the runs at every saved time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from policylab.compile.desugar import is_hidden
from policylab.model.ir import Event, Model, Stock
from policylab.results.intervals import Interval, sorted_quantiles
from policylab.results.outcomes import Ensemble, needed_variables
from policylab.simulate.results import dates_of, iso_dates

BANDS = ("low", "median", "high")
MAX_POINTS = 600
SIGNIFICANT = 6


@dataclass(frozen=True)
class Fan:
    """One variable's bands over time for one ensemble (lists ready for JSON and plotly)."""

    variable: str
    bands: dict[str, list[float | None]]


@dataclass(frozen=True)
class EventMark:
    """A dated occurrence to mark on a chart's x axis."""

    name: str
    doc: str
    x: str | float


def stride(n_times: int, max_points: int = MAX_POINTS) -> int:
    """Keep every k-th saved time so that at most ``max_points`` remain (the last one always kept)."""
    return max(1, int(np.ceil(n_times / max_points)))


def thinned_index(n_times: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of the saved times a chart shows: every ``stride``-th, plus the last."""
    index = np.arange(0, n_times, stride(n_times, max_points))
    if index[-1] != n_times - 1:
        index = np.append(index, n_times - 1)
    return index


def x_axis(model: Model, ds: xr.Dataset, index: np.ndarray | None = None) -> list[str] | list[float]:
    """The chart's x values for a simulated Dataset: ISO dates for calendar models, else model times."""
    return time_axis(model, ds["time"].values, index)


def time_axis(model: Model, times: np.ndarray, index: np.ndarray | None = None) -> list[str] | list[float]:
    """The chart's x values at saved ``times`` (or at ``index`` of them): ISO dates for calendar models, else times."""
    shown = times if index is None else times[index]
    dates = dates_of(model, shown)
    return iso_dates(dates) if dates is not None else [float(t) for t in shown]


def _rounded(values: np.ndarray, significant: int = SIGNIFICANT) -> list[float | None]:
    """Each value to ``significant`` digits, exactly ``float(f"{v:.{significant}g}")`` (None if not finite).

    Vectorised (the dashboard rounds 5 bands × ~500 times × several variables per slider
    move): ``v`` is scaled by an exact power of ten, rounded to an integer and scaled back
    in one correctly rounded operation, which gives the double nearest the 6-digit decimal,
    as parsing the formatted string does. Where that could differ from Python's formatting
    (a value within a hair of a rounding tie, or beyond 10^±22, where powers of ten are
    inexact) the value is formatted as a string instead.
    """
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    x = np.where(finite, v, 0.0)
    nonzero = x != 0.0
    with np.errstate(divide="ignore"):
        magnitude = np.floor(np.log10(np.abs(np.where(nonzero, x, 1.0)))).astype(np.int64)
    k = significant - 1 - magnitude  # scale by 10**k so that the digits to keep are the integer part
    out = x.copy()
    up = nonzero & (k >= 0) & (k <= 22)
    down = nonzero & (k < 0) & (k >= -22)
    scaled = np.zeros_like(x)
    scaled[up] = x[up] * 10.0 ** k[up]
    scaled[down] = x[down] / 10.0 ** -k[down]
    whole = np.round(scaled)
    out[up] = whole[up] / 10.0 ** k[up]
    out[down] = whole[down] * 10.0 ** -k[down]
    near_tie = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6
    scalable = up | down
    formatted = finite & nonzero & (~scalable | near_tie)
    for i in np.flatnonzero(formatted):
        out[i] = float(f"{x[i]:.{significant}g}")
    if finite.all():
        return out.tolist()  # type: ignore[no-any-return]
    return [value if keep else None for value, keep in zip(out.tolist(), finite.tolist())]


def fan(ds: xr.Dataset, variable: str, index: np.ndarray | None = None, interval: Interval = Interval(),
        significant: int = SIGNIFICANT) -> Fan:
    """Quantiles over the ``run`` dimension of ``ds[variable]`` at each saved time (or at ``index``)."""
    return fans(Ensemble.of(ds).series, [variable], index, interval, significant)[variable]


def fans(series: Mapping[str, np.ndarray], variables: Sequence[str], index: np.ndarray | None = None,
         interval: Interval = Interval(), significant: int = SIGNIFICANT) -> dict[str, Fan]:
    """The fan of each of ``variables`` from its ``(runs, times)`` array in ``series``, at each time (or at ``index``).

    The bands of every variable are rounded in one vectorised pass (the dashboard draws
    about fourteen per slider move; rounding is per value, so the numbers are those of
    one variable at a time).
    """
    bands = [quantile_bands(np.asarray(series[v], dtype=float), index, interval) for v in variables]
    if not bands:
        return {}
    flat = _rounded(np.concatenate([b.ravel() for b in bands]), significant)
    width = bands[0].shape[1]
    rows = [flat[k * width:(k + 1) * width] for k in range(len(BANDS) * len(bands))]
    return {v: Fan(v, dict(zip(BANDS, rows[i * len(BANDS):(i + 1) * len(BANDS)]))) for i, v in enumerate(variables)}


def quantile_bands(values: np.ndarray, index: np.ndarray | None = None, interval: Interval = Interval()) -> np.ndarray:
    """Rows low, median, high over the runs of ``values`` ``(runs, times)``, at each time (or at ``index``).

    NaNs are left out (``nanquantile``). Each time's runs are copied into one contiguous row
    and sorted there: the engines' ``(runs, times)`` arrays are transposed views of ``(times,
    runs)`` blocks, where a time's runs lie together (sorting down strided columns took a
    third more). Times without NaN take the quantiles of that sort (:func:`sorted_quantiles`:
    NumPy's numbers, without its second partition); NaN sorts last, which finds the others.
    """
    if values.shape[0] <= 1:
        return np.repeat(values if index is None else values[:, index], len(BANDS), 0)
    levels = [interval.low_q, 0.5, interval.high_q]
    rows = values.T.copy() if index is None else values.T[index]  # (times, runs): a copy, sorted in place
    rows.sort(axis=1)
    qs = sorted_quantiles(rows.T, levels)
    holes = np.flatnonzero(np.isnan(rows[:, -1]))
    if holes.size:
        qs[:, holes] = np.nanquantile(rows[holes], levels, axis=1)
    return qs


def key_variables(model: Model) -> list[str]:
    """What a report charts: the variables the declared outcomes read, else the stocks."""
    declared = needed_variables(model)
    if declared:
        return declared
    return [name for name, var in model.variables.items() if isinstance(var, Stock) and not is_hidden(name)]


def model_x(model: Model, time: float) -> str | float:
    """A model time as a chart x value: an ISO date for calendar models, else the time itself."""
    dates = dates_of(model, np.array([time], dtype=float))
    return iso_dates(dates)[0] if dates is not None else float(time)


def event_marks(model: Model) -> list[EventMark]:
    """Every occurrence of every event of the model as written (the historical record), in time order."""
    marks = []
    for name, var in model.of_kind(Event).items():
        for time in var.times:  # type: ignore[union-attr]
            if model.time.start <= time <= model.time.stop:
                marks.append(EventMark(model.display_name(name), var.doc, model_x(model, time)))
    return sorted(marks, key=lambda m: (str(m.x) if isinstance(m.x, str) else f"{m.x:020.6f}", m.name))


def policy_date(model: Model, scenario: str | None) -> str | float | None:
    """When a scenario's policy starts (a date for calendar models, else model time); None when it has none."""
    chosen = model.scenarios.get(scenario or "")
    if chosen is None or chosen.policy_from is None:
        return None
    return model_x(model, chosen.policy_from)


def format_x(value: str | float) -> str:
    """A date or model time as people read it: 16 Jun 2020, or 20."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value).strftime("%-d %b %Y")
    return f"{value:g}"
