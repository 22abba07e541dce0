"""The Poisson inverse CDF agrees with SciPy's, draw for draw, over a wide range of means."""

import numpy as np
import pytest
from scipy import stats

from policylab.expr.builtins import find_builtin


@pytest.mark.parametrize("scale", [1e-3, 0.05, 0.5, 3, 30, 300, 3000])
def test_poisson_quantile_equals_scipy_ppf(scale):
    rng = np.random.default_rng(int(scale * 1000) + 1)
    u = rng.random(50_000)
    mean = rng.random(50_000) * scale + 1e-9
    ours = find_builtin("poisson").impl(u, mean)
    np.testing.assert_array_equal(ours, stats.poisson.ppf(u, mean))


def test_a_zero_or_negative_mean_gives_no_events():
    u = np.array([0.1, 0.5, 0.999999])
    assert find_builtin("poisson").impl(u, 0.0).tolist() == [0.0, 0.0, 0.0]
    assert find_builtin("poisson").impl(u, -3.0).tolist() == [0.0, 0.0, 0.0]
