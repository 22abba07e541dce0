"""The check of the saved output: a NaN or infinity anywhere is named; finite values pass, even when their sum overflows."""

from __future__ import annotations

import numpy as np
import pytest

from policylab.errors import SimulationError
from policylab.simulate.engine import check_saved


@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_a_non_finite_saved_value_is_named_with_its_time_and_run(bad: float, kind: str) -> None:
    out = {name: np.ones((6, 4)) for name in ("a", "b")}
    out["b"][3, 2] = bad
    with pytest.raises(SimulationError, match=rf"b became {kind} at time 30 in run 12"):
        check_saved(out, np.arange(6) * 10.0, np.arange(10, 14))


def test_finite_values_pass_even_when_their_sum_is_not_finite() -> None:
    out = {"huge": np.array([[1.5e308, 1.5e308], [-1.5e308, 1.7e308]]), "empty": np.empty((0, 2))}
    check_saved(out, np.arange(2.0), np.arange(2))  # no error


def test_infinities_of_both_signs_whose_sum_is_nan_are_named_infinite() -> None:
    out = {"x": np.array([[np.inf, -np.inf], [0.0, 1.0]])}
    with pytest.raises(SimulationError, match="x became infinite at time 0 in run 0"):
        check_saved(out, np.arange(2.0), np.arange(2))
