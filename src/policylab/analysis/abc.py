"""Approximate Bayesian computation: a posterior sample of judgement parameters.

Both samplers work in the unit cube of ``Space`` (the priors' CDFs), where the prior is
uniform, and score a parameter set by the distance ``sqrt(loss)`` of
``calibration.loss``. Each batch of proposals is one vectorised ensemble.

* ``abc_rejection`` (Pritchard et al. 1999): draw from the prior, keep the share
  ``accept`` with the smallest distance (or those within ``epsilon``).
* ``abc_smc`` (Toni et al. 2009; Beaumont et al. 2009): a sequence of populations with
  shrinking tolerance; generation ``t`` resamples the previous population by weight,
  perturbs each particle with a Gaussian kernel of twice the population's weighted
  variance (per parameter, truncated to the cube), keeps proposals within
  ``epsilon_t`` and re-weights them by ``prior / sum_j w_j K(theta | theta_j)``. The
  tolerance is the ``quantile`` of the previous generation's distances (Del Moral et al.
  2012's adaptive schedule).

The result is a table of parameter sets with weights; ``write_posterior`` saves it as
CSV or Parquet, and ``read_parameter_sets`` / ``resample`` turn it back into per-run
arrays, so an ensemble (``compare``, ``explore``) can sample the posterior instead of the
prior ranges.

References
----------
Pritchard, J. K., Seielstad, M. T., Perez-Lezaun, A. & Feldman, M. W. (1999). Population
growth of human Y chromosomes. Molecular Biology and Evolution 16(12), 1791-1798.
Toni, T., Welch, D., Strelkowa, N., Ipsen, A. & Stumpf, M. P. H. (2009). Approximate
Bayesian computation scheme for parameter inference and model selection in dynamical
systems. J. R. Soc. Interface 6, 187-202.
Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. & Robert, C. P. (2009). Adaptive approximate
Bayesian computation. Biometrika 96(4), 983-990.
Del Moral, P., Doucet, A. & Jasra, A. (2012). An adaptive sequential Monte Carlo method for
approximate Bayesian computation. Statistics and Computing 22, 1009-1020.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from policylab.analysis.calibration import Problem, loss, predict
from policylab.analysis.evaluate import Progress
from policylab.errors import DataError, UsageError

WEIGHT, DISTANCE = "weight", "distance"


@dataclass(frozen=True)
class Posterior:
    """Accepted parameter sets (columns: parameters, ``weight``, ``distance``) and how they were found."""

    sample: pd.DataFrame
    epsilon: float
    simulations: int
    method: str
    history: pd.DataFrame
    """One row per generation: epsilon, accepted, simulations, acceptance (rate)."""

    def mean(self) -> dict[str, float]:
        """Weighted posterior means."""
        w = self.sample[WEIGHT].to_numpy()
        return {c: float(np.average(self.sample[c], weights=w)) for c in self.sample.columns if c not in (WEIGHT, DISTANCE)}

    def std(self) -> dict[str, float]:
        """Weighted posterior standard deviations."""
        w = self.sample[WEIGHT].to_numpy()
        means = self.mean()
        return {c: float(np.sqrt(np.average((self.sample[c] - means[c]) ** 2, weights=w))) for c in means}


def _distance(problem: Problem, unit: np.ndarray, first_run: int, progress: Progress | None = None) -> np.ndarray:
    return np.sqrt(loss(problem, predict(problem, unit, first_run=first_run, progress=progress)))


def _frame(problem: Problem, unit: np.ndarray, weights: np.ndarray, distances: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(problem.space.values(unit))
    frame[WEIGHT] = weights / weights.sum()
    frame[DISTANCE] = distances
    return frame


def abc_rejection(
    problem: Problem,
    *,
    samples: int = 10_000,
    accept: float = 0.01,
    epsilon: float | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Posterior:
    """Rejection ABC: ``samples`` prior draws, the best ``accept`` share kept (or all within ``epsilon``)."""
    if samples < 2:
        raise UsageError(f"ABC rejection needs at least 2 samples, got {samples}")
    if epsilon is None and not 0 < accept <= 1:
        raise UsageError(f"accept must be a share in (0, 1], got {accept}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xABC]))
    unit = rng.random((samples, len(problem.space)))
    distances = _distance(problem, unit, 0, progress)
    if epsilon is None:
        keep = np.argsort(distances, kind="stable")[: max(1, int(round(accept * samples)))]
        epsilon = float(distances[keep].max())
    else:
        keep = np.flatnonzero(distances <= epsilon)
        if keep.size == 0:
            raise UsageError(f"no prior draw is within epsilon {epsilon:g} (smallest distance {distances.min():.3g}); "
                             "raise epsilon or use accept")
    history = pd.DataFrame([{"epsilon": epsilon, "accepted": keep.size, "simulations": samples,
                             "acceptance": keep.size / samples}])
    sample = _frame(problem, unit[keep], np.ones(keep.size), distances[keep])
    return Posterior(sample, float(epsilon), samples, "rejection", history)


def abc_smc(
    problem: Problem,
    *,
    particles: int = 500,
    generations: int = 6,
    quantile: float = 0.5,
    max_simulations: int = 200_000,
    min_acceptance: float = 0.02,
    seed: int = 0,
    progress: Progress | None = None,
) -> Posterior:
    """ABC-SMC with an adaptive tolerance schedule; stops after ``generations``, at the
    simulation budget, or when a generation's acceptance rate falls below ``min_acceptance``."""
    if particles < 10:
        raise UsageError(f"ABC-SMC needs at least 10 particles, got {particles}")
    if not 0 < quantile < 1:
        raise UsageError(f"quantile must be in (0, 1), got {quantile}")
    if generations < 1:
        raise UsageError(f"ABC-SMC needs at least 1 generation, got {generations}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5AC]))
    k = len(problem.space)
    # generation 0: rejection from the prior, keeping the best `particles` of particles/quantile draws
    draws = int(np.ceil(particles / quantile))
    unit = rng.random((draws, k))
    distances = _distance(problem, unit, 0)
    simulations = draws
    best = np.argsort(distances, kind="stable")[:particles]
    pop, dist, weights = unit[best], distances[best], np.full(particles, 1.0 / particles)
    epsilon = float(dist.max())
    history = [{"epsilon": epsilon, "accepted": particles, "simulations": draws, "acceptance": particles / draws}]
    if progress is not None:
        progress(1, generations)
    for generation in range(1, generations):
        epsilon = float(np.quantile(dist, quantile))
        sigma = np.sqrt(2 * np.average((pop - np.average(pop, axis=0, weights=weights)) ** 2, axis=0, weights=weights))
        sigma = np.maximum(sigma, 1e-9)
        new_pop, new_dist, spent = _smc_generation(problem, rng, pop, weights, sigma, epsilon, particles,
                                                   max_simulations - simulations, simulations)
        simulations += spent
        if len(new_pop) < particles:
            history.append({"epsilon": epsilon, "accepted": len(new_pop), "simulations": spent,
                            "acceptance": len(new_pop) / max(spent, 1)})
            break  # out of budget: keep the last complete population
        new_weights = 1.0 / _kernel_mixture(new_pop, pop, weights, sigma)
        pop, dist, weights = new_pop, new_dist, new_weights / new_weights.sum()
        rate = particles / spent
        history.append({"epsilon": epsilon, "accepted": particles, "simulations": spent, "acceptance": rate})
        if progress is not None:
            progress(generation + 1, generations)
        if rate < min_acceptance:
            break
    complete = [h for h in history if h["accepted"] == particles]
    return Posterior(_frame(problem, pop, weights, dist), float(complete[-1]["epsilon"]), simulations, "smc",
                     pd.DataFrame(history))


def _smc_generation(problem: Problem, rng: np.random.Generator, pop: np.ndarray, weights: np.ndarray, sigma: np.ndarray,
                    epsilon: float, particles: int, budget: int, used: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Propose in batches until ``particles`` are within ``epsilon`` or the budget is spent."""
    accepted_u: list[np.ndarray] = []
    accepted_d: list[np.ndarray] = []
    spent = 0
    batch = particles
    while sum(len(a) for a in accepted_u) < particles and spent < budget:
        size = min(batch, budget - spent)
        proposals = _perturb(rng, pop, weights, sigma, size)
        distances = _distance(problem, proposals, used + spent)  # fresh run indices per batch
        spent += size
        keep = distances <= epsilon
        accepted_u.append(proposals[keep])
        accepted_d.append(distances[keep])
        rate = max(keep.mean(), 1.0 / size)
        missing = particles - sum(len(a) for a in accepted_u)
        batch = int(min(max(particles, 1.2 * missing / rate), 20 * particles))
    unit = np.concatenate(accepted_u)[:particles]
    return unit, np.concatenate(accepted_d)[:particles], spent


def _perturb(rng: np.random.Generator, pop: np.ndarray, weights: np.ndarray, sigma: np.ndarray, size: int) -> np.ndarray:
    """Resample by weight and move each particle by a Gaussian truncated to the unit cube."""
    parents = pop[rng.choice(len(pop), size=size, p=weights)]
    low = norm.cdf(-parents / sigma)
    high = norm.cdf((1 - parents) / sigma)
    u = low + (high - low) * rng.random(parents.shape)
    moved = parents + sigma * norm.ppf(np.clip(u, 1e-15, 1 - 1e-15))
    return np.clip(moved, 0.0, 1.0)


def _kernel_mixture(points: np.ndarray, centres: np.ndarray, weights: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """sum_j w_j K(point | centre_j) with K the cube-truncated diagonal Gaussian of ``_perturb``."""
    mass = np.prod(norm.cdf((1 - centres) / sigma) - norm.cdf(-centres / sigma), axis=1)  # (m,)
    total = np.zeros(len(points))
    for start in range(0, len(points), 256):
        diff = (points[start:start + 256, None, :] - centres[None, :, :]) / sigma
        density = np.exp(-0.5 * np.sum(diff**2, axis=2)) / np.prod(sigma * np.sqrt(2 * np.pi))
        total[start:start + 256] = density @ (weights / mass)
    return total


def write_posterior(posterior: Posterior, path: str | Path) -> Path:
    """Save the parameter sets as ``.csv`` or ``.parquet`` (columns: parameters, weight, distance)."""
    path = Path(path)
    if path.suffix == ".csv":
        posterior.sample.to_csv(path, index=False, float_format="%.10g")
    elif path.suffix == ".parquet":
        try:
            posterior.sample.to_parquet(path, index=False)
        except ImportError as error:
            raise UsageError("writing Parquet needs pyarrow (pip install pyarrow); or write .csv") from error
    else:
        raise UsageError(f"write the posterior as .csv or .parquet, not {path.suffix or 'no suffix'!r}")
    return path


def read_parameter_sets(path: str | Path, names: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Parameter sets from a CSV/Parquet file (e.g. a posterior): arrays for ``names`` and weights.

    Columns other than ``names``, ``weight`` and ``distance`` are an error (a parameter the
    model does not have would otherwise be silently dropped); a missing ``weight`` column
    means equal weights.
    """
    path = Path(path)
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as error:
        raise DataError(f"{path}: cannot read parameter sets: {error}") from error
    extra = [c for c in frame.columns if c not in (*names, WEIGHT, DISTANCE)]
    if extra:
        raise DataError(f"{path}: columns {', '.join(extra)} are not judgement parameters of the model "
                        f"(which has {', '.join(names)})")
    present = [n for n in names if n in frame.columns]
    if not present or frame.empty:
        raise DataError(f"{path}: no parameter sets (expected columns among {', '.join(names)})")
    weights = frame[WEIGHT].to_numpy(dtype=float) if WEIGHT in frame else np.ones(len(frame))
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise DataError(f"{path}: the weight column must hold non-negative numbers, not all zero")
    values = {n: frame[n].to_numpy(dtype=float) for n in present}
    if not all(np.isfinite(v).all() for v in values.values()):
        raise DataError(f"{path}: parameter values must be finite numbers")
    return values, weights / weights.sum()


def resample(values: dict[str, np.ndarray], weights: np.ndarray, runs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``runs`` parameter sets drawn by weight (with replacement), reproducible from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E7]))
    pick = rng.choice(len(weights), size=runs, p=weights)
    return {n: v[pick] for n, v in values.items()}
