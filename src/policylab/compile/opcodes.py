"""Lower a bound plan into a register machine's tape: arrays of opcodes, never source code.

The tape is the one definition of what a model computes. Both engines run it: the NumPy
backend (:mod:`policylab.compile.interpret`, one NumPy call per instruction over all runs)
and the compiled backend (``policylab.simulate.numba_kernels``, a fixed interpreter written
once and compiled ahead of use). Constant sub-trees, and rates that depend on constants
alone, are folded here with the op registry's NumPy kernels, the ones the NumPy
interpreter runs; so the engines differ only where NumPy's SIMD transcendental functions
(``exp``, ``log``, ``sin``…) and the C library's round the last bit differently.

The machine
-----------
Every value lives in a *register*: one float64 per run of a block of runs. Register 0 is
TIME; then one register per slot of the :class:`~policylab.compile.plan.Program`
(stocks, rates, levers, events, pipeline outputs); then constants (one scalar for all
runs, or one value per run); then temporaries, reused between equations. An instruction
is a row ``(op, out, a, b, c, d)`` of an int64 array: ``out`` and the operands are
register numbers, except where an :class:`Op` says otherwise (a lookup table, a lever,
an event or a random call site). Element-wise instructions read their operands before
they write ``out``, so ``out`` may be one of them; but the lowering gives a computed value a
temporary none of its operands holds: a compiled loop that writes a register it reads fails
LLVM's run-time overlap check and runs unvectorised, about 3x slower (``temp`` is taken before
the operands are released).

Three sections of one tape: ``init`` (inputs, then start values in dependency order),
``stage`` (inputs, then rates in evaluation order; run once per Euler step, four times
per RK4 step) and ``deriv`` (the net flow of each stock). Levers, events and the clock
are tabulated per scenario for every step and RK4 stage, so the interpreter never calls
back into Python.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

import numpy as np

from policylab.compile.desugar import Draw, LookupCall, describe
from policylab.compile.inputs import Inputs, LeverInput
from policylab.compile.lookups import lookup_function
from policylab.compile.plan import CompiledModel, Program, per_run
from policylab.errors import ExpressionError, PolicyLabError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp
from policylab.expr.builtins import BUILTINS, OPERATORS, TIME_TOLERANCE, Builtin, Value, find_builtin
from policylab.model.ir import Event, Lever, Lookup, Method, Model, Schedule


class Op(IntEnum):
    """Instruction codes. Operands are registers unless noted."""

    MOV = 0  # out = a
    ADD = 1
    SUB = 2
    MUL = 3
    DIV = 4
    NEG = 5
    POW = 6
    MOD = 7  # numpy.mod: the sign of the divisor
    LT = 8
    LE = 9
    GT = 10
    GE = 11
    EQ = 12
    NE = 13
    AND = 14
    OR = 15
    NOT = 16
    SELECT = 17  # out = a if c != 0 else b; operands (c, a, b) in columns (a, b, c)
    SELECT0 = 18  # IF_THEN_ELSE: the same, plus 0.0 (no negative zero)
    MIN = 19
    MAX = 20
    CLIP0 = 21  # numpy.maximum(a, 0.0): non-negative flows
    ABS = 22
    EXP = 23
    LN = 24
    LOG10 = 25
    SQRT = 26
    SIN = 27
    COS = 28
    TAN = 29
    ASIN = 30
    ACOS = 31
    ATAN = 32
    FLOOR = 33
    ROUND = 34
    TRUNC = 35
    FMOD = 36
    XIDZ = 37  # a / b, or c when b == 0
    STEP = 38  # (height, start)
    PULSE = 39  # (volume, first, interval)
    RAMP = 40  # (slope, start, end)
    PULSE_TRAIN = 41  # (start, width, interval, end)
    LOOKUP = 42  # a: argument register, b: table number
    UNIFORM = 43  # (low, high), c: call site
    NORMAL = 44  # (mean, sd), c: call site
    LOGNORMAL = 45  # (mean, sd), c: call site
    POISSON = 46  # (mean), c: call site
    EXPONENTIAL = 47  # (mean), c: call site
    LEVER = 48  # a: lever number, b: register of its per-run level (or -1)
    EVENT = 49  # a: event number
    SIGN = 50
    SUM = 51  # out = a[0] + a[1] + ... + a[count - 1], added in ``pairwise``'s order: a reduction over a block (out does not advance)
    # New opcodes go at the end: the numba interpreter's cached machine code holds these numbers.


class Extrapolation(IntEnum):
    """How a lookup table behaves outside its points (``Lookup.extrapolation``)."""

    CLAMP = 0
    LINEAR = 1
    DISCRETE = 2


class Search(IntEnum):
    """How the interpreter finds a lookup's interval (``Tape.table_index[:, 3]``)."""

    GENERIC = 0  # binary search with numpy.interp's guards (tables with non-finite values or slopes)
    GRID = 1  # a guess from a near-uniform grid, corrected by one step each way
    BRANCHLESS = 2  # a binary search without data-dependent branches


class Unsupported(PolicyLabError):
    """A tape the numba interpreter cannot run (an opcode it lacks, an unsorted lookup); the caller runs the
    NumPy interpreter instead."""


def _opcodes(kind: str) -> dict[str, Op]:
    """Builtins of ``kind`` and their opcodes, from the registry."""
    return {name: Op[row.opcode] for name, row in BUILTINS.items() if row.kind == kind and row.opcode is not None}


_PURE_OPS = _opcodes("pure")
_TIME_OPS = _opcodes("time")
_DRAW_OPS = _opcodes("random")  # each reads its required arguments (a seed after them is ignored)
_OPERATOR_OPS: dict[str, Op] = {symbol: Op[o.opcode] for symbol, o in OPERATORS.items()}

_VARYING = frozenset({Op.STEP, Op.PULSE, Op.RAMP, Op.PULSE_TRAIN, Op.UNIFORM, Op.NORMAL, Op.LOGNORMAL, Op.POISSON,
                      Op.EXPONENTIAL, Op.LEVER, Op.EVENT})  # never hoisted: they depend on time or draw

TIME_REGISTER = 0
_MIN_SUM = 4  # a sum of this many consecutive registers or more becomes one SUM instruction
WIDTH = 8  # columns of a tape row: op, out, a, b, c, d, count, strides
COUNT, STRIDES = 6, 7
"""A row applies to ``count`` elements: element ``e`` writes ``out + e`` and reads operand column
``k`` (2..5) at ``row[k] + e`` when bit ``k - 2`` of ``strides`` is set, else at ``row[k]`` (one
register or value broadcast to every element). This holds for non-register operands too: an
arrayed lookup's element tables, its draws' call sites and levers are consecutive numbers."""
STRIDE_BITS = 0b1111


def alternating(count: int, out: int, scratch: int) -> list[int]:
    """Where each of a chain of ``count`` instructions writes, each reading the one before: the last
    writes ``out``, and none the register it reads (see the module's note on overlap)."""
    return [out if (count - 1 - j) % 2 == 0 else scratch for j in range(count)]


def row(op: Op, out: int, *operands: int, count: int = 1, strides: int = 0) -> list[int]:
    """One tape row: ``op`` writing ``out`` (and the ``count - 1`` registers after it) from ``operands``."""
    return [int(op), out, *operands, *([-1] * (4 - len(operands))), count, strides]


_CONST = 1 << 40  # provisional numbering while lowering: constants and temporaries are renumbered at the end
_TEMP = 1 << 41


@dataclass(frozen=True)
class K:
    """A folded value: a float for all runs, or one per run."""

    value: float | np.ndarray


Node = K | int  # a folded value, or the register that will hold the value


@dataclass(frozen=True)
class Block:
    """The registers of N elements' values: element ``e`` in ``base + e * stride`` (stride 0: one for all)."""

    base: int
    stride: int


VNode = tuple[K, ...] | Block  # the elements' folded values, or their registers


class _Lockstep(Exception):
    """A group of elements whose equations cannot be lowered together (the caller lowers them one by one)."""


T = TypeVar("T")


