"""What an exploration records per run: scalar outcomes and periodic series.

Scalar outcomes are the model's declared ``outcomes:`` (see ``policylab.results``) plus
any given per call as text::

    peak=infected:max              max | min | mean | final | sum | change over the run
    late=infected:mean@60-120      … over a window of model time [60, 120] (``@60``: from 60 on)
    day60=infected:value@60        the value at model time 60
    t_half=recovered:cross>=5000   first model time the variable reaches 5000 (NaN if never)
    t_low=infected:cross<=10       first model time it falls to 10 or below

Series keep chosen variables at a coarser period than the model saves — ``month``,
``week``, ``quarter`` or ``year`` (the first saved time of each calendar period for
calendar models; a fixed interval in model time otherwise), or a number (every so many
model time units) — so a million runs of a daily model stay storable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import xarray as xr

from policylab.expr.names import canonical
from policylab.explore.errors import DesignError
from policylab.model.ir import Model, Outcome, Statistic
from policylab.results.outcomes import outcome_array

Period = Literal["week", "month", "quarter", "year"]
PERIODS: tuple[str, ...] = get_args(Period)
STATS: tuple[str, ...] = get_args(Statistic)
_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}
_FREQ = {"week": "W", "month": "M", "quarter": "Q", "year": "Y"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SPEC = re.compile(rf"^\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<var>[^:]+?)\s*:\s*(?P<stat>[a-z]+)"
                   rf"(?:(?P<op>>=|<=)(?P<thr>{_NUMBER})|@(?P<a>{_NUMBER})(?:-(?P<b>{_NUMBER}))?)?\s*$")


@dataclass(frozen=True)
class Crossing:
    """First model time a variable reaches a threshold (``up``: >=, ``down``: <=); NaN if never."""

    name: str
    variable: str
    threshold: float
    direction: Literal["up", "down"] = "up"

    def evaluate(self, ds: xr.Dataset) -> np.ndarray:
        if self.variable not in ds:
            raise DesignError(f"outcome {self.name!r} needs {self.variable!r}, which was not saved")
        values = ds[self.variable].values
        hit = values >= self.threshold if self.direction == "up" else values <= self.threshold
        first = hit.argmax(axis=1)
        times = ds["time"].values
        return np.where(hit.any(axis=1), times[first], np.nan)


OutcomeSpec = Outcome | Crossing


def parse_outcome(text: str) -> OutcomeSpec:
    """An outcome written as ``name=variable:stat[@at | @from-to | >=x | <=x]`` (see the module doc)."""
    match = _SPEC.match(text)
    if not match:
        raise DesignError(f"cannot read outcome {text!r}; write name=variable:stat, e.g. peak=infected:max, "
                          "late=infected:mean@60-120, day60=infected:value@60 or t=recovered:cross>=5000")
    name, variable, stat = match["name"], canonical(match["var"]), match["stat"]
    if stat == "cross":
        if match["op"] is None:
            raise DesignError(f"outcome {text!r}: cross needs a threshold, e.g. {name}={match['var']}:cross>=5000")
        return Crossing(name, variable, float(match["thr"]), "up" if match["op"] == ">=" else "down")
    if stat not in STATS:
        raise DesignError(f"outcome {text!r}: stat must be one of {', '.join(STATS + ('cross',))}, not {stat!r}")
    if match["op"] is not None:
        raise DesignError(f"outcome {text!r}: a threshold (>=, <=) goes with the cross stat only")
    a = None if match["a"] is None else float(match["a"])
    b = None if match["b"] is None else float(match["b"])
    if stat == "value":
        if a is None or b is not None:
            raise DesignError(f"outcome {text!r}: value needs one time, e.g. {name}={match['var']}:value@60")
        return Outcome(name, variable, "value", at=a, display=name)
    return Outcome(name, variable, stat, start=a, end=b, display=name)  # type: ignore[arg-type]


def evaluate(ds: xr.Dataset, outcome: OutcomeSpec) -> np.ndarray:
    """One value per run of ``ds``."""
    if isinstance(outcome, Crossing):
        return outcome.evaluate(ds)
    return outcome_array(ds, outcome)


@dataclass(frozen=True)
class SeriesSpec:
    """Variables to keep as time series, and how often (a period name or model-time interval)."""

    variables: tuple[str, ...]
    every: Period | float = "month"

    def __post_init__(self) -> None:
        if not self.variables:
            raise DesignError("a series needs at least one variable")
        if isinstance(self.every, str):
            if self.every not in PERIODS:
                raise DesignError(f"series period must be a number or one of {', '.join(PERIODS)}, not {self.every!r}")
        elif not (np.isfinite(self.every) and self.every > 0):
            raise DesignError(f"series interval must be a positive number, not {self.every!r}")


def parse_every(text: str) -> Period | float:
    """``month`` (etc.) or a positive number of model time units."""
    if text in PERIODS:
        return text  # type: ignore[return-value]
    try:
        return float(text)
    except ValueError:
        raise DesignError(f"--every must be a number or one of {', '.join(PERIODS)}, not {text!r}") from None


def series_indices(model: Model, times: np.ndarray, dates: np.ndarray | None, every: Period | float) -> np.ndarray:
    """Indices of the saved times a series keeps."""
    if isinstance(every, str) and dates is not None:
        periods = pd.DatetimeIndex(dates).to_period(_FREQ[every])
        _, first = np.unique(periods.asi8, return_index=True)
        return np.sort(first)
    if isinstance(every, str):
        unit_days = _DAYS.get(model.time.units.rstrip("s").lower())
        if unit_days is None:
            raise DesignError(f"{model.name} counts time in {model.time.units!r}, so a {every!r} series is ambiguous; "
                              "give --every as a number of model time units")
        step = _DAYS[every] / unit_days
    else:
        step = float(every)
    targets = np.arange(times[0], times[-1] + 1e-9 * max(1.0, abs(times[-1])), step)
    picks = np.clip(np.searchsorted(times, targets - 1e-9 * step), 0, len(times) - 1)
    return np.unique(picks)


def needed_variables(outcomes: Sequence[OutcomeSpec], series: SeriesSpec | None) -> list[str]:
    """Every variable the outcomes and series read, without repeats."""
    names = [o.variable for o in outcomes] + (list(series.variables) if series else [])
    return list(dict.fromkeys(canonical(n) for n in names))
