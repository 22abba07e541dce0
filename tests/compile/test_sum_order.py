"""A sum of names is added in one order (``opcodes.pairwise``) wherever it is computed.

Folded, in a SUM instruction on either interpreter, term by term, in a scalar equation or in an
arrayed one: the same terms give the same bits. The values below make the order visible: added
left to right, 1 + 1e16 + 1 + 1 - 1e16 is 0; added pairwise it is 3.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest

from policylab.api import Model
from policylab.compile.opcodes import Op, pairwise
from policylab.formats.yaml_reader import read_yaml_text

VALUES = [1.0, 1e16, 1.0, 1.0, -1e16]

MODEL = """model: sums
time: {start: 0, stop: 2, dt: 1}
dimensions:
  region: [a, b, c, d, e]
constants:
  x: {dims: [region], values: [1, 1e16, 1, 1, -1e16]}
stocks:
  s: {dims: [region], initial: x, in: [f]}
flows:
  f: {dims: [region], equation: 0 * x}
auxiliaries:
  folded: {equation: "SUM(x[*])"}
  summed: {equation: "SUM(s[*])"}
  written: {equation: "s[a] + s[b] + s[c] + s[d] + s[e]"}
  reversed: {equation: "s[e] + s[d] + s[c] + s[b] + s[a]"}
  each: {dims: [region], equation: "SUM(s[*]) + 0 * s"}
"""


def test_pairwise_halves_the_terms_with_the_middle_of_an_odd_count_waiting() -> None:
    terms = ["a", "b", "c", "d", "e"]
    assert pairwise(terms, lambda x, y: f"({x}+{y})") == "(((a+d)+c)+(b+e))"
    assert pairwise(["a"], operator.add) == "a"
    assert pairwise(VALUES, operator.add) == 3.0  # left to right it is 0.0


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_sum_of_names_has_the_same_bits_folded_in_registers_and_in_an_arrayed_equation(backend: str) -> None:
    model = Model(read_yaml_text(MODEL, "sums.yaml"))
    ds = model.run(deterministic=True, backend=backend)
    expected = pairwise(VALUES, operator.add)
    for name in ("folded", "summed", "written"):
        assert ds[name].values[0, 0] == expected, name
    assert ds["reversed"].values[0, 0] == pairwise(VALUES[::-1], operator.add)
    assert np.all(ds["each"].values[0, 0] == expected)


def test_the_sum_of_an_arrays_registers_is_one_instruction_read_again_not_computed_again() -> None:
    model = Model(read_yaml_text(MODEL, "sums.yaml"))
    model.run(deterministic=True, backend="numpy")
    runner = next(iter(model._runners.values()))
    _program, tape, _machines = runner._unparametrised
    lo, hi = tape.stage
    assert int((tape.code[lo:hi, 0] == Op.SUM).sum()) == 1  # summed, written and each read it
