"""Fan-chart bands: the fast paths (quantiles without NaN, vectorised rounding) give what the plain ones give."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from policylab.report.fan import BANDS, _rounded, fan, fans, thinned_index


def _reference_rounding(values) -> list[float | None]:  # type: ignore[no-untyped-def]
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in values]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(width=64), min_size=1, max_size=40))
def test_rounding_is_exactly_six_significant_digits_as_python_formats_them(values: list[float]) -> None:
    assert [repr(v) for v in _rounded(np.array(values))] == [repr(v) for v in _reference_rounding(values)]


def test_rounding_near_ties_powers_of_ten_and_extremes() -> None:
    values = np.array([2.5, -2.5, 123456.5, 1234565.0, 1.234565, 0.0001234565, 999999.5, 9999995.0, 1e-5, 1e22, 1e23,
                       1.5e-17, 1e300, -0.0, 0.0, 0.1 + 0.2, 5e-324, np.nan, np.inf, -np.inf])
    rng = np.random.default_rng(3)
    values = np.concatenate([values, *[rng.normal(size=2000) * 10.0**e for e in range(-25, 26, 5)]])
    assert [repr(v) for v in _rounded(values)] == [repr(v) for v in _reference_rounding(values)]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 12), st.floats(0, 0.4), st.integers(0, 2**32 - 1))
def test_bands_equal_nanquantile_with_or_without_missing_runs(runs: int, times: int, holes: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(size=(runs, times))
    values[rng.random(values.shape) < holes] = np.nan
    ds = xr.Dataset({"x": (("run", "time"), values)}, coords={"run": np.arange(runs), "time": np.arange(times) * 1.0,
                                                               "p": ("run", rng.random(runs))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bands = fan(ds, "x").bands
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        expected = np.nanquantile(values, [0.1, 0.5, 0.9], axis=0) if runs > 1 else np.repeat(values, 3, 0)
    for key, row in zip(BANDS, expected):
        assert bands[key] == _reference_rounding(row), key


def test_the_fans_of_several_variables_at_once_are_each_variables_own_fan() -> None:
    rng = np.random.default_rng(7)
    values = {name: rng.lognormal(size=(25, 40)) * 10.0 ** k for k, name in enumerate(["a", "b", "c"])}
    values["b"][3, 5:9] = np.nan  # holes in one variable only
    ds = xr.Dataset({k: (("run", "time"), v) for k, v in values.items()}, coords={"time": np.arange(40.0)})
    index = thinned_index(40, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        together = fans(values, ["c", "a", "b"], index)
        for name in values:
            assert together[name] == fan(ds, name, index)
    assert list(together) == ["c", "a", "b"] and fans(values, []) == {}
