"""The static bargaining models: compromise, weighted median and the Nash bargaining solution.

Every function works over arrays with a leading ``run`` axis (and the actors on the last
axis), so an ensemble of sampled inputs is forecast in one call. The three models answer
the same question -- where on the issue's position scale does the group settle? -- from
different theories of how influence works:

* the **compromise model** (capability x salience weighted mean) treats the outcome as a
  weighted average of what everyone wants: influence is exercised in proportion to power
  actually spent on the issue (Bueno de Mesquita 1994's "mean" forecast; Achen 2006,
  "Evaluating political decision-making models", in Thomson et al. (eds), *The European
  Union Decides*);
* the **weighted median** ("median voter") is the position no coalition holding more
  than half the weighted votes can beat -- by Black's (1948) theorem the Condorcet
  winner for single-peaked preferences on a line; it is also the position of round 0 of
  the expected-utility model (see :mod:`policylab.bargain.expected_utility`);
* the **symmetric Nash (1950) bargaining solution** reads the talks as two parties with
  linear-loss utilities and a disagreement point (what each gets if the talks fail).
"""

from __future__ import annotations

import numpy as np

from policylab.errors import UsageError


def _weights(capability: np.ndarray, salience: np.ndarray) -> np.ndarray:
    w = np.asarray(capability, dtype=float) * np.asarray(salience, dtype=float)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise UsageError("capability and salience must be finite and non-negative")
    return w


def compromise(position: np.ndarray, capability: np.ndarray, salience: np.ndarray) -> np.ndarray:
    r"""The capability x salience weighted mean of the positions.

    .. math:: \bar{x} = \frac{\sum_i c_i s_i x_i}{\sum_i c_i s_i}

    Parameters
    ----------
    position, capability, salience : arrays ``(..., n)`` over the actors (last axis).

    Returns
    -------
    array ``(...)``; NaN where no actor has positive capability x salience.
    """
    x = np.asarray(position, dtype=float)
    w = _normalised(_weights(capability, salience))
    total = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * x).sum(axis=-1) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, np.clip(mean, x.min(axis=-1), x.max(axis=-1)), np.nan)


def _normalised(w: np.ndarray) -> np.ndarray:
    """Weights divided by their largest (per run), so tiny or huge weights lose no precision."""
    top = w.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(top > 0, w / np.where(top > 0, top, 1.0), 0.0)


def weighted_median(position: np.ndarray, weight: np.ndarray) -> np.ndarray:
    r"""The weighted median: the minimiser of :math:`\sum_i w_i |x_i - m|`.

    With cumulative weights :math:`C(x) = \sum_{x_i \le x} w_i` and total :math:`W`, the
    minimisers form the interval from the smallest position with :math:`C(x) \ge W/2` to
    the largest position with :math:`\sum_{x_i \ge x} w_i \ge W/2`; this returns its
    midpoint, so an exact half-and-half split gives the point between the two blocs (a
    convention: any point of the interval wins no fewer pairwise votes). Actors with zero
    weight never change the answer. Ties within ``1e-12 * W`` count as exact.

    Parameters
    ----------
    position, weight : arrays ``(..., n)``; weights non-negative.

    Returns
    -------
    array ``(...)``; NaN where the total weight is zero.
    """
    x = np.asarray(position, dtype=float)
    w = _normalised(np.asarray(weight, dtype=float))
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    ws = np.take_along_axis(w, order, axis=-1)
    total = ws.sum(axis=-1, keepdims=True)
    half = total / 2
    tol = 1e-12 * total
    below = np.cumsum(ws, axis=-1)                      # C(x_(k)), ties in x included in order
    above = total - below + ws                          # sum of weights at or after x_(k)
    # the first sorted index whose cumulative weight reaches half; the last whose tail does
    lower_i = np.argmax(below >= half - tol, axis=-1)
    upper_i = xs.shape[-1] - 1 - np.argmax((above >= half - tol)[..., ::-1], axis=-1)
    lower = np.take_along_axis(xs, lower_i[..., None], axis=-1)[..., 0]
    upper = np.take_along_axis(xs, upper_i[..., None], axis=-1)[..., 0]
    return np.where(total[..., 0] > 0, (lower + upper) / 2, np.nan)


def median_voter(position: np.ndarray, capability: np.ndarray, salience: np.ndarray) -> np.ndarray:
    """The weighted median with weights capability x salience (see :func:`weighted_median`)."""
    return weighted_median(position, _weights(capability, salience))


def nash_bargaining(ideal_a: np.ndarray, ideal_b: np.ndarray, disagreement_a: np.ndarray,
                    disagreement_b: np.ndarray, width: float) -> np.ndarray:
    r"""The symmetric Nash bargaining solution of two parties on a position scale.

    Each party has a linear-loss utility over outcomes :math:`x` on a scale of width
    :math:`W`: :math:`u_k(x) = 1 - |x - \hat{x}_k| / W` (1 at its ideal :math:`\hat{x}_k`,
    0 a full scale away). If the talks fail, party :math:`k` gets its disagreement utility
    :math:`d_k`. The solution maximises the Nash product (Nash 1950)

    .. math:: x^* = \arg\max_x \, (u_a(x) - d_a)(u_b(x) - d_b)
              \quad\text{s.t. } u_a(x) \ge d_a,\ u_b(x) \ge d_b .

    Only outcomes between the ideals are Pareto-efficient; there, with
    :math:`\hat{x}_L \le \hat{x}_H` the lower and higher ideal, the two gains are linear in
    :math:`x` with slopes :math:`\pm 1/W`, so the product peaks where the gains are equal:

    .. math:: x^* = \frac{\hat{x}_L + \hat{x}_H}{2} + \frac{W}{2}(d_H - d_L),

    clipped to :math:`[\hat{x}_L, \hat{x}_H]`: the party with the better outside option
    pulls the settlement toward itself by half the difference, in scale units. With
    :math:`d_a, d_b \le 1/2` (the stakeholder format enforces it) a deal that leaves both
    at least their disagreement utility always exists.

    Parameters
    ----------
    ideal_a, ideal_b : arrays ``(runs,)`` -- the two parties' ideal positions.
    disagreement_a, disagreement_b : arrays ``(runs,)`` -- their disagreement utilities.
    width : the scale's width :math:`W`.
    """
    if not width > 0:
        raise UsageError(f"the scale width must be positive, got {width!r}")
    xa, xb = np.asarray(ideal_a, dtype=float), np.asarray(ideal_b, dtype=float)
    da, db = np.asarray(disagreement_a, dtype=float), np.asarray(disagreement_b, dtype=float)
    a_is_low = xa <= xb
    x_low, x_high = np.where(a_is_low, xa, xb), np.where(a_is_low, xb, xa)
    d_low, d_high = np.where(a_is_low, da, db), np.where(a_is_low, db, da)
    unclipped = (x_low + x_high) / 2 + width * (d_high - d_low) / 2
    # the feasible set: both parties at least at their disagreement utility
    feasible_low = np.maximum(x_low, x_high - width * (1 - d_high))
    feasible_high = np.minimum(x_high, x_low + width * (1 - d_low))
    if np.any(feasible_low > feasible_high + 1e-9 * width):
        raise UsageError("no outcome gives both parties their disagreement utility; "
                         "disagreement utilities must not exceed 0.5")
    return np.clip(unclipped, feasible_low, feasible_high)
