"""The NumPy machine's blocks of copies of per-run constants follow the block of runs it holds.

An ensemble's blocks reuse one machine and its decoded instructions (``Machine.restart``). A per-run
constant that a block instruction broadcasts over the elements is read from a block of copies
(``Machine.expanded``); if restarting did not refresh it, the second block of runs would silently be
computed with the first block's parameters.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import policylab
from policylab.compile.interpret import Machine
from policylab.compile.parametric import parametric

ROOT = Path(__file__).resolve().parents[2]


def test_restarting_on_other_runs_refreshes_the_copies_of_their_per_run_constants() -> None:
    model = policylab.load(ROOT / "models/sir_regions")
    call = model.prepare_call(runs=8)
    plan = parametric(model.compiled, call.inputs, 8, False, tuple(sorted(call.parameters)))
    tape = dataclasses.replace(plan.tape, run_values=plan.run_values(call.parameters))
    machine = Machine(tape, 4, model.ir.time.dt, columns=slice(0, 4))
    machine.decode(tape.stage)
    assert machine.expanded  # recovery_time, one value per run, divides the infected of every region
    row = {int(r): k for k, r in enumerate(tape.run_registers)}
    for columns in (slice(4, 8), slice(0, 4)):
        machine.restart(columns)
        for (register, n), block in machine.expanded.items():
            expected = tape.run_values[row[register], columns]
            assert np.unique(expected).size == 4  # sampled: a stale copy could not pass
            np.testing.assert_array_equal(block, np.broadcast_to(expected, (n, 4)))
