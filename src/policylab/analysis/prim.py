"""PRIM: the Patient Rule Induction Method for scenario discovery.

Given the parameter sets of an ensemble (``x``, runs × parameters) and which runs are
cases of interest (``y``, e.g. the dialogue fails), PRIM finds a box — an interval per
parameter — where the cases of interest are dense. Implemented from Friedman & Fisher
(1999), "Bump hunting in high-dimensional data":

* **Peeling.** Start from the box holding every run. At each step, consider removing the
  share ``alpha`` of the box's runs with the lowest, or the highest, values of one
  parameter (2 k candidates); take the one that raises the box's density (share of cases
  of interest) most per run removed. Stop when the box would hold fewer than ``min_mass``
  of all runs. Each step's box is a point of the *peeling trajectory*: coverage (share of
  all cases of interest inside) against density falls and rises as the box shrinks; the
  analyst picks the trade-off (here: the widest box whose density reaches ``threshold``).
* **Pasting.** Peeling is greedy, so the chosen box is then grown back: along each
  restricted side, add the ``paste_alpha`` share of runs just outside; keep the candidate
  that raises density most; stop when none does.
* **Pruning** (optional, ``max_p``). Restrictions whose quasi-p-value (below) exceeds
  ``max_p`` are dropped one at a time, the least significant first, as an analyst does
  when inspecting the box (Bryant & Lempert 2010).
* **Covering.** For more than one box, remove the runs of the boxes found and search again.

Quasi-p-values (Bryant & Lempert 2010, as the EMA Workbench documents them) say whether
each restriction matters: for a restricted parameter, the one-sided binomial probability
of seeing at least the box's count of cases among its runs if the density were that of
the box *without* that restriction. A large value marks a restriction that chance could
produce; drop it.

References
----------
Friedman, J. H. & Fisher, N. I. (1999). Bump hunting in high-dimensional data.
Statistics and Computing 9, 123-143.
Bryant, B. P. & Lempert, R. J. (2010). Thinking inside the box: a participatory,
computer-assisted approach to scenario discovery. Technological Forecasting and Social
Change 77(1), 34-49.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from policylab.errors import UsageError


@dataclass(frozen=True)
class Box:
    """A box and its statistics: ``limits`` per restricted parameter, inclusive at both ends."""

    limits: dict[str, tuple[float, float]]
    coverage: float
    density: float
    mass: float
    cases: int
    runs: int
    quasi_p: dict[str, float]

    def contains(self, x: pd.DataFrame) -> np.ndarray:
        """Which rows of ``x`` fall in the box."""
        inside = np.ones(len(x), dtype=bool)
        for name, (low, high) in self.limits.items():
            inside &= (x[name].to_numpy() >= low) & (x[name].to_numpy() <= high)
        return inside

    def describe(self) -> str:
        """One line per restriction, e.g. ``0.12 <= gain_rate <= 0.4 (p=0.001)``."""
        return "\n".join(f"{low:.4g} <= {name} <= {high:.4g}  (quasi-p {self.quasi_p[name]:.2g})"
                         for name, (low, high) in self.limits.items())


@dataclass(frozen=True)
class BoxSearch:
    """One PRIM search: the peeling trajectory, the chosen step and the pasted box."""

    trajectory: pd.DataFrame
    """One row per peeling step: coverage, density, mass, restricted (count of restricted parameters)."""
    chosen: int
    box: Box
    """The chosen step's box after pasting."""
    pruned: Box | None = None
    """``box`` without the restrictions whose quasi-p-value exceeds ``max_p`` (when asked)."""
    warnings: tuple[str, ...] = ()
    """Why the box is weak, when it is (density not reached, restrictions chance could produce, few cases)."""


