"""Values the same for every run, computed once over the clock instead of once per run and step.

A value on the tape differs between runs only through what differs between them: per-run
constants, stocks, pipelines and random draws. An instruction that reads none of those —
TIME, constants, levers without a per-run level, events, and values computed from these
alone — computes the same number for every run: a function of the clock's (step, stage).
The NumPy engine runs such *uniform* instructions once per simulation, over every point of
the clock at once (a machine whose columns are clock points, the *lane*), and keeps the
values the other instructions need in a table ``(points, cells)``. The step loop then
copies one row of that table into a small array of *cells*, which the per-run
instructions read as ``(1,)`` (or ``(elements, 1)``) arrays that NumPy broadcasts over the
runs; a uniform value that must also sit in its register's row (a model variable, read by
saving, integration or error messages; or read as part of a block) is copied there at its
place in the section. So at 10,000 runs a time function, a lever path or a lookup of TIME
costs a copy of one row instead of arithmetic over 10,000 columns. Where an IF's condition
is uniform, the interpreter runs only the instructions of the branch taken (see
:func:`branches`).

The classification is a data-flow pass over the tape as the engine runs it: ``init`` once,
then ``stage`` and ``deriv`` at every point; a register read before it is written in the
loop (its value comes from the previous point) is per-run, as are the registers the engine
writes itself (stocks, pipelines). The values are the ones the per-run instructions would
compute: the same NumPy kernels, element by element (the numba engine runs them per run).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from policylab.compile.interpret import Instruction, Machine
from policylab.compile.opcodes import COUNT, STRIDES, Op, Tape, operand_ranges, output_range

RANDOM = frozenset(int(op) for op in (Op.UNIFORM, Op.NORMAL, Op.LOGNORMAL, Op.POISSON, Op.EXPONENTIAL))
BUDGET = 1 << 21  # floats in a lane's table (16 MiB): a longer clock is computed in chunks of points


class _PerRun:
    """The state of a register whose value differs between runs (its row holds it)."""


class _Filled:
    """The state of a register the same for every run whose row holds it (constants, TIME, start values)."""


PER_RUN, FILLED = _PerRun(), _Filled()


@dataclass(eq=False)
class Uniform:
    """A uniform instruction: its value goes to cells ``cell ..`` of its table, and to its rows when ``fill``."""

    pc: int
    out: int
    n: int
    cell: int
    needed: bool = False  # a per-run instruction reads its cells, or it fills rows: the table keeps it
    fill: bool = False


@dataclass(eq=False)
class PerRun:
    """A per-run instruction, and the uniform values it reads from cells: ``(register, count) -> first cell``."""

    pc: int
    reading: dict[tuple[int, int], int] = field(default_factory=dict)


Entry = Uniform | PerRun
State = _PerRun | _Filled | Uniform


@dataclass(frozen=True)
class Code:
    """A tape's rows as lists, with the register ranges each reads and writes (decoded once)."""

    rows: list[list[int]]
    reads: list[list[tuple[int, int]]]
    writes: list[tuple[int, int]]

    @classmethod
    def of(cls, tape: Tape) -> Code:
        rows = tape.code.tolist()
        return cls(rows, [operand_ranges(r) for r in rows], [output_range(r) for r in rows])


@dataclass(frozen=True)
class Plan:
    """Every instruction of the three sections, classified; the cells of ``init`` and of the loop."""

    code: Code
    init: list[Entry]
    stage: list[Entry]
    deriv: list[Entry]
    init_cells: int
    loop_cells: int


