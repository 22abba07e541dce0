"""The static models against answers computed by hand."""

import numpy as np
import pytest

from policylab.bargain import compromise, median_voter, nash_bargaining, weighted_median
from policylab.errors import UsageError

EC_CAPABILITY = [0.08, 0.08, 0.03, 0.16, 0.16, 0.16, 0.16, 0.05, 0.05, 0.08]
EC_POSITION = [7, 4, 4, 4, 10, 10, 10, 7, 4, 7]
EC_SALIENCE = [40, 80, 20, 80, 60, 60, 90, 10, 100, 70]


def test_compromise_is_the_capability_salience_weighted_mean():
    """x = (0, 60, 100), c = (1, 2, 1), s = (50, 50, 100): weights 50, 100, 100 (sum 250),
    so the mean is (0*50 + 60*100 + 100*100) / 250 = 16000 / 250 = 64."""
    assert compromise([[0, 60, 100]], [[1, 2, 1]], [[50, 50, 100]]) == pytest.approx([64.0])


def test_compromise_of_the_ec_example():
    """Weights c*s by position: at 4: 6.4 + 0.6 + 12.8 + 5.0 = 24.8; at 7: 3.2 + 0.5 + 5.6 = 9.3;
    at 10: 9.6 + 9.6 + 14.4 = 33.6; total 67.7. Mean (4*24.8 + 7*9.3 + 10*33.6) / 67.7
    = 500.3 / 67.7 = 7.38996."""
    assert compromise([EC_POSITION], [EC_CAPABILITY], [EC_SALIENCE]) == pytest.approx([500.3 / 67.7])


def test_median_is_where_cumulative_weight_passes_half():
    """Same example: weights 50 (at 0), 100 (at 60), 100 (at 100); half of 250 is 125; the
    cumulative weight is 50 at 0 and 150 at 60, so the median is 60."""
    assert median_voter([[0, 60, 100]], [[1, 2, 1]], [[50, 50, 100]]) == pytest.approx([60.0])


def test_median_of_the_ec_example_is_seven():
    """Half of 67.7 is 33.85; cumulative weight 24.8 at 4, 34.1 at 7: the median is 7."""
    assert median_voter([EC_POSITION], [EC_CAPABILITY], [EC_SALIENCE]) == pytest.approx([7.0])


def test_an_exact_half_split_gives_the_midpoint_between_the_blocs():
    assert weighted_median([[0.0, 10.0]], [[1.0, 1.0]]) == pytest.approx([5.0])
    assert weighted_median([[0.0, 10.0, 20.0]], [[1.0, 0.0, 1.0]]) == pytest.approx([10.0])


def test_models_work_row_by_row_over_runs():
    x = np.array([[0, 60, 100], [0, 60, 100]])
    c = np.array([[1, 2, 1], [1, 0, 1]])
    s = np.array([[50, 50, 100], [50, 50, 100]])
    assert compromise(x, c, s) == pytest.approx([64.0, 10000 / 150])
    assert median_voter(x, c, s) == pytest.approx([60.0, 100.0])


def test_zero_total_weight_gives_nan_not_a_number_on_the_scale():
    assert np.isnan(compromise([[1, 2]], [[0, 0]], [[50, 50]])[0])
    assert np.isnan(median_voter([[1, 2]], [[1, 1]], [[0, 0]])[0])


def test_negative_weights_are_refused():
    with pytest.raises(UsageError, match="non-negative"):
        compromise([[1, 2]], [[-1, 1]], [[50, 50]])


def test_nash_gives_equal_gains_over_the_disagreement_point():
    """Ideals 20 (GoI) and 80 (US) on a 0-100 scale, disagreement utilities 0.2 and 0.4.
    x* = (20 + 80)/2 + 100*(0.4 - 0.2)/2 = 50 + 10 = 60. Check: u_US(60) = 1 - 20/100 = 0.8,
    gain 0.4; u_GoI(60) = 1 - 40/100 = 0.6, gain 0.4: equal, and the product 0.16 exceeds
    0.41*0.39 = 0.1599 at 61 and 0.39*0.41 at 59."""
    assert nash_bargaining([80.0], [20.0], [0.4], [0.2], 100.0) == pytest.approx([60.0])
    assert nash_bargaining([20.0], [80.0], [0.2], [0.4], 100.0) == pytest.approx([60.0])


def test_nash_with_equal_outside_options_splits_the_difference():
    assert nash_bargaining([70.0], [30.0], [0.1], [0.1], 100.0) == pytest.approx([50.0])


def test_nash_is_clipped_to_the_pareto_set_between_the_ideals():
    """Ideals 40 and 60, disagreement 0.5 and -0.5: unclipped 50 + 100*(1.0)/2 = 100, so the
    party with the far better outside option gets its ideal, 60 (gains 0.5 and 1.3; the
    product 0.65 beats 0.49 * 1.31 = 0.642 at 59)."""
    assert nash_bargaining([60.0], [40.0], [0.5], [-0.5], 100.0) == pytest.approx([60.0])


def test_nash_refuses_a_zero_width_scale():
    with pytest.raises(UsageError, match="width"):
        nash_bargaining([1.0], [2.0], [0.0], [0.0], 0.0)
