"""What a calibration found and how far to trust it: the best point, errors, identifiability, warnings.

The command line and the report print this; the numbers are computed here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from policylab.analysis.abc import Posterior
from policylab.analysis.calibration import Fit, Identifiability, Problem, fit_table, identifiability, loss, predict, warnings_for


@dataclass(frozen=True)
class CalibrationSummary:
    """A fit (differential evolution) or a posterior (ABC), read the same way."""

    problem: Problem
    fit: Fit | None
    posterior: Posterior
    """For a fit: the best point as a one-row sample."""
    best_unit: np.ndarray
    table: pd.DataFrame
    """Observed against fitted at the best point."""
    rms_best: float
    rms_file: float
    """The RMS error at the model file's values, for comparison."""
    series_rms: dict[str, float]
    identifiability: Identifiability
    warnings: list[str]

    @property
    def heading(self) -> str:
        """``best fit`` only for a converged fit."""
        if self.fit is None:
            return "best particle"
        return "best fit" if self.fit.converged else "best point found (not converged)"


def summarise(problem: Problem, fit: Fit | None, posterior: Posterior | None) -> CalibrationSummary:
    """Everything the outputs show about one calibration (one extra ensemble of 2 k runs for identifiability)."""
    if posterior is None:
        if fit is None:
            raise ValueError("summarise needs a fit or a posterior")
        posterior = Posterior(pd.DataFrame({**{k: [v] for k, v in fit.parameters.items()}, "weight": [1.0],
                                            "distance": [fit.rms_error]}), fit.rms_error, fit.evaluations, "de",
                              pd.DataFrame())
    best = posterior.sample.iloc[int(np.argmin(posterior.sample["distance"].to_numpy()))]
    best_unit = problem.space.unit({n: np.array([best[n]]) for n in problem.space.names})[0]
    table = fit_table(problem, best_unit)
    nominal = problem.space.unit({u.name: np.array([u.nominal]) for u in problem.space.uncertainties})
    found = identifiability(problem, best_unit)
    return CalibrationSummary(
        problem, fit, posterior, best_unit, table,
        float(np.sqrt(loss(problem, predict(problem, best_unit[None, :]))[0])),
        float(np.sqrt(loss(problem, predict(problem, nominal))[0])),
        series_errors(problem, table), found, warnings_for(problem, fit, found))


def series_errors(problem: Problem, table: pd.DataFrame) -> dict[str, float]:
    """Per series: the RMS error at the best point in units of its scale."""
    found = {}
    for t in problem.targets:
        rows = table[table["series"] == t.name]
        found[t.name] = float(np.sqrt(np.average(((rows["fitted"] - rows["observed"]) / t.scale) ** 2,
                                                 weights=rows["weight"])))
    return found


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Quantiles of a weighted sample (the ABC posterior)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return [float(values[order][min(int(np.searchsorted(cumulative, q)), len(values) - 1)]) for q in qs]
