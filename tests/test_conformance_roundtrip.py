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
SLOW = {"allocate_by_priority/test_allocate_by_priority.mdl", "vector_select/test_vector_select.mdl"}
"""Cases whose vector functions expand to equations of tens of thousands of characters (4.7 MB of YAML for
allocate_by_priority): a minute or more each, so they run with ``-m slow``."""


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES])
def test_a_passing_suite_case_gives_the_same_results_after_mdl_yaml_xmile(case: str) -> None:
    path = SUITE / case
    if not run_test(path).passed:
        pytest.skip("the case does not pass conformance (tests/test_conformance_vensim.py says why)")
    outcome = run_round_trip(path)
    assert outcome.passed, outcome.message


def test_every_slow_case_is_a_suite_case() -> None:
    assert SLOW <= set(CASES) or not CASES


def test_a_changed_equation_is_found_as_a_difference() -> None:
    model = policylab.load(ROOT / "tests" / "conformance" / "delays" / "model.mdl")
    ir = round_trip(model.ir)
    name, var = next((n, v) for n, v in ir.variables.items() if isinstance(v, Auxiliary))
    changed = dataclasses.replace(ir, variables={**ir.variables, name: dataclasses.replace(var, equation=Num(7.25))})
    assert same_results(model, policylab.Model(ir)) is None
    assert re.match(rf"{re.escape(name)} at time 0: .* before, 7.25 after", same_results(model, policylab.Model(changed)))
