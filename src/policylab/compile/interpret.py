"""The NumPy interpreter of the tape: each instruction is one NumPy call over every run at once.

The tape (:mod:`policylab.compile.opcodes`) is the one definition of what a model computes;
the numba backend runs it run by run, this module runs it a register row at a time. A
:class:`Machine` holds one register file of shape ``(n_registers, width)`` (a row per
register, a column per run or point) and decodes each section of the tape once into a list
of ``(kernel, arguments)`` pairs whose arguments are views of that file, so running a
section is a tight Python loop of NumPy calls and allocates nothing for the operators and
element-wise builtins (ufuncs write into their output row through ``out``).

The kernels come from the op registry (:mod:`policylab.expr.builtins`): an operator's ufunc,
a builtin's NumPy function (pure, of the clock, or of the run's uniform draws). Only the
machine's own instructions (MOV, SELECT, CLIP0, LOOKUP, LEVER, EVENT) are defined here.
Nothing is generated from a model and nothing is evaluated as source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from policylab.compile.lookups import lookup_function
from policylab.compile.opcodes import COUNT, STRIDE_BITS, STRIDES, Extrapolation, K, Op, Tape, lower_expression
from policylab.errors import PolicyLabError
from policylab.expr.ast import Expr
from policylab.expr.builtins import BUILTINS, OPERATORS, Value
from policylab.model.ir import Lookup

Draws = Callable[[int, int], np.ndarray]
"""The uniform draws of a random call site at a step, one per column: ``draws(site, step)``."""

Instruction = tuple[Callable[..., object], tuple]
Decoder = Callable[["Machine", Sequence[int]], Instruction]


class Clock:
    """The step and RK4 stage the machine is at (levers, events and draws read them)."""

    __slots__ = ("stage", "step")

    def __init__(self) -> None:
        self.step = 0
        self.stage = 0


class Machine:
    """A register file and the tape's sections decoded over it.

    ``registers[0]`` is TIME (the caller sets it); the constants' rows are filled here from
    the tape, as the numba interpreter fills them. ``columns`` are the runs of the tape's
    per-run values the machine holds (a block of an ensemble; all by default).
    """

    def __init__(self, tape: Tape, width: int, dt: float, draws: Draws | None = None,
                 columns: slice = slice(None)) -> None:
        self.tape, self.width, self.dt, self.draws = tape, width, dt, draws
        self.clock = Clock()
        self.registers = np.zeros((tape.n_registers, width))  # fresh zeros: untouched rows never cost a page fault
        self._load(columns)
        self.rows = list(self.registers)  # a view per register, made once
        written = {out + e for op, out, count in tape.code[:, [0, 1, COUNT]].tolist()
                   for e in range(1 if op == Op.SUM else count)}
        # a scalar constant no instruction writes is passed as a float: ufuncs then read no row for it
        self.scalars = {int(r): float(v) for r, v in zip(tape.scalar_registers, tape.scalar_values, strict=True)
                        if int(r) not in written}
        # a per-run constant no instruction writes, read by a block instruction as one row for every element, is
        # read from a block of copies instead: NumPy runs a broadcast row as an inner loop per element, which
        # cost an arrayed model's division by a sampled parameter twice a division of two blocks
        self.constant_rows = {int(r) for r in tape.run_registers} - written
        self.expanded: dict[tuple[int, int], np.ndarray] = {}  # (register, elements) -> its block of copies
        self._tables: dict[int, Callable[[Value], Value]] = {}
        # (register, count) -> what an instruction being decoded reads there instead of the rows: a value the
        # same for every run, as a (1,) or (count, 1) array (policylab.compile.uniform sets it)
        self.reading: dict[tuple[int, int], np.ndarray] = {}

    def restart(self, columns: slice) -> None:
        """The registers as at the start, holding the runs ``columns`` (as many as before): another block of
        an ensemble reuses the machine and its decoded sections."""
        self.registers.fill(0.0)
        self._load(columns)
        for (register, _n), block in self.expanded.items():
            block[...] = self.registers[register]

    def _load(self, columns: slice) -> None:
        """The constants, the runs ``columns`` of the per-run values, and the start time into zeroed registers."""
        tape, registers = self.tape, self.registers
        registers[tape.scalar_registers] = tape.scalar_values[:, None]
        registers[tape.run_registers] = tape.run_values[:, columns]
        registers[0] = tape.times[0, 0]

    def decode(self, section: tuple[int, int]) -> list[Instruction]:
        """The instructions ``section`` (a half-open range of the tape's rows) as (kernel, arguments) pairs."""
        code = self.tape.code
        out: list[Instruction] = []
        for pc in range(*section):
            row = code[pc].tolist()
            _check_encoding(row)
            if row[COUNT] > 1 and _per_element(row):
                saved, self.reading = self.reading, _elementwise(self.reading)
                try:
                    out += [_decoder(row[0])(self, part) for part in _split(row)]
                finally:
                    self.reading = saved
            else:
                out.append(_decoder(row[0])(self, row))
        return out

    def operand(self, register: int) -> np.ndarray | float:
        """What an instruction reads for ``register``: its row, the float of a scalar constant, or ``reading``'s value."""
        if self.reading and (register, 1) in self.reading:
            return self.reading[register, 1]
        return self.scalars.get(register, self.rows[register])

    def output(self, row: Sequence[int]) -> np.ndarray:
        """The rows an instruction writes: one row, or an (elements, width) block."""
        n = row[COUNT]
        return self.rows[row[1]] if n == 1 else self.registers[row[1]:row[1] + n]

    def argument(self, row: Sequence[int], column: int) -> np.ndarray | float:
        """What an instruction reads in ``column``: as ``operand`` for one element; for a block, its
        (elements, width) rows, or one register broadcast as a (1, width) row (or a float)."""
        register, n = row[column], row[COUNT]
        if n == 1:
            return self.operand(register)
        if (row[STRIDES] >> (column - 2)) & 1:
            return self.reading.get((register, n), self.registers[register:register + n])
        if (register, 1) in self.reading:
            return self.reading[register, 1]
        if register in self.scalars:
            return self.scalars[register]
        if register in self.constant_rows:
            if (register, n) not in self.expanded:
                self.expanded[register, n] = np.repeat(self.registers[register:register + 1], n, axis=0)
            return self.expanded[register, n]
        return self.registers[register:register + 1]

    def table(self, k: int) -> Callable[[Value], Value]:
        """The NumPy kernel of the tape's lookup table ``k`` (``lookup_function``, from the tape's arrays)."""
        if k not in self._tables:
            self._tables[k] = lookup_function(table_of(self.tape, k))
        return self._tables[k]


def run(instructions: list[Instruction]) -> None:
    """Execute decoded instructions in order."""
    for kernel, args in instructions:
        kernel(*args)


def evaluate(expr: Expr, values: Mapping[str, Value], lookups: Mapping[str, Lookup], time: np.ndarray, dt: float,
             uniforms: Mapping[int, np.ndarray] | None = None, owner: str = "", where: str = "") -> np.ndarray:
    """``expr`` at many points at once, through the tape: ``values[name]`` and ``time`` are flat arrays of one
    length (or floats).

    The shared evaluator of link polarity and loop scores: what the engines compute, at points
    they did not visit. Random calls read ``uniforms[site]`` (the draws made at those points);
    without them a random call takes its mean. Raises :class:`~policylab.errors.ExpressionError`
    for a name without a value.
    """
    names = dict(values)
    names["time"] = time
    width = time.shape[0]
    lowered = lower_expression(expr, names, dict(lookups), uniforms is None, dt, width, owner, where)
    if isinstance(lowered, K):
        value = lowered.value
    else:
        tape, result = lowered
        drawn = uniforms or {}
        machine = Machine(tape, width, dt, None if uniforms is None else lambda site, _step: drawn[site])
        machine.registers[0] = time
        with np.errstate(all="ignore"):
            run(machine.decode(tape.init))
        value = machine.registers[result]
    return np.broadcast_to(np.asarray(value, dtype=float), time.shape)


def table_of(tape: Tape, k: int) -> Lookup:
    """Lookup table ``k`` of ``tape`` as the IR has it (the tape stores xs, ys and the extrapolation)."""
    offset, n, kind, _search = (int(v) for v in tape.table_index[k])
    data = tape.table_data
    extrapolation = {Extrapolation.LINEAR: "linear", Extrapolation.DISCRETE: "discrete"}.get(Extrapolation(kind), "clamp")
    return Lookup(f"table{k}", xs=tuple(data[offset:offset + n]), ys=tuple(data[offset + n + 1:offset + 2 * n + 1]),
                  extrapolation=extrapolation)  # type: ignore[arg-type]


# --- kernels -----------------------------------------------------------------------------------


def _assign(impl: Callable[..., Value], out: np.ndarray, *args: np.ndarray) -> None:
    out[...] = impl(*args)


def _timed(impl: Callable[..., Value], out: np.ndarray, time: np.ndarray, dt: float, *args: np.ndarray) -> None:
    out[...] = impl(time, dt, *args)


def _drawn(impl: Callable[..., Value], out: np.ndarray, draws: Draws, site: int, clock: Clock, *args: np.ndarray) -> None:
    out[...] = impl(draws(site, clock.step), *args)


def _maximum(a: np.ndarray, b: np.ndarray | float, out: np.ndarray) -> None:
    np.maximum(a, b, out=out)  # a positional out is deprecated for maximum and minimum


def _minimum(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.minimum(a, b, out=out)


_KEYWORD_OUT: dict[np.ufunc, Callable[..., None]] = {np.maximum: _maximum, np.minimum: _minimum}


def _select(condition: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    out[...] = np.where(condition != 0, a, b)


def _lever(out: np.ndarray, path: np.ndarray, flag: np.ndarray, level: np.ndarray | None, clock: Clock) -> None:
    if level is not None and flag[clock.step, clock.stage]:
        np.copyto(out, level)
    else:
        out.fill(path[clock.step, clock.stage])


def _event(out: np.ndarray, pulses: np.ndarray, clock: Clock) -> None:
    out.fill(pulses[clock.step])


# --- decoders: a tape row -> (kernel, arguments) -------------------------------------------------


def _operands(row: Sequence[int], last: int = COUNT) -> list[int]:
    """The columns (2..) of an instruction's register operands."""
    return [k for k in range(2, last) if row[k] >= 0]


def _check_encoding(row: Sequence[int]) -> None:
    """An element count or stride mask this interpreter does not know is an error, never a silent no-op."""
    if row[COUNT] < 1 or row[STRIDES] & ~STRIDE_BITS or (row[0] == Op.SUM and not row[STRIDES] & 1):
        raise PolicyLabError(f"the NumPy interpreter cannot run tape row {list(row)}: element count "
                             f"{row[COUNT]}, strides {row[STRIDES]:#b}")


_PER_ELEMENT = frozenset({Op.UNIFORM, Op.NORMAL, Op.LOGNORMAL, Op.POISSON, Op.EXPONENTIAL, Op.LEVER, Op.EVENT})


def _per_element(row: Sequence[int]) -> bool:
    """Whether a block instruction runs element by element: its non-register operands (call sites,
    levers, events; a lookup's tables when they advance) differ between elements."""
    return row[0] in _PER_ELEMENT or (row[0] == Op.LOOKUP and bool(row[STRIDES] & 0b10))


def _elementwise(reading: dict[tuple[int, int], np.ndarray]) -> dict[tuple[int, int], np.ndarray]:
    """``reading`` for a block instruction run element by element: a block's ``(count, 1)`` cells are also its
    elements' ``(1,)`` cells, for the one-element rows :func:`_split` makes (else they would read stale rows)."""
    split = dict(reading)
    for (register, n), value in reading.items():
        if n > 1:
            split.update({(register + e, 1): value[e] for e in range(n)})
    return split


def _split(row: Sequence[int]) -> list[list[int]]:
    """A block instruction as one instruction per element (the tape's element rule, spelled out)."""
    mask = row[STRIDES]
    return [[row[0], row[1] + e, *[row[k] + e * ((mask >> (k - 2)) & 1) if row[k] >= 0 else row[k]
                                   for k in range(2, COUNT)], 1, 0] for e in range(row[COUNT])]


def _function(impl: Callable[..., Value]) -> Decoder:
    """A pure kernel: a ufunc writes into the output row; any other function's result is copied there."""
    ufunc = getattr(impl, "ufunc", impl)

    def decode(m: Machine, row: Sequence[int]) -> Instruction:
        rows = [m.argument(row, k) for k in _operands(row)]
        if isinstance(ufunc, np.ufunc) and ufunc.nin == len(rows):
            return _KEYWORD_OUT.get(ufunc, ufunc), (*rows, m.output(row))
        return _assign, (impl, m.output(row), *rows)

    return decode


def _of_time(impl: Callable[..., Value]) -> Decoder:
    def decode(m: Machine, row: Sequence[int]) -> Instruction:
        return _timed, (impl, m.output(row), m.rows[0], m.dt, *[m.argument(row, k) for k in _operands(row)])

    return decode


def _random(impl: Callable[..., Value]) -> Decoder:
    def decode(m: Machine, row: Sequence[int]) -> Instruction:
        if m.draws is None:
            raise PolicyLabError("this evaluation has no random streams; random calls need them")
        return _drawn, (impl, m.rows[row[1]], m.draws, row[4], m.clock, *[m.operand(row[k]) for k in _operands(row, 4)])

    return decode


def _mov(m: Machine, row: Sequence[int]) -> Instruction:
    return np.copyto, (m.output(row), m.argument(row, 2))


def _select_row(m: Machine, row: Sequence[int]) -> Instruction:
    return _select, (m.argument(row, 2), m.argument(row, 3), m.argument(row, 4), m.output(row))


def _clip0(m: Machine, row: Sequence[int]) -> Instruction:
    return _maximum, (m.argument(row, 2), 0.0, m.output(row))


def _lookup(m: Machine, row: Sequence[int]) -> Instruction:
    return _assign, (m.table(row[3]), m.output(row), m.argument(row, 2))


def _sum(block: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    """The rows of ``block`` added in ``opcodes.pairwise``'s order (as the numba interpreter adds them): one
    call per halving of the rows still to add."""
    n = block.shape[0]
    h = n // 2
    if h == 0:
        np.copyto(out, block[0])
        return
    np.add(block[:h], block[n - h:], out=scratch[:h])
    if n - h > h:
        np.copyto(scratch[h], block[h])
    m = n - h
    while m > 1:
        h = m // 2
        np.add(scratch[:h], scratch[m - h:m], out=scratch[:h])
        m -= h
    np.copyto(out, scratch[0])


def _sum_row(m: Machine, row: Sequence[int]) -> Instruction:
    n = row[COUNT]
    return _sum, (m.registers[row[2]:row[2] + n], m.rows[row[1]], np.empty((n - n // 2, m.width)))


def _lever_row(m: Machine, row: Sequence[int]) -> Instruction:
    k, level = row[2], row[3]
    tape = m.tape
    return _lever, (m.rows[row[1]], tape.lever_path[:, :, k], tape.lever_flag[:, :, k],
                    m.rows[level] if level >= 0 else None, m.clock)


def _event_row(m: Machine, row: Sequence[int]) -> Instruction:
    return _event, (m.rows[row[1]], m.tape.events[:, row[2]], m.clock)


def _kernels() -> dict[Op, Decoder]:
    """Every opcode's decoder: the registry's rows and operators, then the machine's own instructions."""
    table: dict[Op, Decoder] = {}
    by_kind = {"pure": _function, "time": _of_time, "random": _random}
    for row in BUILTINS.values():
        if row.opcode is not None and row.kind in by_kind and row.impl is not None:
            table.setdefault(Op[row.opcode], by_kind[row.kind](row.impl))
    for operator in OPERATORS.values():
        table[Op[operator.opcode]] = _function(operator.kernel)
    table.update({Op.MOV: _mov, Op.SELECT: _select_row, Op.CLIP0: _clip0, Op.LOOKUP: _lookup, Op.LEVER: _lever_row,
                  Op.EVENT: _event_row, Op.SUM: _sum_row})
    return table


KERNELS = _kernels()
DISPATCHED = frozenset(KERNELS)  # tests check that every Op is here, as in the numba interpreter


def _decoder(op: int) -> Decoder:
    try:
        return KERNELS[Op(op)]
    except (KeyError, ValueError):
        raise PolicyLabError(f"the NumPy interpreter has no opcode {op}; give it a kernel in the op registry") from None


__all__ = ["DISPATCHED", "KERNELS", "Clock", "Draws", "Machine", "evaluate", "run", "table_of"]
