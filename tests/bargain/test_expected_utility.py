r"""One full round of the expected-utility model on three actors, worked by hand.

Actors (position x, capability c, salience s):  A = (0, 2, 100), B = (50, 1, 50),
C = (100, 1, 100). Q = 1 (so T and the better/worse utilities drop out).

Step 1 -- median and span. Weights c*s: A 200, B 50, C 100 (total 350, half 175). The
cumulative weight is already 200 >= 175 at x = 0 and the tail at 50 is 150 < 175, so
mu = 0. R = x_max - x_min = 100, so |x_i - x_j|/R is 0.5 for A-B and B-C and 1 for A-C.

Step 2 -- probabilities, P^i = sum_{k: a_k>0} c_k s_k a_k / sum_k c_k s_k |a_k| with
a_k = |x_k - x_j| - |x_k - x_i|:
  P^A vs B: a = (50, -50, -50)   -> 200*50 / (200*50 + 50*50 + 100*50) = 10000/17500 = 4/7
  P^A vs C: a = (100, 0, -100)   -> 20000 / (20000 + 0 + 10000)            = 2/3
  P^B vs C: a = (50, 50, -50)    -> (10000 + 2500) / (12500 + 5000)       = 5/7
  and P^B vs A = 3/7, P^C vs A = 1/3, P^C vs B = 2/7.

Step 3 -- first pass, r = 1. Then U_s = 2 - 4(0.5 - 0.5d) = 2d, U_f = -2d, U_sq = 0, so
E^i(U_ij) = s_j(P U_s + (1-P) U_f) + (1 - s_j) U_s - U_sq = 2d [1 - 2 s_j (1 - P)]:
  E^A(U_AB) = 1 * (1 - 2*0.5*3/7) =  4/7      E^A(U_AC) = 2 * (1 - 2*1*1/3) =  2/3
  E^B(U_BA) = 1 * (1 - 2*1*4/7)   = -1/7      E^B(U_BC) = 1 * (1 - 2*1*2/7) =  3/7
  E^C(U_CA) = 2 * (1 - 2*1*2/3)   = -2/3      E^C(U_CB) = 1 * (1 - 2*0.5*5/7) = 2/7

Step 4 -- security S_i = sum_{j != i} E^j(U_ji) (what adversaries expect from challenging i):
  S_A = -1/7 - 2/3 = -17/21,  S_B = 4/7 + 2/7 = 18/21,  S_C = 2/3 + 3/7 = 23/21.
R_i = (2 S_i - max - min)/(max - min) with max - min = 40/21: R_A = -1, R_C = 1,
R_B = (36 - 23 + 17)/40 = 0.75. r_i = (1 - R_i/3)/(1 + R_i/3): r_A = (4/3)/(2/3) = 2,
r_C = (2/3)/(4/3) = 0.5, r_B = 0.75/1.25 = 0.6.

Step 5 -- second pass with r_i (U = 2 - 4[.]^r):
  A (r = 2):   d = 0.5: U_s = 2 - 4(0.25)^2 = 1.75, U_f = 2 - 4(0.75)^2 = -0.25; d = 1: U_s = 2,
               U_f = -2; U_sq = 2 - 4(0.5)^2 = 1.
    E^A(U_AB) = 0.5(4/7*1.75 + 3/7*(-0.25)) + 0.5*1.75 - 1 = 0.446429 + 0.875 - 1 = 0.321429 (= 9/28)
    E^A(U_AC) = 1*(2/3*2 + 1/3*(-2)) - 1 = -1/3
  B (r = 0.6): 0.25^0.6 = 0.435275, 0.75^0.6 = 0.841466, 0.5^0.6 = 0.659754, so U_s = 0.258899,
               U_f = -1.365865, U_sq = -0.639016 (d = 0.5 against both).
    E^B(U_BA) = 3/7*0.258899 + 4/7*(-1.365865) + 0.639016 = -0.030522
    E^B(U_BC) = 5/7*0.258899 + 2/7*(-1.365865) + 0.639016 =  0.433696
  C (r = 0.5): d = 1: U_s = 2, U_f = -2; d = 0.5: U_s = 2 - 4*0.5 = 0, U_f = 2 - 4*0.866025
               = -1.464102; U_sq = 2 - 4*0.707107 = -0.828427.
    E^C(U_CA) = (1/3*2 + 2/3*(-2)) + 0.828427 = 0.161760
    E^C(U_CB) = 0.5(2/7*0 + 5/7*(-1.464102)) + 0.5*0 + 0.828427 = 0.305534

Step 6 -- offers, from the octant of (a, b) = (E^i(U_ij), E^j(U_ji)):
  A-B: (0.321429, -0.030522): A's gain exceeds B's loss -> compromise: B moves to
       50 + (0 - 50)*0.030522/0.321429 = 50 - 4.7479 = 45.2521.
  C-A: (0.161760, -1/3): C gains less than A loses -> A capitulates: A moves to 100.
  B-C: (0.433696, 0.305534): both expect to win -> conflict. Under "no_move" (the default)
       nobody moves; under "loser_moves" C (the lower expected utility) moves to 50.
Each actor has one offer at most, so the new positions are A = 100, B = 45.2521, C = 100
(default) or C = 50 (loser_moves).
"""

