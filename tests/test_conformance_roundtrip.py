"""Issue 19's round trips: every Vensim suite case that passes gives the same results after .mdl -> .yaml -> .xmile."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import policylab
from policylab.conformance import find_tests, round_trip, run_round_trip, run_test, same_results
from policylab.expr.ast import Num
from policylab.model.ir import Auxiliary

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT.parent / "shared" / "conformance" / "vensim"
CASES = [p.relative_to(SUITE).as_posix() for p in find_tests(SUITE)] if (SUITE / "TESTS.txt").exists() else []
KNOWN: dict[str, str] = {
    "allocate_by_priority/test_allocate_by_priority.mdl": r"characters long \(limit 20000\)",
    "vector_select/test_vector_select.mdl": r"characters long \(limit 20000\)",
}
"""Cases whose round trip still fails, with the message that says why (docs/vensim.md, "Round trips")."""


@pytest.mark.parametrize("case", CASES)
def test_a_passing_suite_case_gives_the_same_results_after_mdl_yaml_xmile(case: str) -> None:
    path = SUITE / case
    if not run_test(path).passed:
        pytest.skip("the case does not pass conformance (tests/test_conformance_vensim.py says why)")
    outcome = run_round_trip(path)
    if case in KNOWN:
        assert not outcome.passed and re.search(KNOWN[case], outcome.message), outcome.message
    else:
        assert outcome.passed, outcome.message


def test_every_known_failure_is_a_suite_case() -> None:
    assert set(KNOWN) <= set(CASES) or not CASES


def test_a_changed_equation_is_found_as_a_difference() -> None:
    model = policylab.load(ROOT / "tests" / "conformance" / "delays" / "model.mdl")
    ir = round_trip(model.ir)
    name, var = next((n, v) for n, v in ir.variables.items() if isinstance(v, Auxiliary))
    changed = dataclasses.replace(ir, variables={**ir.variables, name: dataclasses.replace(var, equation=Num(7.25))})
    assert same_results(model, policylab.Model(ir)) is None
    assert re.match(rf"{re.escape(name)} at time 0: .* before, 7.25 after", same_results(model, policylab.Model(changed)))
