"""Dominant loops by period over an ensemble: the rows `policylab loops` prints (table, csv, json)."""

from __future__ import annotations

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
