"""Dominant loops by period over an ensemble: the rows `policylab loops` prints (table, csv, json)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from policylab.results.intervals import Interval
from policylab.results.loops.structure import causal

SCHEMA = 1


@dataclass(frozen=True)
class LoopRow:
    """One loop in one period: how often it dominates its partition and its period score over runs."""

    period: str
    loop: str
    polarity: str
    partition: int
    alone: bool
    dominant_share: float  # NaN for a loop alone in its partition
    median: float
    low: float
    high: float
    members: str


def period_rows(ds: xr.Dataset, interval: Interval = Interval()) -> list[LoopRow]:
    """Every loop in every period, most often dominant first (by partition)."""
    rows: list[LoopRow] = []
    share = ds["dominant"].mean("run").values
    quantiles = np.nanquantile(ds["period_score"].values, interval.quantiles, axis=2) if ds.sizes["run"] else None
    for k, period in enumerate(ds["period"].values):
        order = sorted(range(ds.sizes["loop"]), key=lambda i: (int(ds.partition.values[i]), -share[i, k],
                                                                -abs(float(quantiles[1, i, k])) if quantiles is not None
                                                                and np.isfinite(quantiles[1, i, k]) else 0.0))
        for i in order:
            alone = bool(ds.alone.values[i])
            low, median, high = (float(q) for q in quantiles[:, i, k]) if quantiles is not None else (np.nan,) * 3
            rows.append(LoopRow(str(period), str(ds.loop.values[i]), str(ds.polarity.values[i]),
                                int(ds.partition.values[i]), alone, float("nan") if alone else float(share[i, k]),
                                median, low, high, str(ds.members.values[i])))
    return rows


def evidence_of(model) -> dict[tuple[str, str], tuple]:  # type: ignore[no-untyped-def]
    """Each causal link's evidence (declared sign, source, quote), from the model's causal graph."""
    return {(link.source, link.target): link.evidence for link in causal(model).links}


def evidence_along(evidence: dict, members: str) -> list[dict[str, str]]:
    """The evidence quotes on the links of a loop, in loop order (evidence-traced models)."""
    names = members.split(" -> ")
    found = []
    for a, b in zip(names, names[1:]):
        for ev in evidence.get((a, b), ()):
            found.append({"from": a, "to": b, "sign": ev.sign, "kind": ev.kind,
                          "source": ev.source, "quote": ev.quote or ev.reason})
    return found


def to_json(ds: xr.Dataset, rows: list[LoopRow], evidence: dict, interval: Interval) -> dict[str, Any]:
    """The documented, versioned structure of `policylab loops --format json`."""
    def num(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 6)

    shown = {r.loop for r in rows}
    return {
        "schema": SCHEMA,
        "model": ds.attrs.get("model", ""),
        "scenario": ds.attrs.get("scenario", ""),
        "runs": int(ds.sizes["run"]),
        "seed": int(ds.attrs.get("seed", 0)),
        "mode": ds.attrs["loop_mode"],
        "budget": ds.attrs["loop_budget"],
        "interval": interval.label,
        "periods": [
            {"label": str(p), "start": float(s), "end": float(e),
             "loops": [{"loop": r.loop, "dominant_share": num(r.dominant_share), "median": num(r.median),
                        "low": num(r.low), "high": num(r.high)} for r in rows if r.period == str(p)]}
            for p, s, e in zip(ds.period.values, ds.period_start.values, ds.period_end.values)
        ],
        "loops": {
            str(i): {"polarity": str(p), "partition": int(k), "alone": bool(a), "members": str(m).split(" -> "),
                     "evidence": evidence_along(evidence, str(m))}
            for i, p, k, a, m in zip(ds.loop.values, ds.polarity.values, ds.partition.values, ds.alone.values,
                                     ds.members.values) if str(i) in shown
        },
    }


CHARTED_LOOPS = 6  # loops a dominance chart names; the rest of their partition is one "other loops" band


@dataclass(frozen=True)
class DominanceSeries:
    """Loop dominance over time in one cycle partition: what the loop-dominance chart draws.

    ``share[k, t]``: share of runs in which loop k has the largest |relative score| of its
    partition at saved time t (NaN where no run has a defined score); ``other[t]``: the share
    in which another loop of the partition does; ``quantiles[q, k, t]``: the relative score's
    low, median and high over the runs (the interval convention).
    """

    partition: int
    loops: tuple[str, ...]
    polarity: tuple[str, ...]
    members: tuple[str, ...]
    times: np.ndarray
    dates: np.ndarray | None
    share: np.ndarray
    other: np.ndarray
    quantiles: np.ndarray
    partition_loops: int
    runs: int


def dominance_over_time(ds: xr.Dataset, interval: Interval = Interval(), top: int = CHARTED_LOOPS) -> DominanceSeries:
    """The ``top`` loops most often dominant over time, in the partition where a loop dominates most often."""
    from policylab.results.loops.ensemble import dominance

    relative = np.asarray(ds["relative_score"].transpose("loop", "time", "run").values, dtype=float)
    partitions = [int(p) for p in ds.partition.values]
    alone = [bool(a) for a in ds.alone.values]
    dominant = dominance(relative, partitions, alone)
    defined = dominant.any(axis=0)  # (time, run): some loop dominates its partition
    share = dominant.mean(axis=2)
    candidates = [i for i, a in enumerate(alone) if not a] or list(range(len(alone)))
    best = max(candidates, key=lambda i: (float(share[i].mean()), -i))
    part = partitions[best]
    members = [i for i in candidates if partitions[i] == part]
    members.sort(key=lambda i: (-float(share[i].mean()), str(ds.loop.values[i])))
    chosen = members[:top]
    valid = np.where(defined.mean(axis=1) > 0, 1.0, np.nan)
    with warnings.catch_warnings():  # a time where no run has a score (the first step) is NaN, as it should be
        warnings.simplefilter("ignore", RuntimeWarning)
        quantiles = np.nanquantile(relative[chosen], interval.quantiles, axis=2) if chosen else np.empty((3, 0, 0))
    others = [i for i in members if i not in chosen]
    other = (share[others].sum(axis=0) if others else np.zeros(share.shape[1])) * valid
    dates = np.asarray(ds["date"].values) if "date" in ds.coords else None
    return DominanceSeries(
        partition=part, loops=tuple(str(ds.loop.values[i]) for i in chosen),
        polarity=tuple(str(ds.polarity.values[i]) for i in chosen),
        members=tuple(str(ds.members.values[i]) for i in chosen), times=np.asarray(ds.time.values, dtype=float),
        dates=dates, share=share[chosen] * valid, other=other, quantiles=quantiles,
        partition_loops=len(members), runs=int(ds.sizes["run"]))
