"""Per-run stream keys are NumPy's SeedSequence spawn keys, computed for all runs at once."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from policylab.simulate.streams import run_keys, uniform


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**140), runs=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=8))
def test_run_keys_equal_seedsequence_spawn_keys_bit_for_bit(seed, runs):
    expected = [np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(1, np.uint64)[0] for k in runs]
    assert run_keys(seed, np.array(runs)).tolist() == [int(x) for x in expected]


def test_uniform_draws_lie_strictly_inside_the_unit_interval_and_look_uniform():
    u = uniform(run_keys(3, np.arange(200_000)), site=5, counter=17)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002


def test_a_runs_draw_does_not_depend_on_the_other_runs_in_the_ensemble():
    alone = uniform(run_keys(9, np.array([41])), site=2, counter=3)
    among = uniform(run_keys(9, np.arange(100)), site=2, counter=3)
    assert alone[0] == among[41]