def pairwise(terms: Sequence[T], add: Callable[[T, T], T]) -> T:
    """The sum of ``terms`` in the one order every engine adds a sum of names (a SUM instruction, a folded sum):
    halving, each of the first half of the terms still to add taking one of the last half, the middle term
    of an odd count waiting, until one is left.

    Both interpreters add a SUM's block this way in a few passes over rows (NumPy: one call per halving,
    where adding row after row cost a call per element), and the same terms give the same bits whether
    folded, in registers, in a scalar equation or in an arrayed one.
    """
    items = list(terms)
    m = len(items)
    while m > 1:
        h = m // 2
        for e in range(h):
            items[e] = add(items[e], items[m - h + e])
        m -= h
    return items[0]


def _summed_names(expr: Expr) -> list[Name | Subscript] | None:
    """The terms of a chain of ``+`` when all are names and there are at least ``_MIN_SUM``, else None."""
    leaves: list[Name | Subscript] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, BinOp) and node.op == "+":
            stack += [node.right, node.left]
        elif isinstance(node, (Name, Subscript)):
            leaves.append(node)
        else:
            return None
    return leaves if len(leaves) >= _MIN_SUM else None


def _summed_columns(exprs: list[Expr]) -> list[list[Name | Subscript]] | None:
    """The elements' sums of names as columns (term k of every element), when each element's equation is one
    with the same number of terms: lowered in ``pairwise``'s order as a scalar equation's would be."""
    chains = [_summed_names(e) for e in exprs]
    if any(c is None or len(c) != len(chains[0]) for c in chains):  # type: ignore[arg-type]
        return None
    return [list(column) for column in zip(*chains, strict=True)]  # type: ignore[misc]


def _same(exprs: list, field: str) -> None:
    """Raise :class:`_Lockstep` unless every expression has the same ``field`` (operator, function)."""
    first = getattr(exprs[0], field)
    if any(getattr(e, field) != first for e in exprs):
        raise _Lockstep


def _written(code_row: list[int]) -> int:
    """How many registers a row writes: its count, or one for a reduction."""
    return 1 if code_row[0] == int(Op.SUM) else code_row[COUNT]


@dataclass(frozen=True)
class Tape:
    """Everything the interpreter needs for one call, as arrays.

    Shapes: ``code (n_ops, 6)``; ``lever_path``/``lever_flag (n_steps + 1, stages, n_levers)``;
    ``events (n_steps + 1, n_events)``; ``times (n_steps + 1, stages)`` with ``stages`` 1
    (Euler) or 4 (RK4: the stage times ``t``, ``t + dt/2``, ``t + dt/2``, ``t + dt``).
    """

    code: np.ndarray
    init: tuple[int, int]
    stage: tuple[int, int]
    deriv: tuple[int, int]
    n_registers: int
    scalar_registers: np.ndarray
    scalar_values: np.ndarray
    run_registers: np.ndarray
    run_values: np.ndarray  # (n, runs)
    stock_registers: np.ndarray
    deriv_registers: np.ndarray
    non_negative: np.ndarray  # rows of stocks clipped at zero
    rate_registers: np.ndarray  # in evaluation order, for naming a non-finite rate
    pipelines: np.ndarray  # (n_pipes, 4): out, source, delay (-1: one step), init
    table_index: np.ndarray  # (n_tables, 4): offset, length, extrapolation, uniform grid (0/1)
    table_data: np.ndarray  # per table: xs, +inf, ys, slopes (length - 1, padded to length)
    table_params: np.ndarray  # (n_tables, 4): low slope, high slope, first x, 1 / grid step
    lever_path: np.ndarray
    lever_flag: np.ndarray
    events: np.ndarray
    times: np.ndarray
    method: Method
    names: dict[int, str]  # register -> slot name, for messages and saving


def lower(compiled: CompiledModel, program: Program, inputs: Inputs, lockstep: bool = True) -> Tape:
    """The tape of ``program`` (bound from ``compiled`` and ``inputs``).

    The elements of an array whose equations have one shape are lowered together, one
    instruction per node over all of them (``lockstep``; False lowers every element alone,
    for comparison).

    Raises :class:`Unsupported` for a construct the interpreter does not know, so the
    caller can fall back to the NumPy backend rather than compute something else.
    """
    with np.errstate(all="ignore"):
        return _Lowering(compiled, program, inputs, lockstep).tape()


