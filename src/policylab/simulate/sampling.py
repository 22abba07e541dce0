"""Sample judgement parameters over their ranges, run ``k`` from stream ``k``.

:class:`Uncertainty` is the one description of a sampled parameter (its range, prior and
stream site) that ``Model.run``, ``explore`` and ``analysis`` all sample from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from policylab.errors import UsageError
from policylab.model.ir import Constant, Distribution, Model
from policylab.simulate.streams import Streams

PARAMETER_SITE = 1 << 40  # stream sites above every equation's random call

Kind = Literal["constant", "lever"]


@dataclass(frozen=True)
class Uncertainty:
    """A parameter sampled over its range: the prior it is drawn from and where its random draws come from.

    ``nominal`` is the value the model gives it (a triangular prior peaks there; ``None``:
    the middle of the range). ``site`` is the per-run stream site Monte Carlo draws it
    from; for judgement parameters it is the one ``Model.run`` uses, so both give the same sample.
    """

    name: str
    low: float
    high: float
    distribution: Distribution = "uniform"
    nominal: float | None = None
    kind: Kind = "constant"
    site: int = PARAMETER_SITE

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Parameter values at cumulative probabilities ``u`` (the prior's inverse CDF)."""
        return from_unit(np.asarray(u, dtype=float), self.low, self.high, self.distribution, self.nominal)

    def to_unit(self, value: np.ndarray) -> np.ndarray:
        """Cumulative probabilities of parameter values (the prior's CDF; the inverse of ``from_unit``)."""
        return to_unit(np.asarray(value, dtype=float), self.low, self.high, self.distribution, self.nominal)


def judgement_parameters(model: Model) -> dict[str, Constant]:
    """Constants marked ``judgement: true`` with a range, sorted by name (stable sampling order)."""
    found = {n: v for n, v in model.of_kind(Constant).items() if v.judgement and v.range is not None}  # type: ignore[union-attr]
    return dict(sorted(found.items()))  # type: ignore[arg-type]


def judgement_uncertainties(model: Model) -> tuple[Uncertainty, ...]:
    """The judgement parameters as uncertainties, sorted by name, each at its own stream site (the elements of
    an array sampled ``shared`` at one site: each takes the same quantile of its range)."""
    found = []
    shared = {element: name for name, array in model.arrays.items() if array.shared_draw
              for element in model.elements_of(name)}
    first_site: dict[str, int] = {}
    for i, (name, const) in enumerate(judgement_parameters(model).items()):
        problem = const.sampling_problem()
        if problem is not None:  # a model built in code, or read by a reader that let it through
            raise UsageError(f"{const.where}: {name}: {problem}")
        low, high = const.range  # type: ignore[misc]
        site = first_site.setdefault(shared[name], PARAMETER_SITE + i) if name in shared else PARAMETER_SITE + i
        found.append(Uncertainty(name, float(low), float(high), const.distribution, float(const.value), "constant",
                                 site))
    return tuple(found)


def sample_judgements(model: Model, streams: Streams) -> dict[str, np.ndarray]:
    """One value per run for every judgement parameter, from that run's own stream."""
    with np.errstate(all="ignore"):  # a range too wide to sample overflows to inf; the run reports it
        return {u.name: u.from_unit(streams.draw(u.site, 0)) for u in judgement_uncertainties(model)}


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


def to_unit(x: np.ndarray, low: float, high: float, distribution: str = "uniform",
            mode: float | None = None) -> np.ndarray:
    """Cumulative probabilities of values ``x`` under a parameter's distribution (CDF; inverse of ``from_unit``)."""
    x = np.clip(x, low, high)
    if high == low:
        return np.zeros_like(x)
    if distribution == "loguniform" and low > 0:
        return (np.log(x) - np.log(low)) / (np.log(high) - np.log(low))
    if distribution == "triangular":
        peak = min(max(mode if mode is not None else (low + high) / 2, low), high)
        with np.errstate(divide="ignore", invalid="ignore"):
            left = (x - low) ** 2 / ((high - low) * (peak - low))
            right = 1 - (high - x) ** 2 / ((high - low) * (high - peak))
        return np.where(x < peak, left, right)
    return (x - low) / (high - low)


def _triangular(u: np.ndarray, low: float, mode: float, high: float) -> np.ndarray:
    if high == low:
        return np.full_like(u, low)
    cut = (mode - low) / (high - low)
    left = low + np.sqrt(u * (high - low) * (mode - low))
    right = high - np.sqrt((1 - u) * (high - low) * (high - mode))
    return np.where(u < cut, left, right)
