"""An array's elements are lowered together: one tape instruction per node over all of them.

The numbers are checked elsewhere (``tests/simulate/test_backends.py`` generates arrayed
models and compares both engines and the element-by-element lowering); here: that blocks
are emitted at all, that an order keeps an array together only where its dependencies
allow, and that an element count or stride mask an interpreter does not know is an error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from policylab.api import Model
from policylab.compile.graph import grouped_order
from policylab.compile.interpret import Machine
from policylab.compile.opcodes import COUNT, STRIDES, Op, Tape, lower
from policylab.compile.plan import bind
from policylab.errors import PolicyLabError
from policylab.formats.yaml_reader import read_yaml_text


def sir(n: int) -> str:
    """SIR over ``n`` regions, with national sums (as models/sir_regions)."""
    regions = ", ".join(f"r{i}" for i in range(n))
    populations = ", ".join(str(1000 + 37 * i) for i in range(n))
    return f"""model: sir
time: {{start: 0, stop: 10, dt: 0.5}}
dimensions:
  region: [{regions}]
constants:
  population: {{dims: [region], values: [{populations}]}}
  contact: {{dims: [region], value: 6, range: [4, 8], judgement: true}}
  recovery_time: 7
levers:
  distancing: {{baseline: 0, range: [0, 0.8]}}
stocks:
  susceptible: {{dims: [region], initial: population - 1, out: [infection]}}
  infected: {{dims: [region], initial: 1, in: [infection], out: [recovery]}}
  recovered: {{dims: [region], initial: 0, in: [recovery]}}
flows:
  infection: {{dims: [region], equation: contact * (1 - distancing) * 0.05 * susceptible * mixed}}
  recovery: {{dims: [region], equation: infected / recovery_time}}
auxiliaries:
  prevalence: {{dims: [region], equation: infected / population}}
  national: {{equation: "SUM(infected[*]) / SUM(population[*])"}}
  mixed: {{dims: [region], equation: 0.9 * prevalence + 0.1 * national}}
"""


def sir_tape(n: int) -> Tape:
    """The SIR model's tape for three runs."""
    model = Model(read_yaml_text(sir(n), "sir.yaml"))
    call = model.prepare_call(runs=3)
    return lower(model.compiled, bind(model.compiled, call.inputs, 3, False), call.inputs)


def stage_rows(n: int) -> np.ndarray:
    """The rows of the stage and net-flow sections of the SIR model's tape."""
    tape = sir_tape(n)
    return tape.code[tape.stage[0]:tape.deriv[1]]


def test_an_arrays_equation_is_one_instruction_per_node_whatever_the_number_of_elements() -> None:
    small, large = stage_rows(5), stage_rows(40)
    assert len(small) == len(large)  # the tape does not grow with the elements
    counts = large[:, COUNT]
    assert (counts == 40).sum() >= 8  # infection, recovery, prevalence, mixed and the net flows are blocks
    assert ((counts == 1) | (counts == 40)).all()
    assert (large[:, 0] == Op.SUM).sum() == 1  # the national sum of infected is one reduction


def test_an_arrays_judgement_parameters_are_one_block_of_slots_in_element_order() -> None:
    """Bound as parameter registers (``Model.simulator``), contact[r0..r39] are read as one block: in name order
    (r10 before r2) the lowering would gather them by a copy per element, and the tape would grow with them."""
    def tape_rows(n: int) -> int:
        model = Model(read_yaml_text(sir(n), "sir.yaml"))
        call = model.prepare_call(runs=3)
        program = bind(model.compiled, call.inputs, 3, False, frozenset(model.ir.elements_of("contact")))
        assert list(program.parameters) == model.ir.elements_of("contact")
        return len(lower(model.compiled, program, call.inputs).code)

    assert tape_rows(40) == tape_rows(5)


def test_the_numpy_interpreter_refuses_an_element_count_or_stride_mask_it_does_not_know() -> None:
    tape = sir_tape(3)
    for column, value in ((COUNT, 0), (STRIDES, 1 << 6)):
        code = tape.code.copy()
        code[tape.stage[0], column] = value
        machine = Machine(dataclasses.replace(tape, code=code), 3, 1.0)
        with pytest.raises(PolicyLabError, match="cannot run tape row"):
            machine.decode(tape.stage)


def test_the_numba_interpreter_refuses_a_tape_with_an_unknown_encoding() -> None:
    numba_backend = pytest.importorskip("policylab.simulate.numba_backend")
    model = Model(read_yaml_text(sir(3), "sir.yaml"))
    tape = model.runner("numba", model.prepare_call(), False).plan.tape
    assert numba_backend.supports(tape) is None
    code = tape.code.copy()
    code[tape.stage[0], COUNT] = 0
    assert "element count" in numba_backend.supports(dataclasses.replace(tape, code=code))


def element(array: str, index: int) -> str:
    return f"{array}[e{index}]"


def test_an_order_keeps_an_arrays_elements_together_where_dependencies_allow() -> None:
    elements = {element(a, i): (a, i) for a in ("x", "y", "chain") for i in range(3)}
    graph: dict[str, set[str]] = {
        # y[i] reads x[i] and a scalar that reads x[0]; x reads nothing
        **{element("x", i): set() for i in range(3)},
        "total": {element("x", 0)},
        **{element("y", i): {element("x", i), "total"} for i in range(3)},
        # chain[i] reads chain[i - 1]: its elements cannot be one block
        element("chain", 0): set(), element("chain", 1): {element("chain", 0)},
        element("chain", 2): {element("chain", 1)},
    }
    order = grouped_order(graph, elements)
    assert sorted(order) == sorted(graph)
    for name, deps in graph.items():
        assert all(order.index(d) < order.index(name) for d in deps)
    for array in ("x", "y"):
        at = order.index(element(array, 0))
        assert order[at:at + 3] == [element(array, i) for i in range(3)]


def test_arrays_on_a_cycle_of_arrays_are_ordered_element_by_element() -> None:
    # a[1] reads b[0], b[1] reads a[0]: a before b and b before a as blocks; element by element it is acyclic
    elements = {element(a, i): (a, i) for a in ("a", "b") for i in range(2)}
    graph = {element("a", 0): set(), element("b", 0): set(), element("a", 1): {element("b", 0)},
             element("b", 1): {element("a", 0)}}
    order = grouped_order(graph, elements)
    for name, deps in graph.items():
        assert all(order.index(d) < order.index(name) for d in deps)