import numpy as np
import pytest

from policylab.bargain import EUSettings, eu_round, expected_utility_model
from policylab.errors import UsageError

X = np.array([[0.0, 50.0, 100.0]])
C = np.array([[2.0, 1.0, 1.0]])
S = np.array([[100.0, 50.0, 100.0]])


@pytest.fixture(scope="module")
def round_one():
    return eu_round(X, C, S)


def test_median_and_span(round_one):
    assert round_one.median == pytest.approx([0.0])
    assert round_one.span == pytest.approx([100.0])


def test_probabilities_of_success(round_one):
    expected = [[0.5, 4 / 7, 2 / 3], [3 / 7, 0.5, 5 / 7], [1 / 3, 2 / 7, 0.5]]
    assert round_one.probability[0] == pytest.approx(np.array(expected))


def test_first_pass_expected_utilities(round_one):
    expected = [[0, 4 / 7, 2 / 3], [-1 / 7, 0, 3 / 7], [-2 / 3, 2 / 7, 0]]
    assert round_one.first_pass[0] == pytest.approx(np.array(expected), abs=1e-12)


def test_security_and_risk_exponents(round_one):
    assert round_one.security[0] == pytest.approx([-17 / 21, 18 / 21, 23 / 21])
    assert round_one.risk[0] == pytest.approx([2.0, 0.6, 0.5])


def test_second_pass_expected_utilities(round_one):
    e = round_one.expected[0]
    assert e[0, 1] == pytest.approx(9 / 28)
    assert e[0, 2] == pytest.approx(-1 / 3)
    assert e[1, 0] == pytest.approx(-0.030522, abs=2e-6)
    assert e[1, 2] == pytest.approx(0.433696, abs=2e-6)
    assert e[2, 0] == pytest.approx(0.161760, abs=2e-6)
    assert e[2, 1] == pytest.approx(0.305534, abs=2e-6)


def test_offers_and_new_positions(round_one):
    target = round_one.offer_target[0]
    assert target[0, 1] == pytest.approx(45.2521, abs=1e-3)     # A's compromise offer to B
    assert target[2, 0] == pytest.approx(100.0)                  # A capitulates to C
    assert np.isnan(target[1, 2]) and np.isnan(target[2, 1])     # conflict moves nobody by default
    assert round_one.new_position[0] == pytest.approx([100.0, 45.2521, 100.0], abs=1e-3)


def test_under_loser_moves_the_weaker_side_of_a_conflict_gives_way():
    detail = eu_round(X, C, S, EUSettings(conflict="loser_moves"))
    assert detail.new_position[0] == pytest.approx([100.0, 45.2521, 50.0], abs=1e-3)


def test_without_risk_exponents_the_first_pass_decides():
    """With r = 1 for all: A-B (4/7, -1/7): compromise, B -> 50 - 50*(1/7)/(4/7) = 37.5;
    C-A (-2/3, 2/3): A's 2/3 equals C's loss, A is not ahead (a <= |b|), C capitulates to 0;
    B-C (3/7, 2/7): conflict, nobody moves."""
    detail = eu_round(X, C, S, EUSettings(risk=False))
    assert detail.new_position[0] == pytest.approx([0.0, 37.5, 0.0])


def test_identical_positions_never_move():
    detail = eu_round(np.full((1, 3), 40.0), C, S)
    assert detail.new_position[0] == pytest.approx([40.0, 40.0, 40.0])


def test_rounds_record_the_path_starting_from_the_input():
    path = expected_utility_model(X, C, S, rounds=2)
    assert path["position"].values[0, 0] == pytest.approx(X[0])
    assert path["position"].values[0, 1] == pytest.approx([100.0, 45.2521, 100.0], abs=1e-3)
    assert path["median"].values[0, 0] == pytest.approx(0.0)
    assert path.sizes == {"run": 1, "round": 3, "actor": 3}


def test_bad_settings_and_shapes_are_refused():
    with pytest.raises(UsageError, match="q must"):
        EUSettings(q=1.5)
    with pytest.raises(UsageError, match="same shape"):
        eu_round(X, C[:, :2], S)
    with pytest.raises(UsageError, match="salience"):
        eu_round(X, C, S * 2)