def plan(tape: Tape) -> Plan:
    """Classify the tape's instructions as uniform or per-run, as the engine runs the sections."""
    code = Code.of(tape)
    stage_writes, deriv_writes = _writes(code, tape.stage), _writes(code, tape.deriv)
    carried = (_read_first(code, tape.stage) & (stage_writes | deriv_writes)) | (
        _read_first(code, tape.deriv) & (deriv_writes - stage_writes))
    engine = {int(r) for r in tape.stock_registers} | {int(r) for r in tape.pipelines[:, 0]}
    external = ({*tape.names, *map(int, tape.deriv_registers), *map(int, tape.rate_registers)} | engine | carried
                | {int(r) for r in tape.pipelines.ravel() if r >= 0})
    state: dict[int, State] = {int(r): PER_RUN for r in tape.run_registers}
    init, init_cells = _walk(code, tape.init, state, external, 0)
    for register, value in state.items():
        if isinstance(value, Uniform):  # a start value: later sections read its row
            value.fill = value.needed = True
            state[register] = FILLED
    state.update({r: PER_RUN for r in engine | carried})
    stage, cells = _walk(code, tape.stage, state, external, 0)
    deriv, loop_cells = _walk(code, tape.deriv, state, external, cells)
    return Plan(code, init, stage, deriv, init_cells, loop_cells)


def _walk(code: Code, section: tuple[int, int], state: dict[int, State], external: set[int],
          cells: int) -> tuple[list[Entry], int]:
    """Classify ``section``'s instructions from ``state`` (updated in place); cells are numbered from ``cells``."""
    entries: list[Entry] = []
    for pc in range(*section):
        row, ranges = code.rows[pc], code.reads[pc]
        out, n = code.writes[pc]
        reads = [state.get(r, FILLED) for first, k in ranges for r in range(first, first + k)]
        lane = row[COUNT] == 1 or row[0] not in (Op.LEVER, Op.EVENT)  # a lane reads one lever or event per row
        if lane and row[0] not in RANDOM and all(s is not PER_RUN for s in reads):
            entry: Entry = Uniform(pc, out, n, cells, fill=any(out + e in external for e in range(n)))
            entry.needed = entry.fill
            cells += n
            state.update({out + e: entry for e in range(n)})
        else:
            entry = PerRun(pc)
            for first, k in ranges:
                _read(entry, first, k, state)
            state.update({out + e: PER_RUN for e in range(n)})
        entries.append(entry)
    return entries, cells


def _read(entry: PerRun, first: int, k: int, state: dict[int, State]) -> None:
    """How a per-run instruction reads registers ``first ..`` (``k``): from one uniform value's cells when they
    are consecutive cells, else from the rows (and the uniform values among them then fill their rows)."""
    sources = [state.get(first + e, FILLED) for e in range(k)]
    cells = [s.cell + (first + e - s.out) if isinstance(s, Uniform) else -1 for e, s in enumerate(sources)]
    if cells[0] >= 0 and all(c == cells[0] + e for e, c in enumerate(cells)):
        entry.reading[first, k] = cells[0]
        for s in sources:
            s.needed = True  # type: ignore[union-attr]
        return
    for s in sources:
        if isinstance(s, Uniform):
            s.fill = s.needed = True


def _writes(code: Code, section: tuple[int, int]) -> set[int]:
    """Registers ``section`` writes."""
    out: set[int] = set()
    for pc in range(*section):
        first, n = code.writes[pc]
        out.update(range(first, first + n))
    return out


def _read_first(code: Code, section: tuple[int, int]) -> set[int]:
    """Registers ``section`` reads before it writes them (their value comes from before the section)."""
    written: set[int] = set()
    exposed: set[int] = set()
    for pc in range(*section):
        for first, k in code.reads[pc]:
            exposed.update(r for r in range(first, first + k) if r not in written)
        first, n = code.writes[pc]
        written.update(range(first, first + n))
    return exposed


# --- the lane: uniform instructions over clock points ---------------------------------------------