@dataclass
class _Data:
    x: np.ndarray  # (n, k)
    y: np.ndarray  # (n,) bool
    names: list[str]
    total_cases: int  # cases of interest in the whole data (for coverage)
    total_runs: int  # runs in the whole data (for mass)
    low: np.ndarray  # the data's own minima: a limit there is no restriction
    high: np.ndarray

    def inside(self, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
        return np.all((self.x >= lows) & (self.x <= highs), axis=1)


def prim(
    x: pd.DataFrame,
    y: Sequence[bool] | np.ndarray,
    *,
    alpha: float = 0.05,
    paste_alpha: float = 0.05,
    min_mass: float = 0.05,
    threshold: float = 0.8,
    boxes: int = 1,
    max_p: float | None = None,
) -> list[BoxSearch]:
    """Find up to ``boxes`` boxes of high density of ``y`` in the parameter space ``x``.

    Parameters
    ----------
    x : one numeric column per parameter, one row per run.
    y : True for the runs that are cases of interest.
    alpha : share of the box's runs removed by one peel (Friedman & Fisher suggest 0.05-0.1).
    paste_alpha : share of the box's runs added by one paste.
    min_mass : smallest box, as a share of all runs.
    threshold : the chosen box is the widest on the peeling trajectory whose density
        reaches this; if none does, the densest.
    boxes : at most this many boxes, by covering: later searches exclude earlier boxes' runs
        and stop at the first box whose density does not reach ``threshold``.
    max_p : if given, each search also reports ``pruned``: the pasted box with its
        restrictions dropped one by one, largest quasi-p-value first, while one exceeds
        ``max_p`` (restrictions chance could produce). Dropping raises coverage and may
        lower density: both boxes are reported, the analyst chooses.
    """
    if max_p is not None and not 0 < max_p <= 1:
        raise UsageError(f"PRIM max_p must be in (0, 1] (or None), got {max_p}")
    data = _prepare(x, y, alpha, paste_alpha, min_mass, threshold, boxes)
    found: list[BoxSearch] = []
    remaining = np.ones(len(data.y), dtype=bool)
    for _ in range(boxes):
        part = _Data(data.x[remaining], data.y[remaining], data.names, data.total_cases, data.total_runs,
                     data.low, data.high)
        if part.y.sum() == 0 or len(part.y) < 2:
            break
        search = _search(part, alpha, paste_alpha, min_mass, threshold, max_p)
        if found and search.box.density < threshold:
            break  # covering goes on only while boxes reach the threshold
        found.append(search)
        remaining &= ~search.box.contains(pd.DataFrame(data.x, columns=data.names))
    return found


def _prepare(x: pd.DataFrame, y: Sequence[bool] | np.ndarray, alpha: float, paste_alpha: float, min_mass: float,
             threshold: float, boxes: int) -> _Data:
    for name, value, low, high in (("alpha", alpha, 0, 0.5), ("paste_alpha", paste_alpha, 0, 0.5),
                                   ("min_mass", min_mass, 0, 1), ("threshold", threshold, 0, 1)):
        if not low < value <= high:
            raise UsageError(f"PRIM {name} must be in ({low}, {high}], got {value}")
    if boxes < 1:
        raise UsageError(f"PRIM needs boxes >= 1, got {boxes}")
    non_numeric = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    if non_numeric:
        raise UsageError(f"PRIM works on numeric parameters; {', '.join(map(str, non_numeric))} are not numeric")
    matrix = x.to_numpy(dtype=float)
    flags = np.asarray(y)
    if flags.dtype != bool:
        raise UsageError("PRIM needs y as booleans (True for a case of interest)")
    if matrix.shape[0] != flags.shape[0]:
        raise UsageError(f"x has {matrix.shape[0]} rows but y has {flags.shape[0]} values")
    if not np.isfinite(matrix).all():
        raise UsageError("x contains NaN or infinite values")
    if flags.sum() == 0:
        raise UsageError("no run is a case of interest, so there is no box to find; loosen the condition")
    return _Data(matrix, flags, [str(c) for c in x.columns], int(flags.sum()), len(flags),
                 matrix.min(axis=0), matrix.max(axis=0))


def _search(data: _Data, alpha: float, paste_alpha: float, min_mass: float, threshold: float,
            max_p: float | None) -> BoxSearch:
    lows, highs = data.low.copy(), data.high.copy()
    steps = [(lows.copy(), highs.copy())]
    while True:
        peeled = _peel(data, lows, highs, alpha, min_mass)
        if peeled is None:
            break
        lows, highs = peeled
        steps.append((lows.copy(), highs.copy()))
    rows = [_stats(data, lo, hi) for lo, hi in steps]
    trajectory = pd.DataFrame(
        {"coverage": [r[0] for r in rows], "density": [r[1] for r in rows], "mass": [r[2] for r in rows],
         "restricted": [int(np.sum((lo > data.low) | (hi < data.high))) for lo, hi in steps]})
    meets = np.flatnonzero(trajectory["density"].to_numpy() >= threshold - 1e-12)
    chosen = int(meets[0]) if meets.size else int(np.argmax(trajectory["density"].to_numpy()))
    lows, highs = _paste(data, *steps[chosen], paste_alpha)
    pruned = _box(data, *_prune(data, lows, highs, max_p)) if max_p is not None else None
    box = _box(data, lows, highs)
    return BoxSearch(trajectory, chosen, box, pruned, weaknesses(box, threshold, max_p or SIGNIFICANCE))


SIGNIFICANCE = 0.05
MANY_RESTRICTIONS = 5
FEW_CASES = 10


def weaknesses(box: Box, threshold: float, significance: float = SIGNIFICANCE) -> tuple[str, ...]:
    """What makes a box weak evidence, one sentence each (none for a box an analyst can rely on)."""
    notes = []
    if box.density < threshold - 1e-12:
        notes.append(f"density {box.density:.2f} is below the {threshold:.2f} asked: no box on the peeling trajectory "
                     "reaches it, so the densest is shown; the cases of interest do not concentrate in a box of "
                     "these parameters")
    weak = sorted((n for n, p in box.quasi_p.items() if p > significance), key=lambda n: -box.quasi_p[n])
    if weak:
        listed = ", ".join(f"{n} ({box.quasi_p[n]:.2g})" for n in weak[:4]) + (", …" if len(weak) > 4 else "")
        notes.append(f"{len(weak)} of {len(box.limits)} restrictions have a quasi-p-value above {significance:g}, so "
                     f"chance alone could produce them: {listed}; the pruned box leaves them out")
    if len(box.limits) > MANY_RESTRICTIONS:
        notes.append(f"the box restricts {len(box.limits)} parameters; boxes of more than {MANY_RESTRICTIONS} rarely "
                     "describe a scenario (Bryant & Lempert 2010): raise --min-mass or --alpha, or restrict --params")
    if box.cases < FEW_CASES:
        notes.append(f"only {box.cases} cases of interest fall in the box: too few to characterise it; run more")
    return tuple(notes)


def _prune(data: _Data, lows: np.ndarray, highs: np.ndarray, max_p: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop, one at a time, the restriction with the largest quasi-p-value above ``max_p``."""
    lows, highs = lows.copy(), highs.copy()
    while True:
        box = _box(data, lows, highs)
        worst = max(box.quasi_p, key=box.quasi_p.__getitem__, default=None)
        if worst is None or box.quasi_p[worst] <= max_p or len(box.quasi_p) == 1:
            return lows, highs
        j = data.names.index(worst)
        lows[j], highs[j] = data.low[j], data.high[j]


def _stats(data: _Data, lows: np.ndarray, highs: np.ndarray) -> tuple[float, float, float, int, int]:
    inside = data.inside(lows, highs)
    runs = int(inside.sum())
    cases = int(data.y[inside].sum())
    density = cases / runs if runs else 0.0
    return cases / data.total_cases, density, runs / data.total_runs, cases, runs


def _peel(data: _Data, lows: np.ndarray, highs: np.ndarray, alpha: float, min_mass: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The best single peel, or None when every peel would leave less than ``min_mass``."""
    inside = data.inside(lows, highs)
    n_box = int(inside.sum())
    x, y = data.x[inside], data.y[inside]
    mean = y.mean()
    if mean >= 1.0:
        return None
    count = max(1, int(np.floor(alpha * n_box)))
    best, best_gain = None, -np.inf
    for j in range(x.shape[1]):
        values = x[:, j]
        ordered = np.partition(values, (count - 1, n_box - count))
        for side, cut in (("low", ordered[count - 1]), ("high", ordered[n_box - count])):
            keep = values > cut if side == "low" else values < cut
            kept = int(keep.sum())
            if kept == 0 or kept == n_box or kept < min_mass * data.total_runs:
                continue
            gain = (y[keep].mean() - mean) / (n_box - kept)
            if gain > best_gain:
                new_lows, new_highs = lows.copy(), highs.copy()
                if side == "low":
                    new_lows[j] = values[keep].min()
                else:
                    new_highs[j] = values[keep].max()
                best, best_gain = (new_lows, new_highs), gain
    return best


def _paste(data: _Data, lows: np.ndarray, highs: np.ndarray, paste_alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Grow the box back while some paste raises its density (Friedman & Fisher, section 5)."""
    lows, highs = lows.copy(), highs.copy()
    while True:
        inside = data.inside(lows, highs)
        current = data.y[inside].mean()
        count = max(1, int(np.floor(paste_alpha * inside.sum())))
        best, best_density = None, current
        for j in range(data.x.shape[1]):
            others = np.ones(len(data.y), dtype=bool)
            for i in range(data.x.shape[1]):
                if i != j:
                    others &= (data.x[:, i] >= lows[i]) & (data.x[:, i] <= highs[i])
            for side in ("low", "high"):
                outside = others & ((data.x[:, j] < lows[j]) if side == "low" else (data.x[:, j] > highs[j]))
                if not outside.any():
                    continue
                candidates = np.sort(data.x[outside, j])
                edge = candidates[-min(count, len(candidates))] if side == "low" else candidates[min(count, len(candidates)) - 1]
                new_lows, new_highs = lows.copy(), highs.copy()
                if side == "low":
                    new_lows[j] = edge
                else:
                    new_highs[j] = edge
                density = data.y[data.inside(new_lows, new_highs)].mean()
                if density > best_density + 1e-12:
                    best, best_density = (new_lows, new_highs), density
        if best is None:
            return lows, highs
        lows, highs = best


def _box(data: _Data, lows: np.ndarray, highs: np.ndarray) -> Box:
    coverage, density, mass, cases, runs = _stats(data, lows, highs)
    restricted = [j for j in range(len(data.names)) if lows[j] > data.low[j] or highs[j] < data.high[j]]
    quasi_p = {}
    for j in restricted:
        relaxed_lows, relaxed_highs = lows.copy(), highs.copy()
        relaxed_lows[j], relaxed_highs[j] = -np.inf, np.inf
        base = data.y[data.inside(relaxed_lows, relaxed_highs)].mean()
        quasi_p[data.names[j]] = float(binom.sf(cases - 1, runs, base)) if runs else 1.0
    limits = {data.names[j]: (float(lows[j]), float(highs[j])) for j in restricted}
    return Box(limits, coverage, density, mass, cases, runs, quasi_p)
