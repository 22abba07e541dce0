"""The condition parser takes time linear in its input: thousands of spaces are refused at once."""

from __future__ import annotations

import pytest

from policylab.analysis.evaluate import parse_condition
from policylab.errors import UsageError


@pytest.mark.timeout(20)
@pytest.mark.parametrize("spaces", [3_000, 200_000])
def test_a_condition_padded_with_spaces_is_refused_without_backtracking(spaces: int) -> None:
    with pytest.raises(UsageError, match="cannot read the condition"):
        parse_condition("peak_infected<" + " " * spaces + "!")


@pytest.mark.timeout(20)
def test_a_long_valid_condition_still_parses() -> None:
    condition = parse_condition("peak infected" + " " * 100_000 + ">=" + " " * 100_000 + "3000")
    assert (condition.outcome, condition.op, condition.value) == ("peak infected", ">=", 3000.0)


@pytest.mark.parametrize("text", ["a<=", "1a>3", "a<=2 3", "a<<3", ">=3", ""])
def test_malformed_conditions_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_condition(text)
