"""Observed series for calibration: the data CSV and the mapping file that ties them to a model.

The data CSV has one observation per row: ``date``, ``series``, ``value`` and optionally
``weight`` (other columns, e.g. sources and notes, are ignored). The mapping (YAML) says
which series to fit and how each reads the model::

    data: ../../../shared/data/iraq/series.csv   # optional; relative to this file
    scenario: historical                         # optional; default the model's
    parameters: [gain_rate, decay_rate]          # optional; default every judgement parameter
    from: 2018-01-01                             # optional: compare observations from this date
    until: 2020-06-16                            # optional: ... up to this date
    series:
      troops_reported:                           # a series name in the CSV
        variable: us_troops                      # the model variable it measures
        weight: 1                                # optional: relative weight of the series
        scale: 1000                              # optional: error scale (default mean |value|)
      attacks_since_oct2019:
        variable: cumulative_attacks
        baseline: 2019-10-01                     # optional: observed = x(date) - x(baseline)

Dates are ISO dates for calendar models (``2020``, ``2020-03`` and ``2020-03-26`` read as
mid-year, mid-month and that day), plain model times otherwise. Observations outside
the model's run or the ``from``/``until`` window are skipped (and reported), not fitted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import DataError, Location
from policylab.files import read_capped
from policylab.formats.yaml_loader import line_of, parse_yaml
from policylab.limits import MODEL_BYTES
from policylab.model.ir import TimeSpec

MAPPING_KEYS = ("data", "scenario", "parameters", "from", "until", "series")
SERIES_KEYS = ("variable", "baseline", "weight", "scale")


@dataclass(frozen=True)
class SeriesMap:
    """How one observed series reads the model."""

    name: str
    variable: str
    baseline: str | None = None
    weight: float = 1.0
    scale: float | None = None
    where: Location = Location()


@dataclass(frozen=True)
class MappingFile:
    """A parsed mapping file."""

    series: tuple[SeriesMap, ...]
    data: Path | None = None
    scenario: str | None = None
    parameters: tuple[str, ...] = ()
    start: str | None = None
    until: str | None = None
    where: Location = Location()


def read_mapping(path: str | Path) -> MappingFile:
    """Parse and validate a mapping file; errors name the file, line and key."""
    path = Path(path)
    doc = parse_yaml(read_capped(path, MODEL_BYTES, "mapping file"), str(path), "mapping file", DataError)
    if not isinstance(doc, dict):
        raise DataError(f"{path}: a mapping file is a YAML mapping with a `series:` section")
    _only(doc, MAPPING_KEYS, str(path), path)
    raw_series = doc.get("series")
    if not isinstance(raw_series, dict) or not raw_series:
        raise DataError(f"{path}:{line_of(doc, ('series',))}: series: give at least one `NAME: {{variable: ...}}`")
    series = tuple(_series(path, raw_series, name) for name in raw_series)
    data = doc.get("data")
    parameters = doc.get("parameters") or []
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise DataError(f"{path}:{line_of(doc, ('parameters',))}: parameters: give a list of judgement parameter names")
    scenario = doc.get("scenario")
    window = {k: None if doc.get(k) is None else str(doc.get(k)) for k in ("from", "until")}
    return MappingFile(series, (path.parent / str(data)) if data else None, str(scenario) if scenario else None,
                       tuple(parameters), window["from"], window["until"], Location(str(path)))


def _series(path: Path, raw: Any, name: str) -> SeriesMap:
    entry = raw[name]
    where = Location(str(path), line_of(raw, (name,)))
    if not isinstance(entry, dict) or "variable" not in entry:
        raise DataError(f"{where}: series.{name}: give at least `variable: MODEL_VARIABLE`")
    _only(entry, SERIES_KEYS, f"series.{name}", path)
    numbers = {}
    for key in ("weight", "scale"):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise DataError(f"{path}:{line_of(entry, (key,))}: series.{name}.{key}: must be a positive number, got {value!r}")
            numbers[key] = float(value)
    baseline = entry.get("baseline")
    return SeriesMap(str(name), str(entry["variable"]), None if baseline is None else str(baseline),
                     numbers.get("weight", 1.0), numbers.get("scale"), where)


def _only(doc: Any, keys: tuple[str, ...], what: str, path: Path) -> None:
    for key in doc:
        if key not in keys:
            raise DataError(f"{path}:{line_of(doc, (key,))}: {what}: unknown key {key!r}; accepted: {', '.join(keys)}")


def read_observations(path: str | Path) -> pd.DataFrame:
    """The data CSV as columns series, date (text), value, weight, line (1-based line in the file)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"date": str, "series": str})
    except OSError as error:
        raise DataError(f"{path}: cannot read the data ({error.strerror or error})") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable CSV: {error}") from error
    missing = [c for c in ("date", "series", "value") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: the data need columns date, series, value (optional weight); missing {', '.join(missing)}")
    out = pd.DataFrame({"series": frame["series"].astype(str), "date": frame["date"].astype(str).str.strip(),
                        "value": pd.to_numeric(frame["value"], errors="coerce"),
                        "weight": pd.to_numeric(frame["weight"], errors="coerce") if "weight" in frame else 1.0,
                        "line": np.arange(len(frame)) + 2})
    return out


def model_time(spec: TimeSpec, text: str, where: str) -> float:
    """The model time of a date (calendar models) or a number (others)."""
    if spec.calendar_start is None:
        try:
            return float(text)
        except ValueError as error:
            raise DataError(f"{where}: {text!r} is not a model time; this model has no calendar, so give numbers") from error
    return spec.to_time(parse_date(text, where))


def parse_date(text: str, where: str) -> dt.date:
    """``YYYY`` (1 July), ``YYYY-MM`` (the 15th) or ``YYYY-MM-DD``."""
    text = text.strip()
    try:
        if len(text) == 4:
            return dt.date(int(text), 7, 1)
        if len(text) == 7:
            return dt.date(int(text[:4]), int(text[5:7]), 15)
        return dt.date.fromisoformat(text[:10])
    except ValueError as error:
        raise DataError(f"{where}: {text!r} is not a date; write YYYY-MM-DD (or YYYY-MM, YYYY)") from error