class Lane:
    """The uniform instructions of some sections run over clock points, and the table of the cells they fill.

    ``points`` are flat clock indices (``step * stages + stage``); a clock longer than the
    budget is computed a chunk of points at a time, when the step loop first reaches it.
    """

    def __init__(self, tape: Tape, rows: list[list[int]], dt: float, entries: list[Entry], n_cells: int,
                 n_points: int, start: np.ndarray | None = None) -> None:
        self.tape, self.rows, self.dt, self.n_points = tape, rows, dt, n_points
        self.uniform = [e for e in entries if isinstance(e, Uniform)]
        self.width = max(1, min(n_points, BUDGET // max(n_cells, 1)))
        self.stages = tape.times.shape[1]
        bare = dataclasses.replace(tape, run_registers=np.zeros(0, dtype=np.int64), run_values=np.zeros((0, self.width)))
        self.machine: Machine | None = Machine(bare, self.width, dt)
        if start is not None:  # the values the earlier sections left (every column alike)
            self.machine.registers[...] = start[:, None]
        self.table = np.zeros((self.width, n_cells))
        self.cells = np.zeros(n_cells)
        self.first = -(1 << 62)  # no chunk yet

    def compute(self, first: int) -> None:
        """The table's rows for points ``first ..`` (the last point repeated past the end)."""
        points = np.minimum(np.arange(first, first + self.width), self.n_points - 1)
        steps, stages = np.divmod(points, self.stages)
        m = self.machine
        if m is None:  # pragma: no cover - load computes a lane whose table holds the whole clock once
            raise AssertionError("a lane whose table holds the whole clock was computed again")
        m.registers[0] = self.tape.times[steps, stages]
        for entry in self.uniform:
            with np.errstate(all="ignore"):  # as in the step loop: a NaN or infinity is checked where it lands
                for kernel, args in _lane_instructions(m, self.rows[entry.pc], entry, steps, stages):
                    kernel(*args)
            if entry.needed:
                self.table[:, entry.cell:entry.cell + entry.n] = m.registers[entry.out:entry.out + entry.n].T
        self.first = first

    def load(self, point: int) -> None:
        """Copy the cells of clock point ``point`` (computing its chunk first if the table lacks it)."""
        if not self.first <= point < self.first + self.width:
            self.compute(point - point % self.width)
            if self.width >= self.n_points:  # the whole clock is in the table: the lane's registers are done with
                self.machine = None  # (a register per clock point of every register: 26 MB at 1,000 regions)
        np.copyto(self.cells, self.table[point - self.first])


def _lane_instructions(m: Machine, row: list[int], entry: Uniform, steps: np.ndarray,
                       stages: np.ndarray) -> list[Instruction]:
    """A uniform instruction over the lane's points: levers and events read their tables at every point."""
    if row[0] == Op.LEVER and row[COUNT] == 1:
        return [(np.copyto, (m.rows[row[1]], m.tape.lever_path[steps, stages, row[2]]))]
    if row[0] == Op.EVENT and row[COUNT] == 1:
        return [(np.copyto, (m.rows[row[1]], m.tape.events[steps, row[2]]))]
    return m.decode((entry.pc, entry.pc + 1))


class _Clocked:
    """Loads the loop lane's cells for the machine's clock point (the first instruction of stage)."""

    def __init__(self, lane: Lane, m: Machine) -> None:
        self.lane, self.clock, self.stages = lane, m.clock, lane.stages

    def __call__(self) -> None:
        self.lane.load(self.clock.step * self.stages + self.clock.stage)


def held_bytes(section: list[Instruction]) -> int:
    """Bytes the lanes a decoded section loads hold: their tables, and the registers of a lane that still computes
    its clock a chunk at a time (what keeping a decoded machine costs beyond its register file)."""
    total = 0
    for kernel, _args in section:
        if isinstance(kernel, _Clocked):
            lane = kernel.lane
            total += lane.table.nbytes + (0 if lane.machine is None else lane.machine.registers.nbytes)
    return total


# --- decoding the sections for the step loop -----------------------------------------------------


def decode(m: Machine) -> tuple[list[Instruction], list[Instruction], list[Instruction]]:
    """The init, stage and deriv sections of ``m``'s tape as instructions for the step loop: uniform values
    computed on lanes before the run, the per-run instructions reading them as cells, IFs of a uniform
    condition running one branch. Stage loads the cells of the clock's point; deriv must run after it, at the
    same point (as the engine runs them)."""
    tape = m.tape
    p = plan(tape)
    code = p.code
    init_lane = Lane(tape, code.rows, m.dt, p.init, p.init_cells, 1)
    init_lane.compute(0)
    loop_lane = Lane(tape, code.rows, m.dt, p.stage + p.deriv, p.loop_cells, tape.times.size,
                     init_lane.machine.registers[:, 0])
    live = _outside(tape, code)
    init = _section(m, code, p.init, init_lane.cells, live)
    np.copyto(init_lane.cells, init_lane.table[0])
    load: list[Instruction] = [(_Clocked(loop_lane, m), ())] if p.loop_cells else []
    # deriv reads the cells stage loaded: the engine runs it after stage, at the same point
    return init, load + _section(m, code, p.stage, loop_lane.cells, live), _section(m, code, p.deriv, loop_lane.cells, live)


def _outside(tape: Tape, code: Code) -> set[int]:
    """Registers whose values are read outside the section that writes them: by the engine, or by a section
    (or the next point) before it writes them. Only an instruction writing none of them can be skipped."""
    return ({*tape.names, *map(int, tape.deriv_registers), *map(int, tape.rate_registers),
             *map(int, tape.stock_registers), *(int(r) for r in tape.pipelines.ravel() if r >= 0)}
            | _read_first(code, tape.stage) | _read_first(code, tape.deriv))


@dataclass(eq=False)
class _Step:
    """A runtime instruction of a section: its kernels, the registers whose rows it reads and writes."""

    entry: Entry
    instructions: list[Instruction]
    reads: set[int]
    writes: set[int]
    index: int = 0
    uses: list[tuple[_Step, int]] = field(default_factory=list)  # (reader, register) of the rows it writes
    sources: list[_Step] = field(default_factory=list)  # the steps that wrote the rows it reads


def _section(m: Machine, code: Code, entries: Sequence[Entry], cells: np.ndarray, live: set[int]) -> list[Instruction]:
    """The step loop's instructions of one section: the per-run ones, the copies of uniform values to rows, and
    IFs of a uniform condition as branches."""
    steps: list[_Step] = []
    for entry in entries:
        if isinstance(entry, Uniform):
            if entry.fill:
                out = (m.registers[entry.out:entry.out + entry.n] if entry.n > 1 else m.rows[entry.out])
                steps.append(_Step(entry, [(np.copyto, (out, _cells(cells, entry.cell, entry.n)))], set(),
                                   set(range(entry.out, entry.out + entry.n))))
            continue
        m.reading = {key: _cells(cells, cell, key[1]) for key, cell in entry.reading.items()}
        try:
            instructions = m.decode((entry.pc, entry.pc + 1))
        finally:
            m.reading = {}
        first, n = code.writes[entry.pc]
        reads = {r for start, k in code.reads[entry.pc] if (start, k) not in entry.reading for r in range(start, start + k)}
        steps.append(_Step(entry, instructions, reads, set(range(first, first + n))))
    _link(steps, code.rows)
    cones = {id(s): c for s in steps if (c := _cones(s, steps, code.rows, live)) is not None}
    return _emit(m, steps, cones, cells, code.rows)


def _link(steps: list[_Step], rows: list[list[int]]) -> None:
    """Each step's uses: the later steps that read a row it wrote, before another step writes it.

    A step reads a block's rows from one writer: it is that writer's source once, and its use is
    recorded once unless it is an IF (whose rows' columns ``_cones`` tells apart), not once per row
    (an arrayed model's thousand-row blocks made linking a tenth of a second per section)."""
    writer: dict[int, _Step] = {}
    for index, step in enumerate(steps):
        step.index = index
        every_row = rows[step.entry.pc][0] in (Op.SELECT, Op.SELECT0)
        linked: set[int] = set()
        for r in step.reads:
            source = writer.get(r)
            if source is None:
                continue
            if id(source) not in linked:
                linked.add(id(source))
                step.sources.append(source)
                source.uses.append((step, r))
            elif every_row:
                source.uses.append((step, r))
        for r in step.writes:
            writer[r] = step


Cones = tuple[list[_Step], list[_Step]]


def _cones(select: _Step, steps: list[_Step], code: list[list[int]], live: set[int]) -> Cones | None:
    """The steps that compute only a uniform-condition IF's then (and else) operand, or None for any other step
    (or when they cannot move to the IF's place without changing what another step reads)."""
    entry = select.entry
    if not isinstance(entry, PerRun):
        return None
    row = code[entry.pc]
    if row[0] not in (Op.SELECT, Op.SELECT0) or (row[2], 1) not in entry.reading:
        return None
    if row[COUNT] > 1 and row[STRIDES] & 1:
        return None  # one condition per element
    side: dict[int, int] = {}  # id(step) -> 3 (then) or 4 (else)
    moved: list[_Step] = []
    heap = [-source.index for source in select.sources]
    heapq.heapify(heap)  # latest first: a step's readers are decided before it
    while heap:
        step = steps[-heapq.heappop(heap)]
        if id(step) in side or not isinstance(step.entry, PerRun) or not step.uses or step.writes & live:
            continue
        sides = {side.get(id(user), _column(row, register) if user is select else 0) for user, register in step.uses}
        if len(sides) == 1 and (only := sides.pop()) in (3, 4):
            side[id(step)] = only
            moved.append(step)
            for source in step.sources:
                heapq.heappush(heap, -source.index)
    moved.sort(key=lambda s: s.index)
    if moved:
        reads = set().union(*(s.reads for s in moved))
        writes = set().union(*(s.writes for s in moved))
        for other in steps[moved[0].index:select.index]:
            if id(other) not in side and (other.writes & (reads | writes) or other.reads & writes):
                return None
    return [s for s in moved if side[id(s)] == 3], [s for s in moved if side[id(s)] == 4]


def _column(row: list[int], register: int) -> int:
    """The operand column (3: then, 4: else) through which an IF reads the row of ``register``; 0 for both or
    neither (a block operand's registers count by their range)."""
    n = row[COUNT]
    columns = [k for k in (3, 4) if row[k] >= 0 and row[k] <= register < row[k] + (n if (row[STRIDES] >> (k - 2)) & 1 else 1)]
    return columns[0] if len(columns) == 1 else 0


def _emit(m: Machine, steps: list[_Step], cones: dict[int, Cones], cells: np.ndarray,
          code: list[list[int]]) -> list[Instruction]:
    """``steps`` in order, each IF with cones as one branch instruction holding its cones' steps."""
    inner = {id(s) for then, otherwise in cones.values() for s in then + otherwise}
    return _emit_in(m, [s for s in steps if id(s) not in inner], cones, cells, code)


def _emit_in(m: Machine, steps: list[_Step], cones: dict[int, Cones], cells: np.ndarray,
             code: list[list[int]]) -> list[Instruction]:
    out: list[Instruction] = []
    for step in steps:
        if id(step) not in cones:
            out += step.instructions
            continue
        then, otherwise = cones[id(step)]
        nested = {id(s) for t, o in (cones[id(c)] for c in then + otherwise if id(c) in cones) for s in t + o}
        entry = step.entry
        row = code[entry.pc]
        m.reading = {key: _cells(cells, cell, key[1]) for key, cell in entry.reading.items()}  # type: ignore[union-attr]
        try:
            condition, a, b, target = m.argument(row, 2), m.argument(row, 3), m.argument(row, 4), m.output(row)
        finally:
            m.reading = {}
        out.append((_branch, (condition, _emit_in(m, [s for s in then if id(s) not in nested], cones, cells, code),
                              _emit_in(m, [s for s in otherwise if id(s) not in nested], cones, cells, code),
                              target, a, b, row[0] == Op.SELECT0)))
    return out


def _branch(condition: np.ndarray, then: list[Instruction], otherwise: list[Instruction], out: np.ndarray,
            a: np.ndarray | float, b: np.ndarray | float, plus_zero: bool) -> None:
    """An IF whose condition is the same for every run: only the branch taken is computed, then copied
    (``+ 0.0`` for IF_THEN_ELSE, which turns a negative zero positive, as the interpreters' SELECT0 does)."""
    taken, instructions = (a, then) if condition[0] != 0 else (b, otherwise)
    for kernel, args in instructions:
        kernel(*args)
    if plus_zero:
        np.add(taken, 0.0, out=out)
    else:
        np.copyto(out, taken)


def _cells(cells: np.ndarray, first: int, n: int) -> np.ndarray:
    """A view of ``n`` cells that broadcasts over the runs: ``(1,)`` for one, ``(n, 1)`` for a block."""
    return cells[first:first + 1] if n == 1 else cells[first:first + n, None]


__all__ = ["BUDGET", "Lane", "Plan", "PerRun", "Uniform", "decode", "held_bytes", "plan"]
