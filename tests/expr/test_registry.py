"""The op registry is complete: every row has every column its kind needs, and both engines run every opcode."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from policylab.api import BackendFallbackWarning, Model
from policylab.compile.desugar import _EXPANSIONS
from policylab.compile import bind
from policylab.compile.opcodes import Op, lower
from policylab.compile.units import _SIGNATURES
from policylab.errors import PolicyLabError, SimulationError
from policylab.expr.builtins import ALIASES, BUILTINS, OPERATORS
from policylab.formats.yaml_reader import read_yaml_text

MACHINE_OPS = {"MOV", "SELECT", "CLIP0", "LEVER", "EVENT", "SUM"}  # instructions of the tape, not of the language
EVALUATED = ("pure", "time", "random")


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_has_every_column_its_kind_needs(name: str) -> None:
    row = BUILTINS[name]
    assert row.doc.strip(), "a one-line doc"
    assert row.max_args is None or row.min_args <= row.max_args
    if row.kind != "lookup":
        assert row.units is not None and name in _SIGNATURES, "a units signature"
        params = row.units.split(" -> ")[0].split()
        assert row.max_args is None or len(params) >= (row.max_args or 0) or params[-1].endswith("...")
    if row.kind in EVALUATED:
        assert row.impl is not None, "a NumPy kernel"
        assert row.opcode is not None or row.max_args == 0, "an opcode (only a function of nothing folds away)"
    if row.kind == "random":
        assert row.mean is not None, "its mean, for deterministic mode"
    if row.kind == "stateful":
        assert name in _EXPANSIONS, "an expansion into hidden stocks or a pipeline (compile/desugar.py)"
    if row.opcode is not None:
        assert row.opcode in Op.__members__, f"{row.opcode} is not an opcode of compile.opcodes.Op"
    if row.defaults:
        assert row.max_args is not None and row.opcode is not None
    assert row.xmile_name is None or row.xmile_name.isupper()


def test_aliases_name_registered_builtins() -> None:
    assert set(ALIASES.values()) <= set(BUILTINS)


def test_every_opcode_is_a_builtins_an_operators_or_a_machine_instruction() -> None:
    used = {row.opcode for row in BUILTINS.values()} | {o.opcode for o in OPERATORS.values()} | MACHINE_OPS
    assert set(Op.__members__) <= used


def test_the_numpy_interpreter_has_a_kernel_for_every_opcode() -> None:
    from policylab.compile.interpret import DISPATCHED

    assert set(Op) <= DISPATCHED


def test_builtins_that_share_an_opcode_share_one_kernel() -> None:
    kernels: dict[str, set[object]] = {}
    for row in BUILTINS.values():
        if row.opcode is not None:
            kernels.setdefault(row.opcode, set()).add(row.impl)
    for operator in OPERATORS.values():
        kernels.setdefault(operator.opcode, set()).add(operator.kernel)
    assert {op: impls for op, impls in kernels.items() if len(impls) > 1} == {}


def test_an_unknown_opcode_is_an_error_in_the_numpy_interpreter() -> None:
    from policylab.compile.interpret import Machine

    model = Model(read_yaml_text(MODEL, "unknown_op.yaml"))
    call = model.prepare_call()
    program = bind(model.compiled, call.inputs, 1, False)
    tape = lower(model.compiled, program, call.inputs)
    code = tape.code.copy()
    code[code[:, 0] == int(Op.ABS), 0] = 999
    machine = Machine(dataclasses.replace(tape, code=code), 1, 1.0)
    with pytest.raises(PolicyLabError, match="no opcode 999"):
        machine.decode(tape.stage)


def test_the_numba_interpreter_has_a_branch_for_every_opcode() -> None:
    numba_backend = pytest.importorskip("policylab.simulate.numba_backend")
    assert set(Op) <= numba_backend.DISPATCHED


MODEL = """
model: unknown-op
time: {start: 0, stop: 3, dt: 1}
constants:
  c: 2
stocks:
  s: {initial: 1, in: [f]}
flows:
  f: {equation: 'abs(s - c)'}
"""


def test_an_unknown_opcode_is_never_a_silent_no_op_in_the_numba_interpreter() -> None:
    numba_backend = pytest.importorskip("policylab.simulate.numba_backend")
    model = Model(read_yaml_text(MODEL, "unknown_op.yaml"))
    call = model.prepare_call()
    plan = model.runner("numba", call, False).plan
    code = plan.tape.code.copy()
    code[code[:, 0] == int(Op.ABS), 0] = 999  # an opcode nobody defined
    tape = dataclasses.replace(plan.tape, code=code)
    assert numba_backend.supports(tape) is not None
    with pytest.raises(SimulationError, match="became NaN"):
        numba_backend.simulate(plan.program, tape, model.ir.time, call.streams, ["f"])


def test_a_tape_the_numba_interpreter_cannot_run_falls_back_to_numpy_with_a_warning(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    numba_backend = pytest.importorskip("policylab.simulate.numba_backend")
    monkeypatch.setattr(numba_backend, "DISPATCHED", numba_backend.DISPATCHED - {Op.ABS})
    model = Model(read_yaml_text(MODEL, "unknown_op.yaml"))
    with pytest.warns(BackendFallbackWarning, match="no opcode"):
        result = model.run(backend="numba")
    assert result.attrs["backend"] == "numpy"
    np.testing.assert_array_equal(result["s"].values, model.run()["s"].values)
