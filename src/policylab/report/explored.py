"""What a stored exploration contributes to a report: sensitivity bars and PRIM boxes.

An exploration stores one row per run: the design (scenario, policy, the sampled
parameters) and the outcomes. From those, without re-running anything:

* **Sensitivity** — Spearman rank correlation of each sampled parameter with each
  outcome, within the first policy (so lever settings do not masquerade as uncertainty).
  Rank correlation suits any sampling design (Latin hypercube, Sobol', Monte Carlo); it
  measures monotone influence and is signed (Saltelli et al. 2008, *Global Sensitivity
  Analysis: The Primer*, ch. 1).
* **Scenario discovery** — PRIM boxes (Friedman & Fisher 1999) where a condition on an
  outcome holds: the condition given, else each declared outcome with a threshold
  (``outcome >= threshold``).
"""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from policylab.model.ir import Model
from policylab.report.build import BoxPanel, Findings, SensitivityPanel

MAX_BARS = 15


CONFIDENCE = 0.95


def spearman_interval(rho: float, n: int, z: float) -> tuple[float, float]:
    """Confidence interval of a Spearman correlation by Fisher's z with Fieller et al.'s (1957) variance 1.06/(n-3)."""
    half = z * np.sqrt(1.06 / max(n - 3, 1))
    centre = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    return float(np.tanh(centre - half)), float(np.tanh(centre + half))


def resolvable(n: int, k: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The z of a Bonferroni-corrected two-sided interval over ``k`` parameters, and the smallest |rho| it resolves."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / (2 * max(k, 1)))
    return z, float(np.tanh(z * np.sqrt(1.06 / max(n - 3, 1))))


def _rank_correlations(frame: pd.DataFrame, parameters: list[str], outcome: str,
                       z: float) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    y = frame[outcome].to_numpy(dtype=float)
    values: dict[str, float] = {}
    ok = np.isfinite(y)
    if ok.sum() < 3 or np.ptp(y[ok]) == 0:
        return values, {}
    for name in parameters:
        x = frame[name].to_numpy(dtype=float)[ok]
        if np.ptp(x) == 0:
            continue
        rho = spearmanr(x, y[ok]).statistic
        if np.isfinite(rho):
            values[name] = float(rho)
    top = sorted(values, key=lambda n: -abs(values[n]))[:MAX_BARS]
    n = int(ok.sum())
    return {p: values[p] for p in top}, {p: spearman_interval(values[p], n, z) for p in top}


def _conditions(model: Model | None, outcomes: list[str], condition: str | None) -> list[tuple[str, str, float]]:
    """(outcome, op, value) triples to search boxes for."""
    if condition:
        from policylab.analysis.evaluate import parse_condition

        parsed = parse_condition(condition)
        return [(parsed.outcome, parsed.op, parsed.value)]
    found = []
    for name in outcomes:
        declared = model.ir.outcomes.get(name) if model is not None else None
        if declared is not None and isinstance(declared.threshold, float):
            found.append((name, ">=", declared.threshold))
    return found


def _holds(values: np.ndarray, op: str, limit: float) -> np.ndarray:
    return {">=": values >= limit, "<=": values <= limit, ">": values > limit, "<": values < limit}[op]


def _boxes(frame: pd.DataFrame, parameters: list[str],
           conditions: list[tuple[str, str, float]]) -> tuple[list[BoxPanel], list[str]]:
    from policylab.analysis.prim import prim

    varying = [p for p in parameters if np.ptp(frame[p].to_numpy(dtype=float)) > 0]
    x = frame[varying].astype(float)
    ranges = {p: (float(x[p].min()), float(x[p].max())) for p in varying}
    panels, notes = [], []
    if not conditions:
        notes.append("No PRIM boxes: no declared outcome has a numeric threshold to search for, and no condition "
                     "was given (`policylab report RUN_ID --condition 'OUTCOME>=VALUE'`).")
    for outcome, op, limit in conditions:
        if outcome not in frame:
            notes.append(f"No PRIM box for {outcome} {op} {limit:g}: the exploration did not store {outcome}.")
            continue
        y = _holds(frame[outcome].to_numpy(dtype=float), op, limit)
        if not varying or y.sum() == 0 or y.all():
            why = ("no parameter was varied" if not varying else
                   f"{'no' if y.sum() == 0 else 'every'} run has {outcome} {op} {limit:g}")
            notes.append(f"No PRIM box for {outcome} {op} {limit:g}: {why}, so there is nothing to tell apart.")
            continue
        searches = prim(x, y, max_p=0.05)
        if not searches:
            continue
        box = searches[0].box
        if not box.limits:
            notes.append(f"No PRIM box for {outcome} {op} {limit:g}: it holds in {y.mean():.0%} of runs, and no "
                         "restriction of the parameters makes it markedly more likely.")
            continue
        notes += [f"PRIM box for {outcome} {op} {limit:g}: {w}." for w in searches[0].warnings]
        panels.append(BoxPanel(f"{outcome} {op} {limit:g}", dict(box.limits), {p: ranges[p] for p in box.limits},
                               box.coverage, box.density, box.mass, dict(box.quasi_p)))
    return panels, notes


def findings_from_frame(frame: pd.DataFrame, run_id: str, parameters: list[str], outcomes: list[str],
                        model: Model | None = None, condition: str | None = None) -> Findings:
    """Sensitivity and PRIM boxes from an exploration's outcome table (one row per run)."""
    first_policy = frame["policy"].iloc[0] if "policy" in frame else None
    within = frame[frame["policy"] == first_policy] if first_policy is not None else frame
    z, smallest = resolvable(len(within), len(parameters))
    panels = []
    for o in outcomes:
        if o in within:
            values, intervals = _rank_correlations(within, parameters, o, z)
            if values:
                panels.append(SensitivityPanel(o, "Spearman rank correlation with the outcome", values, intervals))
    boxes, notes = _boxes(frame, parameters, _conditions(model, outcomes, condition))
    notes.insert(0, f"Sensitivity: {len(within):,} runs over {len(parameters)} parameters resolve rank correlations "
                    f"of at least ±{smallest:.2f} ({CONFIDENCE:.0%} intervals, Bonferroni-corrected over the "
                    "parameters); bars whose interval includes 0 are grey: noise at this sample size."
                 + (" Run a larger exploration to resolve smaller effects." if smallest > 0.1 else ""))
    if first_policy is not None and frame["policy"].nunique() > 1:
        notes.append(f"Sensitivity is computed within policy {first_policy!r}.")
    return Findings(run_id, len(frame), tuple(panels), tuple(boxes), tuple(notes))


def findings_from_store(store, run_id: str, model: Model | None = None,  # type: ignore[no-untyped-def]
                        condition: str | None = None) -> Findings:
    """Findings of stored exploration ``run_id`` (a ``policylab.store.Store``)."""
    info = store.info(run_id)
    frame = store.read(run_id, "outcomes")
    parameters = [str(p) for p in info.manifest.get("parameters", [])]
    outcomes = [str(o) for o in info.manifest.get("outcomes", [])]
    return findings_from_frame(frame, run_id, parameters, outcomes, model, condition)


def stored_model_path(store, run_id: str) -> Path:  # type: ignore[no-untyped-def]
    """The model file a stored exploration ran."""
    info = store.info(run_id)
    return Path(str(info.manifest["model"]["path"]))  # type: ignore[index]
