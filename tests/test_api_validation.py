"""Model.run validates its arguments and says what it accepts."""

from pathlib import Path

import pytest

import policylab
from policylab.errors import UsageError

SIR = Path(__file__).resolve().parents[1] / "models" / "sir" / "model.yaml"


@pytest.fixture(scope="module")
def model():
    return policylab.load(SIR)


@pytest.mark.parametrize("kwargs, message", [
    ({"runs": True}, "runs must be a whole number"),
    ({"runs": 0}, "runs must be a whole number"),
    ({"seed": -1}, "seed must be a non-negative"),
    ({"first_run": -1}, "first_run must be"),
    ({"first_run": 1.5}, "first_run must be"),
    ({"first_run": 2**40}, "first_run must be"),
    ({"variables": "infected"}, "variables must be a list"),
    ({"params": {"contact_rate": "x"}}, "must be a number"),
    ({"params": {"contact_rate": [1.0, 2.0]}}, "exactly 1"),
])
def test_bad_arguments_raise_a_usage_error_that_names_the_argument(model, kwargs, message):
    with pytest.raises(UsageError, match=message):
        model.run(**kwargs)
