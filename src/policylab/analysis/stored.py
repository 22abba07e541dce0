"""Analyses of a stored exploration (``policylab explore``) instead of fresh runs.

A stored run's outcomes table has one row per run: ``run``, ``sample``, ``scenario``,
``policy``, one column per sampled parameter and one per recorded outcome. Scenario
discovery needs the rows of one policy; robustness needs every policy on every sample
(a *crossed* design), which is what ``explore`` runs by default with common random
numbers (sample ``i`` uses random stream ``i`` under every policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from policylab.errors import UsageError


@dataclass(frozen=True)
class StoredRun:
    """A stored exploration's outcomes table and what its columns are."""

    run_id: str
    model: str
    frame: pd.DataFrame
    parameters: tuple[str, ...]
    outcomes: tuple[str, ...]
    complete: bool

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(self.frame["policy"].astype(str)))

    def outcome(self, name: str) -> str:
        """The stored column of an outcome, or a UsageError listing the stored ones."""
        if name not in self.outcomes:
            raise UsageError(f"run {self.run_id} did not record outcome {name!r}; it has {', '.join(self.outcomes)} "
                             "(record more with `policylab explore --outcome`)")
        return name

    def policy_rows(self, policy: str | None) -> pd.DataFrame:
        """The rows of one policy (the only one when ``policy`` is None and there is one)."""
        if policy is None:
            if len(self.policies) > 1:
                raise UsageError(f"run {self.run_id} holds policies {', '.join(self.policies)}; choose one with --scenario")
            return self.frame
        rows = self.frame[self.frame["policy"].astype(str) == policy]
        if rows.empty:
            raise UsageError(f"run {self.run_id} has no policy {policy!r}; it has {', '.join(self.policies)}")
        return rows


def load_stored(run_id: str, store: str | Path | None = None) -> StoredRun:
    """Read a stored run's outcomes (``store``: the store folder; default as ``policylab runs``)."""
    from policylab.store import Store

    target = Store(store)
    info = target.info(run_id)
    frame = target.read(run_id, "outcomes")
    if frame.empty:
        raise UsageError(f"run {run_id} has no finished chunk yet")
    parameters = tuple(str(p) for p in info.manifest.get("parameters", []) if str(p) in frame.columns)  # type: ignore[union-attr]
    outcomes = tuple(str(o) for o in info.manifest.get("outcomes", []) if str(o) in frame.columns)  # type: ignore[union-attr]
    return StoredRun(run_id, str(info.row.get("model")), frame, parameters, outcomes, info.complete)


def policy_values(stored: StoredRun, outcomes: Sequence[str], policies: Sequence[str] | None = None) -> xr.DataArray:
    """Outcomes as (outcome, scenario, run) over the samples every chosen policy ran (crossed designs)."""
    chosen = list(policies) if policies else stored.policies
    for p in chosen:
        stored.policy_rows(p)
    names = [stored.outcome(o) for o in outcomes]
    rows = stored.frame[stored.frame["policy"].astype(str).isin(chosen)]
    counts = rows.groupby("sample")["policy"].nunique()
    shared = np.sort(counts.index[counts == len(chosen)].to_numpy())
    if shared.size == 0:
        raise UsageError(f"run {stored.run_id} has no sample run under every policy; compare needs a crossed design "
                         "(`policylab explore --combine crossed`, the default)")
    table = rows[rows["sample"].isin(shared)].set_index(["policy", "sample"]).sort_index()
    value = np.stack([[table.loc[p, o].reindex(shared).to_numpy(dtype=float) for p in chosen] for o in names])
    coords: dict[str, object] = {"outcome": names, "scenario": chosen, "run": shared}
    first = table.loc[chosen[0]].reindex(shared)
    for name in stored.parameters:
        if name in first:
            coords[name] = ("run", first[name].to_numpy(dtype=float))
    return xr.DataArray(value, dims=("outcome", "scenario", "run"), coords=coords)
