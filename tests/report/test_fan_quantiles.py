"""The fan's quantiles of sorted columns are numpy.quantile's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from policylab.report.fan import sorted_quantiles


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 199, 200, 1000])
def test_sorted_quantiles_are_numpys_to_the_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    values = np.sort(rng.lognormal(size=(n, 40)) * rng.choice([-1.0, 1.0], size=(n, 40)), axis=0)
    values[:, 0] = 3.0  # a constant column
    levels = [0.0, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 1.0, 1 / 3, 0.8]
    expected = np.quantile(values, levels, axis=0)
    assert np.array_equal(sorted_quantiles(values, levels), expected)
