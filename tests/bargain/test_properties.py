"""Properties every forecast must have, whatever the inputs (hypothesis)."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policylab.bargain import compromise, expected_utility_model, median_voter, nash_bargaining
from policylab.bargain.expected_utility import EUSettings

LOW, HIGH = 0.0, 100.0
positions = st.floats(LOW, HIGH, allow_nan=False)
capabilities = st.floats(0.0, 50.0, allow_nan=False)
saliences = st.floats(0.0, 100.0, allow_nan=False)
actor = st.tuples(positions, capabilities, saliences)
# mostly round numbers, so ties and identical actors -- the hard cases -- come up often
grid_actor = st.tuples(st.sampled_from([0.0, 25.0, 50.0, 75.0, 100.0]), st.sampled_from([0.0, 1.0, 2.0]),
                       st.sampled_from([0.0, 50.0, 100.0]))
actors = st.lists(st.one_of(actor, grid_actor), min_size=2, max_size=7)
readings = st.sampled_from([EUSettings(), EUSettings(conflict="loser_moves"), EUSettings(offer="least_move"),
                            EUSettings(q=0.5), EUSettings(risk=False)])


def arrays(rows):
    x, c, s = (np.array([[r[k] for r in rows]], dtype=float) for k in range(3))
    return x, c, s


def has_weight(rows):
    return any(c * s > 0 for _, c, s in rows)


@settings(max_examples=80, deadline=None)
@given(actors, readings)
@example([(0.0, 0.0, 0.0), (1.5, 1.0, 5e-324)], EUSettings())  # a subnormal weight once pushed the mean to 2.0
def test_forecasts_stay_within_the_scale_and_the_span_of_positions(rows, reading):
    x, c, s = arrays(rows)
    lo, hi = x.min(), x.max()
    if has_weight(rows):
        for value in (compromise(x, c, s)[0], median_voter(x, c, s)[0]):
            assert lo - 1e-9 <= value <= hi + 1e-9
    path = expected_utility_model(x, c, s, rounds=3, settings=reading)
    assert (path["position"].values >= lo - 1e-9).all() and (path["position"].values <= hi + 1e-9).all()
    median = path["median"].values
    assert np.all(np.isnan(median) | ((median >= LOW) & (median <= HIGH)))


@settings(max_examples=60, deadline=None)
@given(positions, positions, st.floats(-1.0, 0.5), st.floats(-1.0, 0.5))
def test_nash_stays_between_the_ideals(xa, xb, da, db):
    value = nash_bargaining(np.array([xa]), np.array([xb]), np.array([da]), np.array([db]), HIGH - LOW)[0]
    assert min(xa, xb) - 1e-9 <= value <= max(xa, xb) + 1e-9


@settings(max_examples=60, deadline=None)
@given(actors, st.randoms(use_true_random=False), readings)
def test_permuting_actors_changes_nothing(rows, rng, reading):
    perm = list(range(len(rows)))
    rng.shuffle(perm)
    x, c, s = arrays(rows)
    xp, cp, sp = (a[:, perm] for a in (x, c, s))
    if has_weight(rows):
        np.testing.assert_allclose(compromise(xp, cp, sp), compromise(x, c, s), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(median_voter(xp, cp, sp), median_voter(x, c, s), atol=1e-9)
    path = expected_utility_model(x, c, s, rounds=3, settings=reading)
    permuted = expected_utility_model(xp, cp, sp, rounds=3, settings=reading)
    np.testing.assert_allclose(permuted["position"].values, path["position"].values[..., perm], atol=1e-9)
    np.testing.assert_allclose(permuted["median"].values, path["median"].values, atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(actors, positions, st.one_of(st.tuples(st.just(0.0), saliences), st.tuples(capabilities, st.just(0.0))))
def test_an_actor_without_capability_or_salience_changes_no_compromise_or_median(rows, where, silent):
    if not has_weight(rows):
        return
    x, c, s = arrays(rows)
    x2, c2, s2 = arrays(rows + [(where, *silent)])
    np.testing.assert_allclose(compromise(x2, c2, s2), compromise(x, c, s), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(median_voter(x2, c2, s2), median_voter(x, c, s), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 7).flatmap(  # runs of one actor count, drawn as such: filtering for it tripped the health check
    lambda n: st.lists(st.lists(st.one_of(actor, grid_actor), min_size=n, max_size=n), min_size=2, max_size=4)))
def test_a_vectorised_ensemble_equals_its_runs_one_by_one(ensemble):
    x, c, s = (np.concatenate([arrays(rows)[k] for rows in ensemble]) for k in range(3))
    together = expected_utility_model(x, c, s, rounds=2)
    for k, rows in enumerate(ensemble):
        alone = expected_utility_model(*arrays(rows), rounds=2)
        np.testing.assert_array_equal(together["position"].values[k], alone["position"].values[0])
