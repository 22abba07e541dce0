"""The one interval convention of every table and chart: a median with a central band over the runs.

By default the band holds the central 80 % of runs (10th to 90th percentile). Shares of
runs (threshold shares, probability outcomes) carry a Wilson score interval of the same
coverage: how far the share could move with another ensemble of the same size. Every
output names the convention with ``Interval.label`` (or ``share_label``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from policylab.errors import UsageError

DEFAULT_COVERAGE = 0.8


@dataclass(frozen=True)
class Interval:
    """A central band of ``coverage`` of the runs around the median."""

    coverage: float = DEFAULT_COVERAGE

    def __post_init__(self) -> None:
        if not 0.0 < self.coverage < 1.0:
            raise UsageError(f"an interval covers between 1 and 99 % of runs, not {self.coverage:.0%}")

    @classmethod
    def percent(cls, value: int) -> Interval:
        """From the command line's ``--interval`` (a whole percentage, e.g. 80 for 10–90 %)."""
        if not 1 <= value <= 99:
            raise UsageError(f"--interval is the share of runs the band holds, 1 to 99 (e.g. 80 for 10–90 %), not {value}")
        return cls(value / 100)

    @property
    def low_q(self) -> float:
        return round((1 - self.coverage) / 2, 6)

    @property
    def high_q(self) -> float:
        return round(1 - self.low_q, 6)

    @property
    def quantiles(self) -> tuple[float, float, float]:
        return (self.low_q, 0.5, self.high_q)

    @property
    def band(self) -> str:
        """``10–90 %``."""
        return f"{_pct(self.low_q)}–{_pct(self.high_q)} %"

    @property
    def label(self) -> str:
        """How tables and charts name the convention."""
        return f"median [{self.band} of runs]"

    @property
    def share_label(self) -> str:
        """How tables name the interval of a share of runs."""
        return f"share of runs [{_pct(self.coverage)} % Wilson interval]"

    def summarise(self, values: np.ndarray) -> dict[str, float]:
        """Median, low and high of the finite values (NaN when none is finite)."""
        finite = values[np.isfinite(values)]
        if not finite.size:
            return {"median": math.nan, "low": math.nan, "high": math.nan}
        low, mid, high = sorted_quantiles(np.sort(finite), list(self.quantiles))
        return {"median": float(mid), "low": float(low), "high": float(high)}

    def wilson(self, successes: int, n: int) -> tuple[float, float]:
        """Wilson score interval of a share ``successes / n`` at this coverage."""
        if n <= 0:
            return (math.nan, math.nan)
        z = NormalDist().inv_cdf(0.5 + self.coverage / 2)
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return (max(0.0, centre - half), min(1.0, centre + half))


def _pct(q: float) -> str:
    return f"{q * 100:.3g}"


@dataclass(frozen=True)
class Modes:
    """Two groups of runs either side of ``split`` (a bimodal outcome): their shares."""

    split: float
    below: float
    above: float


def bimodal(values: np.ndarray, min_share: float = 0.1, dip: float = 0.5) -> Modes | None:
    """The two modes of ``values`` when a clear valley parts them, else None.

    A Gaussian kernel density with Silverman's bandwidth (which over-smooths several
    modes, so it errs towards "one mode") is read on a grid; the runs are bimodal when
    some valley of it is below ``dip`` times the lower of the highest peaks either side
    and each side holds at least ``min_share`` of the runs. The split is that valley.
    Positive values must also be bimodal on a log scale: the sparse tail of a skewed
    ensemble (exponential growth) leaves valleys on a linear scale only.
    """
    finite = values[np.isfinite(values)]
    modes = _valley(finite, min_share, dip)
    if modes is None or finite.size == 0 or finite.min() <= 0:
        return modes
    return modes if _valley(np.log(finite), min_share, dip) is not None else None


def _valley(finite: np.ndarray, min_share: float, dip: float, grid: int = 512) -> Modes | None:
    n = finite.size
    if n < 100:  # fewer runs leave gaps in any long tail
        return None
    lo, hi = float(finite.min()), float(finite.max())
    q25, q75 = sorted_quantiles(np.sort(finite), [0.25, 0.75])
    scale = min(float(finite.std()), float(q75 - q25) / 1.34) or float(finite.std())
    if hi <= lo or scale <= 0:
        return None
    bandwidth = 0.9 * scale * n ** -0.2
    counts, edges = np.histogram(finite, bins=grid, range=(lo, hi))
    step = edges[1] - edges[0]
    half = min(grid, int(math.ceil(4 * bandwidth / step)))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / bandwidth) ** 2)
    density = np.convolve(counts, kernel)[half:half + grid]
    mass = np.cumsum(counts) / n
    left_peak = np.maximum.accumulate(density)
    right_peak = np.maximum.accumulate(density[::-1])[::-1]
    ratio = density / np.maximum(np.minimum(left_peak, right_peak), 1e-300)
    eligible = (mass >= min_share) & (mass <= 1 - min_share) & (ratio < dip)
    if not eligible.any():
        return None
    i = int(np.flatnonzero(eligible)[np.argmin(ratio[eligible])])
    return Modes(float(edges[i + 1]), float(mass[i]), float(1 - mass[i]))


def sorted_quantiles(ordered: np.ndarray, levels: list[float]) -> np.ndarray:
    """``numpy.quantile(ordered, levels, axis=0)`` (linear method) for columns already sorted without NaN.

    The same arithmetic as NumPy's (its virtual index, its two-sided interpolation), so the same
    bits, without the partition NumPy would do again on data that is already in order.
    """
    n = ordered.shape[0]
    rows = []
    for q in levels:
        virtual = (n - 1) * q  # NumPy's virtual index for the linear method
        below = min(max(int(np.floor(virtual)), 0), n - 1)
        above = min(below + 1, n - 1) if virtual >= 0 else 0
        gamma = virtual - np.floor(virtual)
        a, b = ordered[below], ordered[above]
        step = b - a
        rows.append(b - step * (1.0 - gamma) if gamma >= 0.5 else a + step * gamma)
    return np.array(rows)