class _Expressions:
    """Lowers expressions into instructions over numbered registers, folding what is constant.

    ``values`` are the folded names (a float for all runs or one value per run), ``slots``
    the names that live in registers (register = slot + 1; register 0 is TIME).
    """

    def __init__(self, values: dict[str, Value], slots: dict[str, int], lookups: dict[str, Lookup],
                 deterministic: bool, dt: float, parameters: tuple[str, ...] = ()) -> None:
        self.values = values
        self.slots = slots
        self.lookups = lookups
        self.deterministic = deterministic
        self.dt = dt
        self.owner, self.where = "", ""  # the equation being lowered, for messages
        self.code: list[list[int]] = []
        self.scalars: dict[bytes, int] = {}
        self.scalar_values: list[float] = []
        self.per_run: dict[int, int] = {}
        self.per_run_values: list[np.ndarray] = []
        self.free: list[int] = []
        self.n_temps = 0
        self.tables: dict[str, int] = {}
        self.table_list: list[Lookup] = []
        # loop-invariant code: what depends only on constants and parameter slots runs once, first
        self.prelude: list[list[int]] = []
        self.invariant: set[int] = {self.slot(n) for n in parameters}
        self.hoisted: dict[tuple, int] = {}
        self.bound: dict[int, int] = {}  # rate slot -> the invariant register the prelude copies into it
        self.blocks: dict[int, int] = {}  # first register of a temporary block -> its length
        self.free_blocks: dict[int, list[int]] = {}  # length -> released blocks
        # (first register, count) -> the register of that block's SUM in the section being lowered: a name's
        # register is written once per section, before anything reads it, so the sum holds to the section's end
        # (models write SUM(x[*]) in several equations; each was a pass over the whole array)
        self.sums: dict[tuple[int, int], int] = {}
        self.kept: set[int] = set()  # registers never released nor retargeted (the sums')

    # registers ---------------------------------------------------------------------------
    def slot(self, name: str) -> int:
        return self.slots[name] + 1

    def const(self, value: float | np.ndarray) -> int:
        if isinstance(value, np.ndarray) and value.ndim:
            key = id(value)
            if key not in self.per_run:
                self.per_run[key] = len(self.per_run_values)
                self.per_run_values.append(np.asarray(value, dtype=float))
            return _CONST + 2 * self.per_run[key] + 1
        number = float(value)
        bits = struct.pack("<d", number)
        if bits not in self.scalars:
            self.scalars[bits] = len(self.scalar_values)
            self.scalar_values.append(number)
        return _CONST + 2 * self.scalars[bits]

    def reg(self, node: Node) -> int:
        return self.const(node.value) if isinstance(node, K) else node

    def temp(self) -> int:
        if self.free:
            return self.free.pop()
        self.n_temps += 1
        return _TEMP + self.n_temps - 1

    def release(self, *registers: int) -> None:
        for r in registers:
            if r >= _TEMP and r not in self.invariant and r not in self.kept:
                if r in self.blocks:
                    pool = self.free_blocks.setdefault(self.blocks[r], [])
                    if r not in pool:
                        pool.append(r)
                elif r not in self.free:
                    self.free.append(r)

    def is_invariant(self, node: Node) -> bool:
        """A folded value, a constant register, a parameter slot or a hoisted result: the same at every step."""
        return isinstance(node, K) or _CONST <= node < _TEMP or node in self.invariant

    def discard(self, *nodes: Node) -> None:
        """Forget values an instruction does not read (their temporaries become free)."""
        self.release(*[n for n in nodes if isinstance(n, int)])

    def emit(self, op: Op, *operands: Node, extra: tuple[int, ...] = ()) -> int:
        """Append ``op`` over ``operands``; return the (temporary) register it writes.

        An instruction of invariant operands that does not depend on time or draw goes to the
        prelude instead, once per tape, into a register of its own.
        """
        if op not in _VARYING and all(self.is_invariant(o) for o in operands):
            return self.hoist(op, [self.reg(o) for o in operands], extra)
        registers = [self.reg(o) for o in operands]
        out = self.temp()  # before the operands are freed: never a register the instruction reads
        self.release(*registers)
        self.code.append(row(op, out, *registers, *extra))
        return out

    def hoist(self, op: Op, registers: list[int], extra: tuple[int, ...]) -> int:
        """The register of ``op`` over invariant ``registers``, emitted to the prelude the first time."""
        key = (int(op), *registers, *extra)
        if key not in self.hoisted:
            out = _TEMP + self.n_temps  # a dedicated register: never released
            self.n_temps += 1
            self.prelude.append(row(op, out, *registers, *extra))
            self.hoisted[key] = out
            self.invariant.add(out)
        return self.hoisted[key]

    def rate_into(self, node: Node, target: int) -> None:
        """``into`` for a rate's slot: an invariant rate is copied there once, in the prelude."""
        if isinstance(node, int) and node in self.invariant:
            if self.bound.get(target) != node:  # the init section and the stage section both lower each rate
                self.prelude.append(row(Op.MOV, target, node))
                self.bound[target] = node
            return
        self.into(node, target)

    def into(self, node: Node, target: int) -> None:
        """Make ``target`` hold ``node``: retarget the instruction that computed it, else copy."""
        if (isinstance(node, int) and node >= _TEMP and node not in self.kept and self.code and self.code[-1][1] == node
                and _written(self.code[-1]) == 1):
            self.code[-1][1] = target
            self.release(node)
            return
        self.emit_to(Op.MOV, target, node)

    def emit_to(self, op: Op, target: int, *operands: Node) -> None:
        registers = [self.reg(o) for o in operands]
        self.release(*registers)
        self.code.append(row(op, target, *registers))

    def fail(self, message: str) -> ExpressionError:
        """An error in the equation being lowered, naming its file line and variable."""
        return ExpressionError(f"{self.where}: {describe(self.owner)}: {message}")

    # expressions ------------------------------------------------------------------------
    def node(self, expr: Expr) -> Node:
        """A folded value, or the register an instruction computes ``expr`` into.

        Sub-trees of folded values are folded with the registry's NumPy kernels (the ones the
        interpreters run), so a value is the same whether folded or computed.
        """
        match expr:
            case Num(value=v):
                return K(float(v))
            case Name(name=n) | Subscript(name=n):
                return self.name(n)
            case UnaryOp(op=op, operand=o):
                inner = self.node(o)
                if op == "+":
                    return inner
                if isinstance(inner, K):
                    return K(-inner.value)
                return self.emit(Op.NEG, inner)
            case BinOp(op="+") if (total := self.block_sum(expr)) is not None:
                return total
            case BinOp(op=op, left=a, right=b) | Compare(op=op, left=a, right=b) | BoolOp(op=op, left=a, right=b):
                return self.binary(OPERATORS[op].fold, _OPERATOR_OPS[op], self.node(a), self.node(b))
            case Not(operand=o):
                inner = self.node(o)
                if isinstance(inner, K):
                    return K(OPERATORS["not"].fold(inner.value))
                return self.emit(Op.NOT, inner)
            case IfThenElse(condition=c, then=a, otherwise=b):
                cond = self.node(c)
                if isinstance(cond, K) and np.ndim(cond.value) == 0:
                    return self.node(a if cond.value else b)  # the branch not taken is never lowered
                return self.emit(Op.SELECT, cond, self.node(a), self.node(b))
            case Call():
                return self.call(expr)
            case LookupCall(table=t, arg=a):
                arg = self.node(a)
                if isinstance(arg, K):
                    return K(lookup_function(self.lookups[t])(arg.value))
                return self.emit(Op.LOOKUP, arg, extra=(self.table(t),))
            case Draw():
                return self.draw(expr)
        raise self.fail(f"cannot compile {expr!r}")

    def binary(self, fold, op: Op, a: Node, b: Node) -> Node:  # type: ignore[no-untyped-def]
        if isinstance(a, K) and isinstance(b, K):
            return K(fold(a.value, b.value))
        # identities exact for every double (NaN, infinities and -0 included): x*1, 1*x, x/1, x-0
        if (op in (Op.MUL, Op.DIV) and self.scalar_of(b) == 1.0) or (op == Op.SUB and self.scalar_of(b) == 0.0):
            self.discard(b)
            return a
        if op == Op.MUL and self.scalar_of(a) == 1.0:
            self.discard(a)
            return b
        return self.emit(op, a, b)

    def block_sum(self, expr: BinOp) -> Node | None:
        """A sum of names (``SUM(x[*])``, ``a + b + c + d``) added in ``pairwise``'s order: one SUM instruction
        when they are held in consecutive registers (an array's elements), else folded or added term by term
        in that order; None for any other sum (added left to right)."""
        leaves = _summed_names(expr)
        if leaves is None:
            return None
        registers = [self.name(leaf.name) for leaf in leaves]  # type: ignore[attr-defined]
        first = registers[0]
        if not isinstance(first, int) or any(r != first + e for e, r in enumerate(registers)):  # type: ignore[operator]
            return pairwise(registers, lambda a, b: self.binary(OPERATORS["+"].fold, Op.ADD, a, b))
        n = len(registers)
        if all(self.is_invariant(first + e) for e in range(n)):
            key = ("sum", first, n)
            if key not in self.hoisted:
                out = _TEMP + self.n_temps
                self.n_temps += 1
                self.prelude.append(row(Op.SUM, out, first, count=n, strides=1))
                self.hoisted[key] = out
                self.invariant.add(out)
            return self.hoisted[key]
        if (first, n) in self.sums:
            return self.sums[first, n]
        out = _TEMP + self.n_temps  # a dedicated register: a later sum of the same block in this section reads it
        self.n_temps += 1
        self.kept.add(out)
        self.code.append(row(Op.SUM, out, first, count=n, strides=1))
        self.sums[first, n] = out
        return out

    def scalar_of(self, node: Node) -> float | None:
        """The value of a folded scalar or a scalar constant's register, else None (x + 0 is not x for x = -0)."""
        if isinstance(node, K):
            return float(node.value) if np.ndim(node.value) == 0 else None
        if _CONST <= node < _TEMP and (node - _CONST) % 2 == 0:
            return self.scalar_values[(node - _CONST) // 2]
        return None

    def name(self, name: str) -> Node:
        if name in self.values:
            return K(self.values[name])
        if name in self.slots:
            return self.slot(name)
        if name == "time":
            return TIME_REGISTER
        if name in ("dt", "time_step"):
            return self.const(self.dt)
        if name in self.lookups:
            raise self.fail(f"{name} is a lookup; call it as {name}(x)")
        raise self.fail(f"{name!r} has no value here")

    def function(self, name: str) -> Builtin:
        """The registry row of a pure or clock builtin the tape computes (else the equation's error)."""
        spec = find_builtin(name)
        if spec is None or spec.impl is None or spec.kind not in ("pure", "time"):
            raise self.fail(f"unknown function {name.upper()}()")
        return spec

    def opcode(self, spec: Builtin) -> Op:
        """The opcode of a pure builtin (a registry row without one is the registry's error, named here)."""
        if spec.name not in _PURE_OPS:
            raise self.fail(f"{spec.name.upper()}() has no opcode; give its registry row one")
        return _PURE_OPS[spec.name]

    def call(self, expr: Call) -> Node:
        spec = self.function(expr.func)
        nodes = [self.node(a) for a in expr.args]
        if spec.kind == "time":
            return self.emit(_TIME_OPS[spec.name], *_with_defaults(spec, nodes))
        if all(isinstance(n, K) for n in nodes):
            return K(spec.impl(*[n.value for n in nodes]))  # type: ignore[union-attr]
        op = self.opcode(spec)
        if op in (Op.MIN, Op.MAX):
            result = nodes[0]
            for other in nodes[1:]:
                result = self.emit(op, result, other)
            return result
        return self.emit(op, *_with_defaults(spec, nodes))

    def draw(self, expr: Draw) -> Node:
        spec = find_builtin(expr.func)
        if spec is None or spec.mean is None or spec.name not in _DRAW_OPS:
            raise self.fail(f"unknown random function {expr.func.upper()}()")
        nodes = [self.node(a) for a in expr.args]
        if self.deterministic:
            if all(isinstance(n, K) for n in nodes):
                return K(spec.mean(*[n.value for n in nodes]))  # type: ignore[union-attr]
            if spec.name == "uniform":
                return self.emit(Op.DIV, self.emit(Op.ADD, nodes[0], nodes[1]), K(2))
            self.discard(*nodes[1:])
            return nodes[0]
        arity = spec.min_args
        self.discard(*nodes[arity:])
        return self.emit(_DRAW_OPS[spec.name], *nodes[:arity], extra=(expr.site,) if arity == 2 else (-1, expr.site))

    def table(self, name: str) -> int:
        if name not in self.tables:
            self.tables[name] = len(self.table_list)
            self.table_list.append(self.lookups[name])
        return self.tables[name]

    def equation(self, expr: Expr, non_negative: bool) -> Node:
        node = self.node(expr)
        if non_negative:
            node = K(np.maximum(node.value, 0.0)) if isinstance(node, K) else self.emit(Op.CLIP0, node)
        return node

    # arrays: the elements of one array lowered together, one instruction per node ---------------
    def snapshot(self) -> tuple:
        """The lowering's state, to undo a group that turns out not to be lowerable in lockstep."""
        return (len(self.code), len(self.prelude), self.n_temps, list(self.free), dict(self.scalars),
                len(self.scalar_values), dict(self.per_run), len(self.per_run_values), dict(self.tables),
                len(self.table_list), dict(self.hoisted), set(self.invariant), dict(self.bound), dict(self.blocks),
                {k: list(v) for k, v in self.free_blocks.items()}, dict(self.sums), set(self.kept))

    def restore(self, state: tuple) -> None:
        (n_code, n_prelude, self.n_temps, self.free, self.scalars, n_scalar, self.per_run, n_per_run, self.tables,
         n_tables, self.hoisted, self.invariant, self.bound, self.blocks, self.free_blocks, self.sums, self.kept) = state
        del self.code[n_code:], self.prelude[n_prelude:], self.scalar_values[n_scalar:]
        del self.per_run_values[n_per_run:], self.table_list[n_tables:]

    def temp_block(self, n: int) -> int:
        """The first of ``n`` consecutive temporaries (a released block of that length when there is one)."""
        pool = self.free_blocks.get(n)
        if pool:
            return pool.pop()
        base = _TEMP + self.n_temps
        self.n_temps += n
        self.blocks[base] = n
        return base

    def const_block(self, values: list[Value]) -> int:
        """The first of consecutive constant registers holding ``values`` (one per element)."""
        if any(isinstance(v, np.ndarray) and v.ndim for v in values):
            width = next(np.shape(v)[0] for v in values if np.ndim(v))
            base = _CONST + 2 * len(self.per_run_values) + 1
            self.per_run_values.extend(np.broadcast_to(np.asarray(v, dtype=float), (width,)).copy() for v in values)
            return base
        base = _CONST + 2 * len(self.scalar_values)
        self.scalar_values.extend(float(v) for v in values)
        return base

    def block(self, node: VNode) -> Block:
        """``node``'s registers: folded values go to a shared constant (all equal) or a constant block."""
        if isinstance(node, Block):
            return node
        values = [k.value for k in node]
        first = values[0]
        if np.ndim(first) == 0 and all(np.ndim(v) == 0 and struct.pack("<d", float(v)) == struct.pack("<d", float(first))
                                       for v in values):
            return Block(self.const(first), 0)
        if all(np.ndim(v) and v is first for v in values):
            return Block(self.const(first), 0)
        return Block(self.const_block(values), 1)

    def block_invariant(self, node: VNode, n: int) -> bool:
        if not isinstance(node, Block):
            return True
        return all(self.is_invariant(node.base + e * node.stride) for e in range(n if node.stride else 1))

    def vemit(self, op: Op, n: int, operands: list[VNode], extra: tuple[tuple[int, int], ...] = ()) -> Block:
        """``op`` over the elements of ``operands`` as one instruction; ``extra`` are non-register columns
        (number, stride). Operands all broadcast make a scalar instruction."""
        blocks = [self.block(o) for o in operands]
        if all(b.stride == 0 for b in blocks) and all(stride == 0 for _, stride in extra):
            return Block(self.emit(op, *[b.base for b in blocks], extra=tuple(v for v, _ in extra)), 0)
        columns = [b.base for b in blocks] + [v for v, _ in extra]
        strides = sum(1 << k for k, stride in enumerate([b.stride for b in blocks] + [s for _, s in extra]) if stride)
        if op not in _VARYING and all(self.block_invariant(b, n) for b in blocks):
            key = ("block", int(op), *columns, n, strides)
            if key not in self.hoisted:
                out = _TEMP + self.n_temps  # a dedicated block: never released
                self.n_temps += n
                self.prelude.append(row(op, out, *columns, count=n, strides=strides))
                self.hoisted[key] = out
                self.invariant.update(range(out, out + n))
            return Block(self.hoisted[key], 1)
        out = self.temp_block(n)  # before the operands are freed, as ``emit``
        self.release(*[b.base for b in blocks])
        self.code.append(row(op, out, *columns, count=n, strides=strides))
        return Block(out, 1)

    def vnames(self, names: list[str]) -> VNode:
        """The elements' values of ``names``: folded, a register block, one shared register, or gathered."""
        nodes = [self.name(name) for name in names]
        if all(isinstance(k, K) for k in nodes):
            return tuple(nodes)  # type: ignore[arg-type]
        return self.gather(nodes)

    def gather(self, nodes: list[Node]) -> Block:
        """Registers (or values) one per element as a block: as they are when evenly spaced, else copied."""
        if all(isinstance(r, int) for r in nodes):
            first = nodes[0]
            if all(r == first for r in nodes):
                return Block(first, 0)  # type: ignore[arg-type]
            if all(r == first + e for e, r in enumerate(nodes)):  # type: ignore[operator]
                return Block(first, 1)  # type: ignore[arg-type]
        n = len(nodes)
        if all(self.is_invariant(r) for r in nodes):
            out = _TEMP + self.n_temps  # a dedicated block, filled once
            self.n_temps += n
            self.prelude.extend(row(Op.MOV, out + e, self.reg(r)) for e, r in enumerate(nodes))
            self.invariant.update(range(out, out + n))
            return Block(out, 1)
        out = self.temp_block(n)
        self.code.extend(row(Op.MOV, out + e, self.reg(r)) for e, r in enumerate(nodes))
        return Block(out, 1)

    def vnode(self, exprs: list[Expr]) -> VNode:
        """``node`` for the elements' equations at once (the same tree shape), or :class:`_Lockstep`."""
        first = exprs[0]
        if any(type(e) is not type(first) for e in exprs):
            raise _Lockstep
        n = len(exprs)
        match first:
            case Num():
                return tuple(K(float(e.value)) for e in exprs)  # type: ignore[attr-defined]
            case Name() | Subscript():
                return self.vnames([e.name for e in exprs])  # type: ignore[attr-defined]
            case UnaryOp(op=op):
                _same(exprs, "op")
                inner = self.vnode([e.operand for e in exprs])  # type: ignore[attr-defined]
                if op == "+":
                    return inner
                if isinstance(inner, tuple):
                    return tuple(K(-k.value) for k in inner)
                return self.vemit(Op.NEG, n, [inner])
            case BinOp(op="+") if (chains := _summed_columns(exprs)) is not None:
                columns = [self.vnames([leaf.name for leaf in column]) for column in chains]  # type: ignore[attr-defined]
                return pairwise(columns, lambda a, b: self.vbinary(OPERATORS["+"].fold, Op.ADD, n, a, b))
            case BinOp(op=op) | Compare(op=op) | BoolOp(op=op):
                _same(exprs, "op")
                a = self.vnode([e.left for e in exprs])  # type: ignore[attr-defined]
                b = self.vnode([e.right for e in exprs])  # type: ignore[attr-defined]
                return self.vbinary(OPERATORS[op].fold, _OPERATOR_OPS[op], n, a, b)
            case Not():
                inner = self.vnode([e.operand for e in exprs])  # type: ignore[attr-defined]
                if isinstance(inner, tuple):
                    return tuple(K(OPERATORS["not"].fold(k.value)) for k in inner)
                return self.vemit(Op.NOT, n, [inner])
            case IfThenElse():
                cond = self.vnode([e.condition for e in exprs])  # type: ignore[attr-defined]
                if isinstance(cond, tuple) and all(np.ndim(k.value) == 0 for k in cond):
                    taken = {bool(k.value) for k in cond}
                    if len(taken) > 1:
                        raise _Lockstep  # elements take different branches
                    branch = taken.pop()
                    return self.vnode([e.then if branch else e.otherwise for e in exprs])  # type: ignore[attr-defined]
                a = self.vnode([e.then for e in exprs])  # type: ignore[attr-defined]
                b = self.vnode([e.otherwise for e in exprs])  # type: ignore[attr-defined]
                return self.vemit(Op.SELECT, n, [cond, a, b])
            case Call():
                _same(exprs, "func")
                if len({len(e.args) for e in exprs}) > 1:  # type: ignore[attr-defined]
                    raise _Lockstep
                return self.vcall(exprs)  # type: ignore[arg-type]
            case LookupCall():
                arg = self.vnode([e.arg for e in exprs])  # type: ignore[attr-defined]
                tables = [e.table for e in exprs]  # type: ignore[attr-defined]
                if isinstance(arg, tuple):
                    return tuple(K(lookup_function(self.lookups[t])(k.value)) for t, k in zip(tables, arg, strict=True))
                return self.vemit(Op.LOOKUP, n, [arg], extra=(self.table_block(tables),))
            case Draw():
                _same(exprs, "func")
                return self.vdraw(exprs)  # type: ignore[arg-type]
        raise _Lockstep

    def vbinary(self, fold, op: Op, n: int, a: VNode, b: VNode) -> VNode:  # type: ignore[no-untyped-def]
        if isinstance(a, tuple) and isinstance(b, tuple):
            return tuple(K(fold(x.value, y.value)) for x, y in zip(a, b, strict=True))
        # the scalar lowering's identities, where every element has them
        if (op in (Op.MUL, Op.DIV) and self.vscalar_of(b) == 1.0) or (op == Op.SUB and self.vscalar_of(b) == 0.0):
            return a
        if op == Op.MUL and self.vscalar_of(a) == 1.0:
            return b
        return self.vemit(op, n, [a, b])

    def vscalar_of(self, node: VNode) -> float | None:
        """The one scalar every element of ``node`` holds, else None."""
        if isinstance(node, Block):
            return self.scalar_of(node.base) if node.stride == 0 else None
        values = {self.scalar_of(k) for k in node}
        return values.pop() if len(values) == 1 else None

    def vcall(self, exprs: list[Call]) -> VNode:
        spec = self.function(exprs[0].func)
        n = len(exprs)
        nodes = [self.vnode([e.args[k] for e in exprs]) for k in range(len(exprs[0].args))]
        defaults: list[VNode] = [tuple(K(v) for _ in exprs) for v in spec.defaults[len(nodes) - spec.min_args:]]
        if spec.kind == "time":
            return self.vemit(_TIME_OPS[spec.name], n, nodes + defaults)
        if all(isinstance(node, tuple) for node in nodes):
            return tuple(K(spec.impl(*[node[e].value for node in nodes])) for e in range(n))  # type: ignore[index]
        op = self.opcode(spec)
        if op in (Op.MIN, Op.MAX):
            result = nodes[0]
            for other in nodes[1:]:
                result = self.vemit(op, n, [result, other])
            return result
        return self.vemit(op, n, nodes + defaults)

    def vdraw(self, exprs: list[Draw]) -> VNode:
        spec = find_builtin(exprs[0].func)
        if spec is None or spec.mean is None or spec.name not in _DRAW_OPS:
            raise self.fail(f"unknown random function {exprs[0].func.upper()}()")
        if len({len(e.args) for e in exprs}) > 1:
            raise _Lockstep
        n = len(exprs)
        nodes = [self.vnode([e.args[k] for e in exprs]) for k in range(len(exprs[0].args))]
        if self.deterministic:
            if all(isinstance(node, tuple) for node in nodes):
                return tuple(K(spec.mean(*[node[e].value for node in nodes])) for e in range(n))  # type: ignore
            if spec.name == "uniform":
                total = self.vemit(Op.ADD, n, nodes[:2])
                return self.vemit(Op.DIV, n, [total, tuple(K(2) for _ in exprs)])
            self.release(*[node.base for node in nodes[1:] if isinstance(node, Block)])
            return nodes[0]
        sites = [e.site for e in exprs]
        if any(site != sites[0] + e for e, site in enumerate(sites)):
            raise _Lockstep  # each element's draws come from its own call site; here they are not consecutive
        arity = spec.min_args
        self.release(*[node.base for node in nodes[arity:] if isinstance(node, Block)])
        extra = ((sites[0], 1),) if arity == 2 else ((-1, 0), (sites[0], 1))
        return self.vemit(_DRAW_OPS[spec.name], n, nodes[:arity], extra=extra)

    def table_block(self, names: list[str]) -> tuple[int, int]:
        """Table numbers of the elements' lookups as (first, stride): one shared table, or consecutive tables."""
        if all(name == names[0] for name in names):
            return self.table(names[0]), 0
        numbers = [self.tables.get(name) for name in names]
        if numbers[0] is not None and all(k == numbers[0] + e for e, k in enumerate(numbers)):
            return numbers[0], 1  # type: ignore[return-value]
        first = len(self.table_list)
        for name in names:
            self.tables.setdefault(name, len(self.table_list))
            self.table_list.append(self.lookups[name])
        return first, 1

    def vequation(self, exprs: list[Expr], non_negative: bool) -> VNode:
        node = self.vnode(exprs)
        if non_negative:
            node = tuple(K(np.maximum(k.value, 0.0)) for k in node) if isinstance(node, tuple) else self.vemit(
                Op.CLIP0, len(exprs), [node])
        return node

    def vinto(self, node: Block, target: int, n: int) -> None:
        """``into`` for a block: retarget the instruction that computed it, else one copy of all elements."""
        last = self.code[-1] if self.code else None
        if (node.stride == 1 and node.base in self.blocks and last is not None and last[1] == node.base
                and last[COUNT] == n and last[0] != int(Op.SUM)):
            last[1] = target
            self.release(node.base)
            return
        self.release(node.base)
        self.code.append(row(Op.MOV, target, node.base, count=n, strides=node.stride))

    def vrate_into(self, node: Block, target: int, n: int) -> None:
        """``rate_into`` for a block: an invariant block is copied into the slots once, in the prelude."""
        if self.block_invariant(node, n):
            sources = [node.base + e * node.stride for e in range(n)]
            if any(self.bound.get(target + e) != source for e, source in enumerate(sources)):
                self.prelude.append(row(Op.MOV, target, node.base, count=n, strides=node.stride))
                self.bound.update({target + e: source for e, source in enumerate(sources)})
            return
        self.vinto(node, target, n)


class _Lowering(_Expressions):
    """Emits a plan's sections while walking the flat system in its orders; folds constant rates."""

    def __init__(self, compiled: CompiledModel, program: Program, inputs: Inputs, lockstep: bool = True) -> None:
        model = compiled.model
        lookups = {n: v for n, v in model.variables.items() if isinstance(v, Lookup)}
        super().__init__(dict(program.constants), program.slots, lookups, program.deterministic, model.time.dt,
                         program.parameters)
        self.compiled = compiled
        self.model: Model = model
        self.system = compiled.system
        self.program = program
        self.inputs = inputs
        self.folded: dict[int, Value] = {}  # register of a rate that folded to a value -> the value
        self.element_of = compiled.elements
        self.reads = compiled.reads
        self.lockstep = lockstep

    def rate(self, name: str) -> Node:
        """A rate's equation (clipped if non-negative); a rate that folds joins the folded values."""
        rate = self.system.rates[name]
        self.owner, self.where = name, str(rate.where)
        node = self.equation(rate.expr, rate.non_negative)
        if isinstance(node, K):
            value = per_run(node.value, self.program.runs)
            self.values[name] = value
            self.folded[self.slot(name)] = value
        return node

    def inputs_section(self) -> None:
        """A section starts (init, then stage) with its levers and events; sums of the last one are not held."""
        self.sums = {}
        for index, name in enumerate(self.model.of_kind(Lever)):
            level = self.inputs.levers[name].level
            per_run = isinstance(level, np.ndarray) and level.ndim > 0
            self.code.append(row(Op.LEVER, self.slot(name), index, self.const(level) if per_run else -1))
        for index, name in enumerate(self.model.of_kind(Event)):
            self.code.append(row(Op.EVENT, self.slot(name), index))

    def tape(self) -> Tape:
        system = self.system
        start = len(self.code)
        self.inputs_section()
        pipe_init = {p.out: p.init for p in system.pipelines}
        for chunk in self.chunks(self.compiled.init_order):
            if self.init_group(chunk):
                continue
            for name in chunk:
                if name in system.stocks:
                    stock = system.stocks[name]
                    self.owner, self.where = name, str(stock.where)
                    self.into(self.node(stock.initial), self.slot(name))
                elif name in system.rates and name not in self.values:
                    node = self.rate(name)
                    if not isinstance(node, K):
                        self.rate_into(node, self.slot(name))
                elif name in pipe_init:
                    source = pipe_init[name]
                    self.into(K(self.values[source]) if source in self.values else self.slot(source), self.slot(name))
        init = (start, len(self.code))
        self.inputs_section()
        rate_registers = []
        for chunk in self.chunks(self.compiled.rate_order):
            if self.rate_group(chunk):
                rate_registers += [self.slot(n) for n in chunk if self.slot(n) not in self.bound]
                continue
            for name in chunk:
                if name in self.values:  # folded: its register holds the value from the start
                    continue
                self.rate_into(self.rate(name), self.slot(name))
                if self.slot(name) not in self.bound:  # computed once, before the run: not a rate to name
                    rate_registers.append(self.slot(name))
        stage = (init[1], len(self.code))
        derivs: list[int] = []
        self.sums = {}
        for chunk in self.chunks(list(system.stocks)):
            derivs += self.derivative_group(chunk) or [
                self.derivative(system.stocks[n].inflows, system.stocks[n].outflows) for n in chunk]
        deriv = (stage[1], len(self.code))
        return self.finish(init, stage, deriv, derivs, rate_registers)

    def chunks(self, order: list[str] | tuple[str, ...]) -> list[list[str]]:
        """``order`` cut into runs of consecutive elements of one array (in element order); other names alone."""
        out: list[list[str]] = []
        previous: tuple[str, int] | None = None
        for name in order:
            this = self.element_of.get(name)
            if self.lockstep and this is not None and previous is not None and this == (previous[0], previous[1] + 1):
                out[-1].append(name)
            else:
                out.append([name])
            previous = this
        return out

    def consecutive(self, names: list[str]) -> bool:
        """Whether ``names`` have consecutive slots and none reads another (they can be one block)."""
        first = self.slot(names[0])
        return all(self.slot(n) == first + e for e, n in enumerate(names))

    def independent(self, names: list[str]) -> bool:
        """Whether no equation of ``names`` (a rate's, or a stock's start value) reads one of them."""
        own = set(names)
        return all(self.reads[n].isdisjoint(own) for n in names)

    def attempt(self, lower) -> bool:  # type: ignore[no-untyped-def]
        """Run ``lower`` (a group's lockstep lowering); on :class:`_Lockstep` undo what it emitted and say no."""
        state = self.snapshot()
        try:
            lower()
        except _Lockstep:
            self.restore(state)
            return False
        return True

    def rate_group(self, names: list[str]) -> bool:
        """Lower the rates ``names`` (elements of one array) together; False if they do not qualify."""
        rates = self.system.rates
        if (len(names) < 2 or any(n not in rates or n in self.values for n in names) or not self.consecutive(names)
                or len({rates[n].non_negative for n in names}) > 1
                or not self.independent(names)):
            return False

        def lower() -> None:
            self.owner, self.where = names[0], str(rates[names[0]].where)
            node = self.vequation([rates[n].expr for n in names], rates[names[0]].non_negative)
            if isinstance(node, tuple):
                for name, k in zip(names, node, strict=True):
                    value = per_run(k.value, self.program.runs)
                    self.values[name] = value
                    self.folded[self.slot(name)] = value
                return
            self.vrate_into(node, self.slot(names[0]), len(names))

        return self.attempt(lower)

    def init_group(self, names: list[str]) -> bool:
        """Start values of ``names`` (stocks or rates of one array) together; False if they do not qualify."""
        stocks = self.system.stocks
        if not all(n in stocks for n in names):
            return self.rate_group(names)
        if len(names) < 2 or not self.consecutive(names) or not self.independent(names):
            return False

        def lower() -> None:
            self.owner, self.where = names[0], str(stocks[names[0]].where)
            node = self.block(self.vnode([stocks[n].initial for n in names]))
            self.vinto(node, self.slot(names[0]), len(names))

        return self.attempt(lower)

    def derivative_group(self, names: list[str]) -> list[int] | None:
        """The net flow registers of stocks ``names`` (one array's elements) as one block, or None."""
        stocks = self.system.stocks
        if len(names) < 2 or len({(len(stocks[n].inflows), len(stocks[n].outflows)) for n in names}) > 1:
            return None
        n = len(names)
        signs = [1.0] * len(stocks[names[0]].inflows) + [-1.0] * len(stocks[names[0]].outflows)
        columns = list(zip(*[(*stocks[s].inflows, *stocks[s].outflows) for s in names], strict=True))
        if any(len({flow in self.values for flow in column}) > 1 for column in columns):
            return None  # folded for some elements and not others
        constant: list[Value] = [0.0] * n
        terms: list[tuple[float, Block]] = []
        for sign, column in zip(signs, columns, strict=True):
            if column[0] in self.values:
                constant = [c + sign * self.values[f] for c, f in zip(constant, column, strict=True)]
            else:
                terms.append((sign, self.gather([self.slot(f) for f in column])))
        zero = all(isinstance(c, float) and c == 0.0 for c in constant)
        if not terms:
            return [self.const(c) for c in constant]
        if len(terms) == 1 and terms[0][0] > 0 and zero:
            return [terms[0][1].base + e * terms[0][1].stride for e in range(n)]
        out = _TEMP + self.n_temps  # a dedicated block: never released
        self.n_temps += n
        plus = [b for sign, b in terms if sign > 0]
        minus = [b for sign, b in terms if sign < 0]
        if len(plus) == 1 and len(minus) == 1 and zero:
            self.code.append(self.block_row(Op.SUB, out, n, plus[0], minus[0]))
            return list(range(out, out + n))
        total = self.block(tuple(K(c) for c in constant))
        steps = [(Op.ADD, b) for b in plus] + [(Op.SUB, b) for b in minus]
        scratch = self.temp_block(n) if len(steps) > 1 else out
        for dest, (op, b) in zip(alternating(len(steps), out, scratch), steps, strict=True):
            self.code.append(self.block_row(op, dest, n, total, b))
            total = Block(dest, 1)
        if scratch != out:
            self.release(scratch)
        return list(range(out, out + n))

    @staticmethod
    def block_row(op: Op, out: int, n: int, *operands: Block) -> list[int]:
        """A row of ``op`` over ``n`` elements of block operands."""
        strides = sum(1 << k for k, b in enumerate(operands) if b.stride)
        return row(op, out, *[b.base for b in operands], count=n, strides=strides)

    def derivative(self, inflows: tuple[str, ...], outflows: tuple[str, ...]) -> int:
        """The register of one stock's net flow (mirrors ``plan._derivative``)."""
        constant: float | np.ndarray = 0.0
        plus, minus = [], []
        for name in inflows:
            if name in self.values:
                constant = constant + self.values[name]
            else:
                plus.append(self.slot(name))
        for name in outflows:
            if name in self.values:
                constant = constant - self.values[name]
            else:
                minus.append(self.slot(name))
        zero = isinstance(constant, float) and constant == 0.0
        if not plus and not minus:
            return self.const(constant)
        if len(plus) == 1 and not minus and zero:
            return plus[0]
        out = _TEMP + self.n_temps  # a dedicated register: never released
        self.n_temps += 1
        if len(plus) == 1 and len(minus) == 1 and zero:
            self.code.append(row(Op.SUB, out, plus[0], minus[0]))
            return out
        total = self.const(constant)
        steps = [(Op.ADD, r) for r in plus] + [(Op.SUB, r) for r in minus]
        scratch = self.temp() if len(steps) > 1 else out
        for dest, (op, register) in zip(alternating(len(steps), out, scratch), steps, strict=True):
            self.code.append(row(op, dest, total, register))
            total = dest
        if scratch != out:
            self.release(scratch)
        return out

    def finish(self, init, stage, deriv, derivs, rate_registers) -> Tape:  # type: ignore[no-untyped-def]
        program, spec = self.program, self.model.time
        shift = len(self.prelude)  # the prelude opens the init section
        init, stage, deriv = (0, init[1] + shift), (stage[0] + shift, stage[1] + shift), (deriv[0] + shift, deriv[1] + shift)
        # folded slots keep their values (saveable)
        fixed = [self.folded.get(slot + 1, value) for slot, value in enumerate(program.values)]
        done = _assemble(self, fixed, program.runs)
        pipelines = np.array(
            [[out + 1, src + 1, -1 if delay is None else delay + 1, ini + 1] for out, src, delay, ini in program.pipelines],
            dtype=np.int64).reshape(-1, 4)
        times, lever_path, lever_flag, events = _schedules(self.model, self.inputs, program.runs)
        return Tape(
            code=done.code, init=init, stage=stage, deriv=deriv, n_registers=done.n_registers,
            scalar_registers=done.scalar_registers, scalar_values=done.scalar_values,
            run_registers=done.run_registers, run_values=done.run_values,
            stock_registers=np.array([s + 1 for s in program.stock_slots], dtype=np.int64),
            deriv_registers=done.finals(derivs),
            non_negative=np.array(program.non_negative, dtype=np.int64),
            rate_registers=np.array(rate_registers, dtype=np.int64),
            pipelines=pipelines, table_index=done.table_index, table_data=done.table_data,
            table_params=done.table_params, lever_path=lever_path, lever_flag=lever_flag, events=events, times=times,
            method=spec.method, names={slot + 1: name for name, slot in program.slots.items()},
        )


@dataclass(frozen=True)
class _Assembled:
    """Instructions with their final register numbers, and the registers' initial contents."""

    code: np.ndarray
    n_fixed: int
    n_scalar: int
    n_const: int
    n_registers: int
    scalar_registers: np.ndarray
    scalar_values: np.ndarray
    run_registers: np.ndarray
    run_values: np.ndarray
    table_index: np.ndarray
    table_data: np.ndarray
    table_params: np.ndarray

    def final(self, register: int) -> int:
        """A provisional register number's final one."""
        return int(self.finals([register])[0])

    def finals(self, registers: list[int]) -> np.ndarray:
        """Provisional register numbers' final ones, in one pass (an arrayed model has thousands of net flows)."""
        return _renumber(np.array(registers, dtype=np.int64).reshape(-1), self.n_fixed, self.n_scalar, self.n_const)


def _assemble(ex: _Expressions, fixed: list[Value], width: int) -> _Assembled:
    """Number the registers: TIME, then ``fixed`` (the slots, with their start values), constants, temporaries."""
    n_fixed = len(fixed) + 1
    n_scalar = len(ex.scalar_values)
    n_const = n_scalar + len(ex.per_run_values)
    code = np.array(ex.prelude + ex.code, dtype=np.int64).reshape(-1, WIDTH)
    register_columns = _register_columns(code)
    code[register_columns] = _renumber(code[register_columns], n_fixed, n_scalar, n_const)
    scalar_regs = [n_fixed + k for k in range(n_scalar)]
    scalar_vals = list(ex.scalar_values)
    run_regs = [n_fixed + n_scalar + k for k in range(len(ex.per_run_values))]
    run_vals = list(ex.per_run_values)
    for slot, value in enumerate(fixed):
        if isinstance(value, np.ndarray) and value.ndim:
            run_regs.append(slot + 1)
            run_vals.append(np.asarray(value, dtype=float))
        else:
            scalar_regs.append(slot + 1)
            scalar_vals.append(float(value))
    index, data, params = _tables(ex.table_list)
    return _Assembled(
        code=code, n_fixed=n_fixed, n_scalar=n_scalar, n_const=n_const,
        n_registers=n_fixed + n_const + ex.n_temps + 1,  # and a scratch row, last, for lookups
        scalar_registers=np.array(scalar_regs, dtype=np.int64), scalar_values=np.array(scalar_vals, dtype=float),
        run_registers=np.array(run_regs, dtype=np.int64),
        run_values=np.array(run_vals, dtype=float).reshape(len(run_vals), width),
        table_index=index, table_data=data, table_params=params)


def lower_expression(expr: Expr, values: dict[str, Value], lookups: dict[str, Lookup], deterministic: bool,
                     dt: float, width: int, owner: str = "", where: str = "") -> K | tuple[Tape, int]:
    """One expression at ``width`` points: its folded value, or a tape (one init section) and its result's register.

    Every name it reads is in ``values`` (a float, or one value per point); TIME, when it is
    not there, is register 0. Random calls read call-site draws (their mean when
    ``deterministic``). The shared evaluator of link polarity and loop scores runs it.
    """
    ex = _Expressions(dict(values), {}, dict(lookups), deterministic, dt)
    ex.owner, ex.where = owner, where
    with np.errstate(all="ignore"):
        node = ex.node(expr)
    if isinstance(node, K):
        return node
    done = _assemble(ex, [], width)
    empty = np.zeros(0, dtype=np.int64)
    tape = Tape(
        code=done.code, init=(0, done.code.shape[0]), stage=(done.code.shape[0],) * 2,
        deriv=(done.code.shape[0],) * 2, n_registers=done.n_registers,
        scalar_registers=done.scalar_registers, scalar_values=done.scalar_values,
        run_registers=done.run_registers, run_values=done.run_values, stock_registers=empty, deriv_registers=empty,
        non_negative=empty, rate_registers=empty, pipelines=np.zeros((0, 4), dtype=np.int64),
        table_index=done.table_index, table_data=done.table_data, table_params=done.table_params,
        lever_path=np.zeros((1, 1, 0)), lever_flag=np.zeros((1, 1, 0), dtype=np.int8), events=np.zeros((1, 0)),
        times=np.zeros((1, 1)), method=Method.EULER, names={})
    return tape, done.final(node)


def _with_defaults(spec: Builtin, nodes: list[Node]) -> list[Node]:
    """The operands an opcode reads: the arguments given, then the registry's defaults for trailing optional ones."""
    return nodes + [K(v) for v in spec.defaults[len(nodes) - spec.min_args:]]


def _renumber(r: np.ndarray, n_fixed: int, n_scalar: int, n_const: int) -> np.ndarray:
    """Provisional register numbers -> final ones: slots stay, then constants (scalar, per run), then temporaries."""
    k, per_run = np.divmod(r - _CONST, 2)
    constant = n_fixed + np.where(per_run == 1, n_scalar + k, k)
    return np.where(r >= _TEMP, n_fixed + n_const + (r - _TEMP), np.where(r >= _CONST, constant, r))


_NON_REGISTER = {  # operand columns (2..5) that hold something other than a register
    Op.LOOKUP: (3,), Op.UNIFORM: (4,), Op.NORMAL: (4,), Op.LOGNORMAL: (4,), Op.POISSON: (4, 5),
    Op.EXPONENTIAL: (4, 5), Op.LEVER: (2,), Op.EVENT: (2,),
}


def operand_ranges(code_row: list[int]) -> list[tuple[int, int]]:
    """The registers a row reads, as ``(first, count)`` ranges: a strided operand reads one register per element,
    a broadcast one (and a reduction's block) as the element rule says."""
    op, n, mask = code_row[0], code_row[COUNT], code_row[STRIDES]
    if op == int(Op.SUM):
        return [(code_row[2], n)]
    skip = _NON_REGISTER.get(Op(op), ())
    return [(code_row[k], n if (mask >> (k - 2)) & 1 else 1) for k in range(2, COUNT) if code_row[k] >= 0 and k not in skip]


def output_range(code_row: list[int]) -> tuple[int, int]:
    """The registers a row writes, as ``(first, count)``."""
    return code_row[1], _written(code_row)


def _register_columns(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``code`` that hold register numbers (to renumber constants and temporaries)."""
    mask = np.zeros(code.shape, dtype=bool)
    mask[:, 1:COUNT] = code[:, 1:COUNT] >= 0
    for op, columns in _NON_REGISTER.items():
        rows = code[:, 0] == int(op)
        for column in columns:
            mask[rows, column] = False
    return np.nonzero(mask)


def step_footprint(tape: Tape) -> tuple[int, float]:
    """The registers a step reads or writes (its stage and deriv sections, and the stocks) and the mean element
    count of its instructions: the engines size their blocks of runs from them (a block's working set in
    cache, each instruction's dispatch spread over enough element-runs)."""
    code = np.concatenate([tape.code[slice(*tape.stage)], tape.code[slice(*tape.deriv)]])
    touched = np.zeros(tape.n_registers + 1, dtype=np.int64)  # +1: a difference array of the ranges touched
    rows, columns = _register_columns(code)
    first = code[rows, columns]
    strided = (columns >= 2) & ((code[rows, STRIDES] >> np.maximum(columns - 2, 0)) & 1 == 1)
    written = np.where(code[rows, 0] == int(Op.SUM), 1, code[rows, COUNT])
    length = np.where(columns == 1, written, np.where(strided, code[rows, COUNT], 1))
    np.add.at(touched, first, 1)
    np.add.at(touched, np.minimum(first + length, tape.n_registers), -1)
    marked = np.cumsum(touched[:-1]) > 0
    marked[tape.stock_registers] = True
    return int(marked.sum()), float(code[:, COUNT].mean()) if code.size else 1.0


def _tables(tables: list[Lookup]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables as flat arrays (the slopes as ``numpy.interp`` computes them)."""
    index = np.zeros((len(tables), 4), dtype=np.int64)
    params = np.zeros((len(tables), 4))
    chunks: list[np.ndarray] = []
    offset = 0
    for k, table in enumerate(tables):
        xs = np.asarray(table.xs, dtype=float)
        ys = np.asarray(table.ys, dtype=float)
        n = len(xs)
        slopes = np.zeros(n)
        with np.errstate(all="ignore"):  # repeated x values: numpy.interp never uses that slope
            slopes[:-1] = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
        kind = {"discrete": Extrapolation.DISCRETE, "linear": Extrapolation.LINEAR}.get(
            table.extrapolation, Extrapolation.CLAMP)
        if kind == Extrapolation.LINEAR and n < 2:
            kind = Extrapolation.CLAMP
        lo = hi = 0.0
        if kind == Extrapolation.LINEAR:
            lo = (ys[1] - ys[0]) / (xs[1] - xs[0]) if xs[1] != xs[0] else 0.0
            hi = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) if xs[-1] != xs[-2] else 0.0
        search = _search_kind(xs, ys, slopes)
        index[k] = (offset, n, int(kind), int(search))
        params[k] = (lo, hi, xs[0], (n - 1) / (xs[-1] - xs[0]) if search == Search.GRID else 0.0)
        chunks += [xs, [np.inf], ys, slopes]
        offset += 3 * n + 1
    data = np.concatenate(chunks).astype(float) if chunks else np.zeros(0)
    return index, data, params


def _search_kind(xs: np.ndarray, ys: np.ndarray, slopes: np.ndarray) -> Search:
    """Branch-free search and interpolation need finite points and slopes (then ``numpy.interp``'s
    guards against NaN never fire); a grid guess needs points within a quarter step of a uniform grid."""
    n = len(xs)
    if n < 2 or not (np.isfinite(xs).all() and np.isfinite(ys).all() and np.isfinite(slopes).all()):
        return Search.GENERIC
    step = (xs[-1] - xs[0]) / (n - 1)
    if np.isfinite(step) and step > 0 and np.max(np.abs(xs - (xs[0] + step * np.arange(n)))) <= 0.25 * step:
        return Search.GRID
    return Search.BRANCHLESS


def _schedules(model: Model, inputs: Inputs, runs: int) -> tuple[np.ndarray, ...]:
    """The clock, lever values and event pulses at every step and stage of the run."""
    spec = model.time
    n = spec.n_steps
    dt = spec.dt
    base = spec.start + np.arange(n + 1) * dt
    times = base[:, None] if spec.method != Method.RK4 else np.stack(
        [base, base + 0.5 * dt, base + 0.5 * dt, base + 1.0 * dt], axis=1)
    tol = TIME_TOLERANCE * dt
    levers = list(model.of_kind(Lever))
    path = np.zeros(times.shape + (len(levers),))
    flag = np.zeros(times.shape + (len(levers),), dtype=np.int8)
    for k, name in enumerate(levers):
        path[..., k], flag[..., k] = _lever_table(inputs.levers[name], times, tol)
    event_names = list(model.of_kind(Event))
    events = np.zeros((n + 1, len(event_names)))
    for k, name in enumerate(event_names):
        dates, magnitude = inputs.events[name]
        steps = {int(np.floor((t - spec.start) / spec.dt + TIME_TOLERANCE)) for t in dates if spec.start <= t <= spec.stop}
        pulse = magnitude / spec.dt
        for step in steps:
            if 0 <= step <= n:
                events[step, k] = pulse
    return times, path, flag, events


def _lever_table(lever: LeverInput, times: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """``LeverInput.at`` for every time at once: the path's value, and where a per-run level holds."""
    value = _path_values(lever.baseline, lever.schedule, times, tol)
    flag = np.zeros(times.shape, dtype=np.int8)
    if lever.level is not None:
        holds = np.ones(times.shape, dtype=bool) if lever.from_time is None else times >= lever.from_time - tol
        if isinstance(lever.level, np.ndarray) and lever.level.ndim:
            flag[holds] = 1
        else:
            value = np.where(holds, float(lever.level), value)
    return value, flag


def _path_values(baseline: float, schedule: Schedule | None, times: np.ndarray, tol: float) -> np.ndarray:
    """``inputs._path_value`` vectorised over ``times`` (the same comparisons and interpolation)."""
    if schedule is None or not schedule.times:
        return np.full(times.shape, float(baseline))
    xs = np.asarray(schedule.times, dtype=float)
    ys = np.asarray(schedule.values, dtype=float)
    if schedule.interpolation == "linear":
        return np.where(times < xs[0] - tol, float(baseline), np.interp(times, xs, ys))
    idx = np.searchsorted(xs, times + tol, side="right") - 1
    return np.where(idx < 0, float(baseline), ys[np.maximum(idx, 0)])


__all__ = ["Extrapolation", "K", "Op", "Search", "Tape", "Unsupported", "lower", "lower_expression", "operand_ranges",
           "output_range", "pairwise"]
