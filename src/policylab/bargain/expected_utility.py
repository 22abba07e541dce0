r"""Bueno de Mesquita's expected-utility group decision model, round by round.

The model as specified by Scholz, Calbert & Smith (2011), "Unravelling Bueno de
Mesquita's group decision model", *Journal of Theoretical Politics* 23(4): 510-531
(conference version: ICAART 2011, pp. 18-30), who assembled it from Bueno de Mesquita
(1980, 1984, 1985, 1994, 1997). Notation follows theirs: actors :math:`i = 1..n` with
position :math:`x_i`, capability :math:`c_i` and salience :math:`s_i` on one issue.

What was and was not checked against the paper
----------------------------------------------
The paper's own text was reachable only in part (its abstract, introduction, the
definitions of :math:`x_i, c_i, s_i` and the caption of its Table 1, from the
ICAART 2011 PDF and a course copy). Its equations, Table 1's numbers, Table 2 and its
figures were **not** reachable in the original; the equations below follow a public
equation-by-equation extract of the paper (repository ``hamzagul07/schelling``,
``docs/papers/scholz_extract.md``, which cites the paper's equation numbers used here)
and were not checked against the printed equations. Where that extract flags an
ambiguity, the reading chosen is named in :class:`EUSettings`.

Figures compared, on the ten-actor EC example (``tests/bargain/test_ec_example.py``
has the full table): Table 2's median and mean position for rounds 1-8, as the
extract reports them (median 8.4, 9.9, 9.9, 9.9, 9.9, 7.4, 8.8, 9.6; mean 7.4, 7.5,
7.6, 7.3, 7.3, 7.4, 7.5, 7.6), and Bueno de Mesquita's forecast quoted there (9.05;
actual outcome 8.83). This implementation gives medians 9.53, 9.53, 9.53, 10, 10, 10,
10, 10 and means 7.61, 7.72, 8.30, 9.64, 9.68, 9.72, 9.74, 9.75: the median is within
0.4 of the published 9.9 in rounds 2-5 and the mean within 0.25 in rounds 1-2, but
round 1 (9.53 against 8.4) and the later means (about 9.7 against 7.3-7.6) are **not**
reproduced, under any of the readings in :class:`EUSettings`. Not compared (not
reachable): the paper's figures -- per-actor positions, risk exponents,
probabilities, octant plots -- and Bueno de Mesquita's own round-by-round values.
This is therefore an implementation of the published specification, not a
replication of the published results.

One round
---------
1. **Median.** Votes of actor :math:`i` for :math:`x_j` over :math:`x_k`,
   :math:`v_i^{jk} = c_i s_i\,(|x_i - x_k| - |x_i - x_j|)/(x_{max} - x_{min})`; the
   position with the most votes against all others is the Condorcet winner, the
   weighted median :math:`\mu` (:func:`policylab.bargain.spatial.weighted_median`).
2. **Basic utilities** (eqs. 15, 16, 22, 23, 24), with :math:`R = x_{max} - x_{min}` the
   span of the current positions and :math:`r_i` actor :math:`i`'s risk exponent:

   .. math::
      U^i_{si} &= 2 - 4\,[0.5 - 0.5\,|x_i - x_j|/R]^{r_i}            &&\text{(success)}\\
      U^i_{fi} &= 2 - 4\,[0.5 + 0.5\,|x_i - x_j|/R]^{r_i}            &&\text{(failure)}\\
      U^i_{bi} &= 2 - 4\,[0.5 - 0.25\,(|x_i - \mu| + |x_i - x_j|)/R]^{r_i} &&\text{(better)}\\
      U^i_{wi} &= 2 - 4\,[0.5 + 0.25\,(|x_i - \mu| + |x_i - x_j|)/R]^{r_i} &&\text{(worse)}\\
      U^i_{sq} &= 2 - 4\,(0.5)^{r_i}                                   &&\text{(status quo)}

3. **Probability of success** of :math:`i` against :math:`j` (eqs. 30-31): third parties
   :math:`k` (including :math:`i` and :math:`j`) weigh in with :math:`c_k s_k` times how
   much they prefer one to the other,

   .. math:: P^i = \frac{\sum_{k:\,a_k > 0} c_k s_k\, a_k}{\sum_{k=1}^n c_k s_k\, |a_k|},
             \qquad a_k = |x_k - x_j| - |x_k - x_i| .

4. **Expected utility of challenging** (eqs. 5-7), salience on [0, 1] (:math:`s/100`):

   .. math::
      E^i(U_{ij}) = s_j\,\big(P^i U^i_{si} + (1 - P^i)\,U^i_{fi}\big) + (1 - s_j)\,U^i_{si}
                    - Q\,U^i_{sq} - (1 - Q)\,\big(T\,U^i_{bi} + (1 - T)\,U^i_{wi}\big),

   with :math:`Q` the probability that the status quo holds if :math:`i` does not
   challenge, and :math:`T = 1` if :math:`j`'s expected drift to the median would help
   :math:`i` (:math:`|x_i - \mu| < |x_i - x_j|`), else 0.
5. **Risk** (eqs. 32-34, after Bueno de Mesquita 1985). A first pass with
   :math:`r_i = 1` gives each actor's security
   :math:`S_i = \sum_{j \ne i} E^j(U_{ji})` (what its adversaries expect from challenging
   it), mapped to

   .. math:: R_i = \frac{2 S_i - \max_k S_k - \min_k S_k}{\max_k S_k - \min_k S_k}
             \in [-1, 1], \qquad r_i = \frac{1 - R_i/3}{1 + R_i/3} \in [0.5, 2],

   and steps 2-4 are repeated with these :math:`r_i`; the second-pass expected
   utilities decide the round.
6. **Offers and moves** (section 6, the octants of :math:`(E^i(U_{ij}), E^j(U_{ji}))`).
   Actor :math:`i` makes an offer to :math:`j` when :math:`a = E^i(U_{ij}) > 0`, and
   with :math:`b = E^j(U_{ji})`:

   * *conflict* (:math:`b > 0`): if :math:`a > b`, :math:`i` prevails and :math:`j` is
     asked to move to :math:`x_i` (see :attr:`EUSettings.conflict`);
   * *compromise* (:math:`b \le 0 < a`, :math:`a > |b|`): :math:`j` moves part way,
     to :math:`x_j + (x_i - x_j)\,|b/a|` (eq. 35);
   * *capitulation* (:math:`b \le 0 < a \le |b|`): :math:`j` moves to :math:`x_i`;
   * when both expect to lose (:math:`a, b < 0`) nobody moves (stalemate).

   Each actor accepts one of the offers it receives (:attr:`EUSettings.offer`), all at
   once; the new positions start the next round.

Everything is vectorised over a leading ``run`` axis (inputs ``(runs, n)``); a round
costs :math:`O(\text{runs}\cdot n^3)` for the probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from policylab.bargain.spatial import compromise, weighted_median
from policylab.errors import UsageError

ConflictRule = Literal["loser_moves", "no_move"]
OfferRule = Literal["strongest", "least_move"]
MAX_ROUNDS = 1000


@dataclass(frozen=True)
class EUSettings:
    """The model's free settings and the readings chosen where the specification is ambiguous.

    Attributes
    ----------
    q : probability :math:`Q` that the status quo holds when :math:`i` does not challenge.
        Scholz et al. chose :math:`Q = 1` for the EC example (the extract reports
        "No value for Q was given. We chose Q=1.0."); with :math:`Q = 1` the
        better/worse branch and :math:`T` drop out.
    conflict : what a conflict octant does. ``"no_move"`` (default): conflict has an
        uncertain outcome and moves nobody (Bueno de Mesquita 1997, p. 244, as quoted
        in the extract); ``"loser_moves"``: the actor with the lower expected utility
        moves to the other's position (the confrontation octants as the extract reads
        the paper's figure 6). The default is the reading whose EC medians and early
        means come closest to Table 2 and that keeps blocs apart instead of collapsing
        every actor onto one position within three rounds.
    offer : which offer an actor accepts. ``"strongest"``: the offer of the actor with
        the highest expected utility of challenging it ("concede to the actor with
        highest expected utility"), ties broken by the least move; ``"least_move"``:
        the offer that moves it least ("players move the least that they can").
    risk : apply the risk exponents (second pass); ``False`` keeps :math:`r_i = 1`.
    """

    q: float = 1.0
    conflict: ConflictRule = "no_move"
    offer: OfferRule = "strongest"
    risk: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.q <= 1.0:
            raise UsageError(f"q must lie in [0, 1], got {self.q!r}")
        for name, allowed in (("conflict", ("loser_moves", "no_move")), ("offer", ("strongest", "least_move"))):
            if getattr(self, name) not in allowed:
                raise UsageError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RoundDetail:
    """Everything one round computes (arrays over runs; ``[..., i, j]`` is the dyad i -> j)."""

    median: np.ndarray          # mu, (runs,)
    span: np.ndarray            # R = x_max - x_min, (runs,)
    probability: np.ndarray     # P^i against j, (runs, n, n)
    first_pass: np.ndarray      # E^i(U_ij) with r = 1, (runs, n, n)
    security: np.ndarray        # S_i, (runs, n)
    risk: np.ndarray            # r_i, (runs, n)
    expected: np.ndarray        # E^i(U_ij) with r_i, (runs, n, n)
    offer_target: np.ndarray    # position i asks j to take, NaN where i makes no offer, (runs, n, n)
    new_position: np.ndarray    # (runs, n)


def _check(position: np.ndarray, capability: np.ndarray, salience: np.ndarray) -> tuple[np.ndarray, ...]:
    x, c, s = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (position, capability, salience))
    if not x.shape == c.shape == s.shape:
        raise UsageError(f"position, capability and salience must have the same shape (runs, actors); "
                         f"got {x.shape}, {c.shape}, {s.shape}")
    if x.shape[-1] < 2:
        raise UsageError("the expected-utility model needs at least two actors")
    if not (np.isfinite(x).all() and np.isfinite(c).all() and np.isfinite(s).all()):
        raise UsageError("positions, capabilities and saliences must be finite")
    if (c < 0).any() or (s < 0).any() or (s > 100).any():
        raise UsageError("capability must be >= 0 and salience within [0, 100]")
    return x, c, s


def win_probability(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    r""":math:`P^i` for every ordered pair: ``P[..., i, j]`` is i's probability of beating j.

    Where nobody prefers either (e.g. :math:`x_i = x_j`) the probability is 1/2.
    """
    # a[k, i, j] = |x_k - x_j| - |x_k - x_i|
    dist = np.abs(x[..., :, None] - x[..., None, :])            # [k, m] = |x_k - x_m|
    a = dist[..., :, None, :] - dist[..., :, :, None]            # [k, i, j]
    top = weight.max(axis=-1, keepdims=True)
    w = (weight / np.where(top > 0, top, 1.0))[..., :, None, None]   # scale-free: only ratios of c*s matter
    support = (w * np.maximum(a, 0.0)).sum(axis=-3)
    total = (w * np.abs(a)).sum(axis=-3)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.clip(support / np.where(total > 0, total, 1.0), 0.0, 1.0), 0.5)


def _expected_utilities(x: np.ndarray, s01: np.ndarray, mu: np.ndarray, span: np.ndarray,
                        p: np.ndarray, r: np.ndarray, q: float) -> np.ndarray:
    """E^i(U_ij) for every ordered pair (eqs. 5-7 with eqs. 15-16, 22-24)."""
    d = np.abs(x[..., :, None] - x[..., None, :]) / span[..., None, None]      # |x_i - x_j| / R
    dm = (np.abs(x - mu[..., None]) / span[..., None])[..., :, None]           # |x_i - mu| / R
    ri = r[..., :, None]
    u_s = 2 - 4 * np.maximum(0.5 - 0.5 * d, 0.0) ** ri
    u_f = 2 - 4 * (0.5 + 0.5 * d) ** ri
    u_sq = 2 - 4 * 0.5 ** ri
    s_j = s01[..., None, :]
    challenge = s_j * (p * u_s + (1 - p) * u_f) + (1 - s_j) * u_s
    if q < 1.0:
        u_b = 2 - 4 * np.maximum(0.5 - 0.25 * (dm + d), 0.0) ** ri
        u_w = 2 - 4 * (0.5 + 0.25 * (dm + d)) ** ri
        t = (dm < d).astype(float)
        no_challenge = q * u_sq + (1 - q) * (t * u_b + (1 - t) * u_w)
    else:
        no_challenge = u_sq
    return challenge - no_challenge


def _risk_exponents(first_pass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = first_pass.shape[-1]
    off = ~np.eye(n, dtype=bool)
    e = np.where(off, first_pass, 0.0)
    security = e.sum(axis=-2)                                      # S_i = sum_j E^j(U_ji): column i
    high, low = security.max(axis=-1, keepdims=True), security.min(axis=-1, keepdims=True)
    spread = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        big_r = np.where(spread > 0, (2 * security - high - low) / np.where(spread > 0, spread, 1.0), 0.0)
    return security, (1 - big_r / 3) / (1 + big_r / 3)


def _offers(x: np.ndarray, e: np.ndarray, conflict: ConflictRule) -> np.ndarray:
    """target[..., i, j]: the position i asks j to move to (NaN where i makes no offer)."""
    n = x.shape[-1]
    a = e
    b = np.swapaxes(e, -1, -2)                                    # b[i, j] = E^j(U_ji)
    xi = np.broadcast_to(x[..., :, None], a.shape)
    xj = np.broadcast_to(x[..., None, :], a.shape)
    off = ~np.eye(n, dtype=bool)
    positive = (a > 0) & off
    wins_conflict = positive & (b > 0) & (a > b)
    yields = positive & (b <= 0)
    capitulates = yields & (a <= -b)
    compromises = yields & (a > -b)
    with np.errstate(invalid="ignore", divide="ignore"):
        partial = xj + (xi - xj) * np.abs(b) / np.where(a > 0, a, 1.0)
    target = np.full(a.shape, np.nan)
    target = np.where(capitulates, xi, target)
    target = np.where(compromises, partial, target)
    if conflict == "loser_moves":
        target = np.where(wins_conflict, xi, target)
    return target


def _accept(x: np.ndarray, e: np.ndarray, target: np.ndarray, rule: OfferRule) -> np.ndarray:
    """Each actor j takes one offer from column j of ``target`` (or keeps x_j without offers)."""
    made = np.isfinite(target)
    move = np.where(made, np.abs(target - x[..., None, :]), np.inf)
    if rule == "strongest":
        strength = np.where(made, e, -np.inf)
        best = strength.max(axis=-2, keepdims=True)
        scale = np.maximum(np.abs(best), 1.0)
        eligible = made & (strength >= best - 1e-12 * scale)
    else:
        eligible = made
    least = np.where(eligible, move, np.inf).min(axis=-2, keepdims=True)
    chosen = eligible & (move <= least + 1e-12 * np.maximum(least, 1.0))
    new = np.where(chosen, target, np.inf).min(axis=-2)          # equal moves: the lower position
    return np.where(np.isfinite(new), new, x)


def _canonical(x: np.ndarray, c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-run order of the actors by (position, capability, salience), and its inverse.

    Computing in this order makes every sum over actors run in the same order whatever
    order the actors were given in, so relabelling actors cannot flip a close comparison.
    """
    order = np.lexsort((s, c, x), axis=-1)
    return order, np.argsort(order, axis=-1)


def _take(a: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * a.ndim
    shape[0] = index.shape[0]
    shape[axis] = index.shape[-1]
    return np.take_along_axis(a, index.reshape(shape), axis=axis)


def eu_round(position: np.ndarray, capability: np.ndarray, salience: np.ndarray,
             settings: EUSettings = EUSettings()) -> RoundDetail:
    """One round of the model (steps 1-6 of the module docstring) for every run at once.

    Parameters
    ----------
    position, capability, salience : arrays ``(runs, n)``; salience on 0-100.
    settings : the model's settings (:class:`EUSettings`).

    The result does not depend on the order of the actors (see :func:`_canonical`).
    """
    x0, c0, s0 = _check(position, capability, salience)
    order, back = _canonical(x0, c0, s0)
    x, c, s = (np.take_along_axis(a, order, axis=-1) for a in (x0, c0, s0))
    weight = c * s
    mu = weighted_median(x, weight)
    raw_span = x.max(axis=-1) - x.min(axis=-1)
    span = np.where(raw_span > 0, raw_span, 1.0)                 # all agree: every distance is 0 anyway
    p = win_probability(x, weight)
    s01 = s / 100.0
    ones = np.ones_like(x)
    first = _expected_utilities(x, s01, mu, span, p, ones, settings.q)
    if settings.risk:
        security, r = _risk_exponents(first)
        expected = _expected_utilities(x, s01, mu, span, p, r, settings.q)
    else:
        security, r, expected = _risk_exponents(first)[0], ones, first
    target = _offers(x, expected, settings.conflict)
    new = _accept(x, expected, target, settings.offer)
    pairs = lambda m: _take(_take(m, back, -2), back, -1)  # noqa: E731
    actors = lambda v: np.take_along_axis(v, back, axis=-1)  # noqa: E731
    return RoundDetail(mu, raw_span, pairs(p), pairs(first), actors(security), actors(r), pairs(expected),
                       pairs(target), actors(new))


def expected_utility_model(position: np.ndarray, capability: np.ndarray, salience: np.ndarray,
                           rounds: int = 10, settings: EUSettings = EUSettings(),
                           actors: list[str] | None = None) -> xr.Dataset:
    """Iterate :func:`eu_round`; return the round-by-round positions and forecasts.

    Returns
    -------
    xarray.Dataset over ``(run, round, actor)`` with ``position`` (round 0 = the input),
    ``risk`` (the :math:`r_i` used in each round; NaN at the last), and per round the
    ``median`` (weighted median, the model's forecast) and ``mean`` (capability x
    salience weighted mean) of the positions.
    """
    if not isinstance(rounds, (int, np.integer)) or not 0 <= rounds <= MAX_ROUNDS:
        raise UsageError(f"rounds must be a whole number from 0 to {MAX_ROUNDS}, got {rounds!r}")
    x, c, s = _check(position, capability, salience)
    runs, n = x.shape
    positions = np.empty((runs, rounds + 1, n))
    risk = np.full((runs, rounds + 1, n), np.nan)
    positions[:, 0] = x
    for t in range(rounds):
        detail = eu_round(positions[:, t], c, s, settings)
        risk[:, t] = detail.risk
        positions[:, t + 1] = detail.new_position
    weight = (c * s)[:, None, :]
    names = actors if actors is not None else [f"actor{i}" for i in range(n)]
    return xr.Dataset(
        {
            "position": (("run", "round", "actor"), positions),
            "risk": (("run", "round", "actor"), risk),
            "median": (("run", "round"), weighted_median(positions, np.broadcast_to(weight, positions.shape))),
            "mean": (("run", "round"), compromise(positions, np.broadcast_to(c[:, None, :], positions.shape),
                                                  np.broadcast_to(s[:, None, :], positions.shape))),
        },
        coords={"run": np.arange(runs), "round": np.arange(rounds + 1), "actor": names},
        attrs={"model": "expected utility (Bueno de Mesquita; Scholz, Calbert & Smith 2011)",
               "q": settings.q, "conflict": settings.conflict, "offer": settings.offer,
               "risk_exponents": int(settings.risk)},
    )
