"""The compiled engine's common instructions over blocks of runs give the NumPy engine's numbers.

MOV, ADD, SUB, MUL, DIV, MIN and MAX over a block of runs take ``numba_kernels._binary_runs`` (a function
of one array: inlined, each array a function takes costs two atomic reference counts per instruction);
over a block of elements MIN and MAX take it once per element, with each operand advancing with the
element or read as one register. Signed zeros come out of MIN and MAX as ``numpy.minimum`` and
``numpy.maximum`` give them.
"""

from __future__ import annotations

import numpy as np
import pytest

from policylab.api import Model
from policylab.formats.yaml_reader import read_yaml_text

MODEL = """model: block-instructions
time: {start: 0, stop: 3, dt: 1}
dimensions:
  cell: [a, b, c, d, e]
constants:
  k: {dims: [cell], values: [-2, 0, 1.5, 3, -0.0]}
  p: {value: 1, range: [-1, 2], judgement: true}
  q: {value: 0.5, range: [0, 1], judgement: true}
stocks:
  s: {dims: [cell], initial: k, in: [f]}
flows:
  f: {dims: [cell], equation: "MAX(p, k) - MIN(s, q) + MIN(k, s) * MAX(s, 0 * p)"}
auxiliaries:
  scalar_mix: {equation: "MIN(p, q) + MAX(p - q, q / p) - p * q"}
  zeros: {dims: [cell], equation: "MIN(0 * k, -0 * q) + MAX(-0 * k, 0 * p)"}
  moved: {dims: [cell], equation: "s"}
"""


@pytest.mark.parametrize("runs", [1, 5, 100])
def test_min_max_and_arithmetic_over_blocks_give_the_numpy_engines_bits(runs: int) -> None:
    model = Model(read_yaml_text(MODEL, "blocks.yaml"))
    numba = model.run(runs=runs, seed=11, backend="numba", sample=runs > 1)
    numpy = model.run(runs=runs, seed=11, backend="numpy", sample=runs > 1)
    for name in numpy.data_vars:
        assert np.array_equal(numba[name].values, numpy[name].values, equal_nan=True), name
        assert np.array_equal(np.signbit(numba[name].values), np.signbit(numpy[name].values)), name
