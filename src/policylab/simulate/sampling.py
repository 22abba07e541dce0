"""Sample judgement parameters over their ranges, run ``k`` from stream ``k``."""

from __future__ import annotations

import numpy as np

from policylab.errors import UsageError
from policylab.model.ir import Constant, Model
from policylab.simulate.streams import Streams

PARAMETER_SITE = 1 << 40  # stream sites above every equation's random call


def judgement_parameters(model: Model) -> dict[str, Constant]:
    """Constants marked ``judgement: true`` with a range, sorted by name (stable sampling order)."""
    found = {n: v for n, v in model.of_kind(Constant).items() if v.judgement and v.range is not None}  # type: ignore[union-attr]
    return dict(sorted(found.items()))  # type: ignore[arg-type]


def sample_judgements(model: Model, streams: Streams) -> dict[str, np.ndarray]:
    """One value per run for every judgement parameter, from that run's own stream."""
    samples: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):  # a range too wide to sample overflows to inf; the run reports it
        for i, (name, const) in enumerate(judgement_parameters(model).items()):
            problem = const.sampling_problem()
            if problem is not None:  # a model built in code, or read by a reader that let it through
                raise UsageError(f"{const.where}: {name}: {problem}")
            low, high = const.range  # type: ignore[misc]
            u = streams.draw(PARAMETER_SITE + i, 0)
            samples[name] = from_unit(u, low, high, const.distribution, const.value)
    return samples


def from_unit(u: np.ndarray, low: float, high: float, distribution: str = "uniform",
              mode: float | None = None) -> np.ndarray:
    """Map uniform values in (0, 1) to a parameter's distribution over [low, high] (inverse CDF).

    ``loguniform`` needs ``low > 0`` (else uniform); ``triangular`` peaks at ``mode``, clipped
    to the range (the middle when not given).
    """
    if distribution == "loguniform" and low > 0:
        return np.exp(np.log(low) + (np.log(high) - np.log(low)) * u)
    if distribution == "triangular":
        peak = min(max(mode if mode is not None else (low + high) / 2, low), high)
        return _triangular(u, low, peak, high)
    return low + (high - low) * u


def _triangular(u: np.ndarray, low: float, mode: float, high: float) -> np.ndarray:
    if high == low:
        return np.full_like(u, low)
    cut = (mode - low) / (high - low)
    left = low + np.sqrt(u * (high - low) * (mode - low))
    right = high - np.sqrt((1 - u) * (high - low) * (high - mode))
    return np.where(u < cut, left, right)
