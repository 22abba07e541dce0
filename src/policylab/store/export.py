"""Export a stored run as CSV, one Parquet file, or netCDF.

CSV and Parquet stream through DuckDB (``COPY … ORDER BY run``), so a run larger than
memory exports in bounded memory. netCDF builds an ``xarray.Dataset`` — outcomes over
``run`` with the design as run coordinates, series over ``(run, time)`` — and so needs
the run to fit in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
import xarray as xr

from policylab.store.errors import StoreError
from policylab.store.store import Store

ExportFormat = Literal["csv", "parquet", "netcdf"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
Table = Literal["outcomes", "series"]
TABLES: tuple[str, ...] = get_args(Table)
SUFFIX = {"csv": ".csv", "parquet": ".parquet", "netcdf": ".nc"}


def export_run(store: Store, run_id: str, fmt: ExportFormat, out: Path, table: Table = "outcomes") -> Path:
    """Write run ``run_id`` to ``out``; ``table`` picks outcomes or series for CSV and Parquet."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    if table not in TABLES:
        raise StoreError(f"--table must be one of {', '.join(TABLES)}, not {table!r}")
    if fmt == "netcdf":
        to_dataset(store, run_id).to_netcdf(out, engine="scipy")
        return out
    files = store.files(run_id, table)
    if not files:
        raise StoreError(f"run {run_id} has no {table} stored" + (" (it was run without --series)" if table == "series" else ""))
    order = "run, time" if table == "series" else "run"
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
    temp = out.with_name(f".{out.name}.tmp")
    with store.querying(run_id) as con:
        con.execute(f"COPY (SELECT * FROM read_parquet({_list(files)}) ORDER BY {order}) TO '{_quote(temp)}' ({options})")
    temp.replace(out)
    return out


def to_dataset(store: Store, run_id: str) -> xr.Dataset:
    """A stored run as a Dataset: outcomes over ``run``, series over ``(run, time)``."""
    info = store.info(run_id)
    outcomes = store.read(run_id, "outcomes")
    if outcomes.empty:
        raise StoreError(f"run {run_id} has no finished chunk to export")
    names = [str(n) for n in info.manifest.get("outcomes", [])]  # type: ignore[union-attr]
    runs = outcomes["run"].to_numpy()
    coords: dict[str, object] = {"run": runs}
    for column in outcomes.columns:
        if column != "run" and column not in names:
            values = outcomes[column].to_numpy()
            coords[column] = ("run", values.astype(str) if values.dtype == object else values)
    data = {n: ("run", outcomes[n].to_numpy(dtype=float)) for n in names if n in outcomes}
    series = store.read(run_id, "series") if info.chunks["series_file"].notna().any() else pd.DataFrame()
    if not series.empty:
        times = np.unique(series["time"].to_numpy())
        position = {r: i for i, r in enumerate(runs)}
        rows = np.array([position[r] for r in series["run"].to_numpy()])
        cols = np.searchsorted(times, series["time"].to_numpy())
        coords["time"] = times
        for name in series.columns:
            if name in ("run", "time", "date"):
                continue
            grid = np.full((len(runs), len(times)), np.nan)
            grid[rows, cols] = series[name].to_numpy(dtype=float)
            data[name] = (("run", "time"), grid)
    attrs = {"run_id": run_id, "model": str(info.row.get("model")), "model_hash": str(info.row.get("model_hash")),
             "status": info.status}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _list(files: list[Path]) -> str:
    return "[" + ", ".join(f"'{_quote(f)}'" for f in files) + "]"


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def summarise(store: Store, run_id: str, quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9)) -> pd.DataFrame:
    """Per policy and outcome: runs, 10th/50th/90th percentiles and NaN count (streamed by DuckDB)."""
    info = store.info(run_id)
    files = store.files(run_id, "outcomes")
    names = [str(n) for n in info.manifest.get("outcomes", [])]  # type: ignore[union-attr]
    if not files or not names:
        return pd.DataFrame(columns=["policy", "outcome", "runs", "p10", "median", "p90"])
    low, mid, high = quantiles
    parts = " UNION ALL ".join(
        f"SELECT policy, '{n}' AS outcome, count(\"{n}\") AS runs, quantile_cont(\"{n}\", {low}) AS p10, "
        f"quantile_cont(\"{n}\", {mid}) AS median, quantile_cont(\"{n}\", {high}) AS p90, min(run) AS first "
        f"FROM read_parquet({_list(files)}) GROUP BY policy" for n in names)
    with store.querying(run_id) as con:
        frame = con.execute(f"SELECT * FROM ({parts}) ORDER BY first, outcome").df()
    order = {n: i for i, n in enumerate(names)}
    frame["rank"] = frame["outcome"].map(order)
    return frame.sort_values(["first", "rank"]).drop(columns=["first", "rank"]).reset_index(drop=True)
