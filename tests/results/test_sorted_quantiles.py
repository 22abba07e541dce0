"""Quantiles of sorted values (fan bands, table cells, the bimodality test) are numpy.quantile's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from policylab.results.intervals import sorted_quantiles

LEVELS = [0.0, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 1.0, 1 / 3, 0.8]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 199, 200, 1000])
def test_sorted_quantiles_are_numpys_to_the_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    values = np.sort(rng.lognormal(size=(n, 40)) * rng.choice([-1.0, 1.0], size=(n, 40)), axis=0)
    values[:, 0] = 3.0  # a constant column
    expected = np.quantile(values, LEVELS, axis=0)
    assert np.array_equal(sorted_quantiles(values, LEVELS), expected)


@pytest.mark.parametrize("n", [1, 2, 5, 100, 200, 201])
def test_sorted_quantiles_of_one_column_are_numpys_to_the_bit(n: int) -> None:
    values = np.sort(np.random.default_rng(n).normal(size=n) * 1e3)
    assert np.array_equal(sorted_quantiles(values, LEVELS), np.quantile(values, LEVELS))
