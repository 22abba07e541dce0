"""Vensim's functions over arrays, built from the scalar elements they range over.

``SUM``, ``PROD``, ``VMIN`` and ``VMAX`` are the reductions of :mod:`policylab.model.arrays`
(``x[Dim!]`` ranges over ``Dim``); ``ELMCOUNT(Dim)`` is the number of elements; an element's name used as a value is its
number (its place in the first range of its family, as a range's name gives it). The vector
functions become expressions of the elements, so every engine runs them as it runs any
equation (all in Vensim's spelling, mapped onto the registry by ``functions`` afterwards):

- ``VECTOR SELECT(selection, values, missing, action, error action)``: over every combination
  of the ranges both arguments name with ``!``, the elements whose selection is not zero are
  combined by ``action`` (0 sum of selection × value, 1 product, 2 minimum, 3 maximum, 4 mean
  of them; 5 product of value ^ selection; 6 sum, 7 product, 8 minimum, 9 maximum, 10 mean of
  the values); ``missing`` when none is selected. The error action (Vensim stops the run on
  too few or too many selected elements) is not applied.
- ``VECTOR ELM MAP(x[e], offset)``: the element ``offset`` places after ``x[e]`` in the whole
  variable, row by row; :NA: beyond its last element.
- ``VECTOR SORT ORDER(x[…, Dim], direction)``: for each position along the last dimension,
  the 0-based position of the element that sorts there (ascending when direction > 0, else
  descending; equal values keep their order); ``VECTOR RANK`` the 1-based rank of each
  element; ``VECTOR REORDER(x, order)`` the element each position of ``order`` names.
- ``ALLOCATE BY PRIORITY(request[…, Dim], priority[…, Dim], size, width, supply)``: Vensim's
  rectangular priority profiles. Each requester k receives ``request_k · clamp((priority_k − q) /
  width, 0, 1)`` at the level q where the allocations add up to the supply (everything requested
  when the supply covers it): supply goes first to the highest priorities, a requester starts
  receiving once those above it are within ``width`` of its priority. The total is piecewise
  linear in q, so q is found exactly from its values at the 2n corners ``priority_k`` and
  ``priority_k − width`` (an expression of the elements, at most ``MAX_ALLOCATED`` of them).
- ``INVERT MATRIX(m[…, Row, Column], n)``: the inverse of the square matrix over the last two
  dimensions, each element its cofactor over the determinant (so it follows a matrix that
  changes during the run; up to 5 × 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from policylab.errors import ModelFileError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, Name, Num, Subscript, map_children, walk
from policylab.formats.vensim.equations import NA_VALUE
from policylab.model.arrays import Expander, combine
from policylab.model.ir import Dimension, element_keys, element_name

VECTOR_FUNCTIONS = frozenset({"vector_select", "vector_elm_map", "vector_sort_order", "vector_rank",
                              "vector_reorder", "invert_matrix", "allocate_by_priority"})
MAX_ALLOCATED = 50
"""Requesters ALLOCATE BY PRIORITY may range over: its closed form grows with the cube of their number."""
MAX_INVERTED = 5
"""Rows of a matrix INVERT MATRIX takes: its cofactors are written out, n! terms each."""
MAX_SORTED = 500
"""Elements a sort may range over: its expression grows with the square of their number."""
_REDUCTIONS = {"sum": "sum", "prod": "prod", "vmin": "min", "vmax": "max"}
SUBSCRIPTED_CALL = "lookup[]"
"""Marks ``table[a](x)`` (a call of one element's lookup; no Vensim name holds brackets) until its reference is
rewritten; ``lookup_calls`` then makes it a call of that element."""


def prepare(expr: Expr, dimensions: dict[str, Dimension], elements: dict[str, float], where: str) -> Expr:
    """``expr`` with ``ELMCOUNT`` counted, an element's name as its number (``elements``), ``VMIN``/``VMAX`` as
    one-argument ``min``/``max`` (the reductions of ``model.arrays``) and the argument counts of ``SUM``, ``PROD``,
    ``MIN`` and ``MAX`` checked."""
    if isinstance(expr, Name) and expr.name in elements:
        return Num(elements[expr.name])
    if isinstance(expr, Call) and expr.func == "elmcount":
        if len(expr.args) != 1 or not isinstance(expr.args[0], Name) or expr.args[0].name not in dimensions:
            raise ModelFileError(f"{where}: ELMCOUNT takes the name of one subscript range, such as ELMCOUNT(Dim)")
        return Num(float(len(dimensions[expr.args[0].name].elements)))
    expr = map_children(expr, lambda child: prepare(child, dimensions, elements, where))
    if not isinstance(expr, Call):
        return expr
    if expr.args and isinstance(expr.args[0], Subscript) and expr.args[0].name == expr.func:
        return Call(SUBSCRIPTED_CALL, expr.args)
    if expr.func in _REDUCTIONS:
        if len(expr.args) != 1:
            raise ModelFileError(f"{where}: {expr.func.upper()} takes one argument ranging over a subscript range, "
                                 f"such as {expr.func.upper()}(x[Dim!]); got {len(expr.args)}")
        return Call(_REDUCTIONS[expr.func], expr.args)
    if expr.func in ("min", "max") and len(expr.args) != 2:
        raise ModelFileError(f"{where}: {expr.func.upper()} takes 2 arguments, got {len(expr.args)} (VMIN and VMAX "
                             "take the minimum and maximum over a range)")
    return expr


@dataclass(frozen=True)
class Vectors:
    """Rewrites one element's equation: array references through the Expander, vector functions into elements."""

    expander: Expander
    dimensions: dict[str, Dimension]
    arrays: dict[str, tuple[str, ...]]

    def rewrite(self, expr: Expr, context: dict[str, str], where: str) -> Expr:
        """``expr`` for the element ``context``, with scalar references only."""
        if not any(isinstance(node, Call) and node.func in VECTOR_FUNCTIONS for node in walk(expr)):
            return _unwrap(self.expander.equation(expr, context, where))
        if isinstance(expr, Call) and expr.func in VECTOR_FUNCTIONS:
            return self._vector(expr.func, expr.args, context, where)
        return map_children(expr, lambda child: self.rewrite(child, context, where))

    def _vector(self, func: str, args: tuple[Expr, ...], context: dict[str, str], where: str) -> Expr:
        wanted = {"vector_select": 5, "vector_elm_map": 2, "vector_sort_order": 2, "vector_rank": 2,
                  "vector_reorder": 2, "invert_matrix": 2, "allocate_by_priority": 5}[func]
        shown = func.replace("_", " ").upper()
        if len(args) != wanted:
            raise ModelFileError(f"{where}: {shown} takes {wanted} arguments, got {len(args)}")
        if func == "vector_select":
            return self._select(args, context, where)
        if func == "vector_elm_map":
            return self._elm_map(args, context, where)
        if func == "invert_matrix":
            return self._inverse(args, context, where)
        if func == "allocate_by_priority":
            return self._allocate(args, context, where)
        values, position = self._along_last(args[0], context, where, shown)
        if func == "vector_reorder":
            return _pick(self.rewrite(args[1], context, where), values)
        direction = self.rewrite(args[1], context, where)
        ranks = _ranks(values)
        n = len(values)
        if func == "vector_rank":
            ascending, descending = BinOp("+", ranks[position], Num(1.0)), BinOp("-", Num(float(n)), ranks[position])
        else:
            ascending = _position_of(ranks, position)
            descending = _position_of(ranks, n - 1 - position)
        return _if(Compare(">", direction, Num(0.0)), ascending, descending)

    def _select(self, args: tuple[Expr, ...], context: dict[str, str], where: str) -> Expr:
        pairs = self.expander.items(Call("vector_select", args[:2]), context, where)
        selections = [_unwrap(pair.args[0]) for pair in pairs if isinstance(pair, Call)]
        values = [_unwrap(pair.args[1]) for pair in pairs if isinstance(pair, Call)]
        missing, action = (self.rewrite(a, context, where) for a in args[2:4])
        chosen = [Compare("<>", s, Num(0.0)) for s in selections]
        count = combine("sum", [_if(c, Num(1.0), Num(0.0)) for c in chosen])

        def picked(value: Callable[[Expr, Expr], Expr], neutral: float) -> list[Expr]:
            return [_if(c, value(s, v), Num(neutral)) for c, s, v in zip(chosen, selections, values, strict=True)]

        weighted: Callable[[Expr, Expr], Expr] = lambda s, v: BinOp("*", s, v)  # noqa: E731
        plain: Callable[[Expr, Expr], Expr] = lambda s, v: v  # noqa: E731
        by_action: list[Expr] = []
        for value in (weighted, plain):
            total = combine("sum", picked(value, 0.0))
            by_action += [total, combine("prod", picked(value, 1.0)), combine("min", picked(value, math.inf)),
                          combine("max", picked(value, -math.inf)),
                          BinOp("/", total, Call("max", (count, Num(1.0))))]
        by_action.insert(5, combine("prod", picked(lambda s, v: BinOp("^", v, s), 1.0)))
        if isinstance(action, Num):
            if not (action.value.is_integer() and 0 <= action.value <= 10):
                raise ModelFileError(f"{where}: VECTOR SELECT's action is {action.value:g}; use 0 to 10")
            result = by_action[int(action.value)]
        else:
            result = _pick(action, by_action)
        return _if(Compare("=", count, Num(0.0)), missing, result)

    def _elm_map(self, args: tuple[Expr, ...], context: dict[str, str], where: str) -> Expr:
        base = args[0]
        if not isinstance(base, Subscript) or base.name not in self.arrays:
            raise ModelFileError(f"{where}: VECTOR ELM MAP takes an element of an array first, such as "
                                 "VECTOR ELM MAP(x[first], offset)")
        start = self.expander.equation(base, context, where)
        assert isinstance(start, Name)
        flat = [element_name(base.name, key) for key in element_keys(self.arrays[base.name], self.dimensions)]
        at = flat.index(start.name)
        offset = self.rewrite(args[1], context, where)
        return _pick(BinOp("+", offset, Num(float(at))), [Name(n) for n in flat])

    def _inverse(self, args: tuple[Expr, ...], context: dict[str, str], where: str) -> Expr:
        matrix = args[0]
        if not isinstance(matrix, Subscript) or matrix.name not in self.arrays or len(self.arrays[matrix.name]) < 2:
            raise ModelFileError(f"{where}: INVERT MATRIX takes a matrix over two ranges, such as "
                                 "INVERT MATRIX(m[Row, Column], 3)")
        rows, columns = self.arrays[matrix.name][-2:]
        at = [self.expander.element_of(i, d, context, where, matrix.name) for i, d in zip(matrix.indices[-2:],
                                                                                           (rows, columns))]
        n = len(self.dimensions[rows].elements)
        size = self.rewrite(args[1], context, where)
        if None in at or n != len(self.dimensions[columns].elements) or not isinstance(size, Num) or size.value != n:
            raise ModelFileError(f"{where}: INVERT MATRIX needs a square matrix whose last two subscripts are ranges "
                                 f"of the equation, and its size as the second argument ({n})")
        if n > MAX_INVERTED:
            raise ModelFileError(f"{where}: INVERT MATRIX of a {n} × {n} matrix; PolicyLab inverts up to "
                                 f"{MAX_INVERTED} × {MAX_INVERTED}")
        cells = [_unwrap(c) for c in self.expander.items(
            Subscript(matrix.name, (*matrix.indices[:-2], f"{rows}!", f"{columns}!")), context, where)]
        grid = [cells[r * n:(r + 1) * n] for r in range(n)]
        i = self.dimensions[rows].elements.index(at[0])  # type: ignore[arg-type]
        j = self.dimensions[columns].elements.index(at[1])  # type: ignore[arg-type]
        minor = [[grid[r][c] for c in range(n) if c != i] for r in range(n) if r != j]
        cofactor = _determinant(minor) if minor else Num(1.0)
        signed = cofactor if (i + j) % 2 == 0 else BinOp("-", Num(0.0), cofactor)
        return BinOp("/", signed, _determinant(grid))

    def _allocate(self, args: tuple[Expr, ...], context: dict[str, str], where: str) -> Expr:
        """ALLOCATE BY PRIORITY for the equation's element (see the module docstring)."""
        shown = "ALLOCATE BY PRIORITY"
        requests, position = self._along_last(args[0], context, where, shown)
        priorities, other = self._along_last(args[1], context, where, shown)
        if len(priorities) != len(requests) or other != position:
            raise ModelFileError(f"{where}: {shown}: the request and the priority range over the same last range")
        if len(requests) > MAX_ALLOCATED:
            raise ModelFileError(f"{where}: {shown} allocates among at most {MAX_ALLOCATED} elements")
        width, supply = self.rewrite(args[3], context, where), self.rewrite(args[4], context, where)
        if isinstance(width, Num) and not width.value > 0:
            raise ModelFileError(f"{where}: {shown}: the width must be greater than 0 (got {width.value:g})")
        return allocation(requests, priorities, width, supply, position)

    def _along_last(self, vector: Expr, context: dict[str, str], where: str, shown: str) -> tuple[list[Expr], int]:
        """The elements of ``vector`` along its last dimension, and the position the equation's element is at."""
        if not isinstance(vector, Subscript) or vector.name not in self.arrays:
            raise ModelFileError(f"{where}: {shown} takes an array over a subscript range, such as {shown}(x[Dim], 1)")
        last = self.arrays[vector.name][-1]
        element = self.expander.element_of(vector.indices[-1], last, context, where, vector.name)
        if element is None:
            raise ModelFileError(f"{where}: {shown}: the last subscript of {vector.name} must be a range of the "
                                 "equation (or mapped onto one)")
        values = [_unwrap(v) for v in self.expander.items(Subscript(vector.name, (*vector.indices[:-1], f"{last}!")),
                                                          context, where)]
        if len(values) != len(self.dimensions[last].elements) or len(values) > MAX_SORTED:
            raise ModelFileError(f"{where}: {shown} sorts along one range of at most {MAX_SORTED} elements; fix the "
                                 "other subscripts to elements or ranges of the equation")
        return values, self.dimensions[last].elements.index(element)


def allocation(requests: list[Expr], priorities: list[Expr], width: Expr, supply: Expr, position: int) -> Expr:
    """What requester ``position`` receives: its request times its profile's share at the level q where the shares
    add up to ``supply``; q is exact because the total falls linearly between the profiles' corners."""

    def share(k: int, level: Expr) -> Expr:
        fraction = BinOp("/", BinOp("-", priorities[k], level), width)
        return Call("min", (Call("max", (fraction, Num(0.0))), Num(1.0)))

    def total(level: Expr) -> Expr:
        return _balanced("+", [BinOp("*", requests[k], share(k, level)) for k in range(len(requests))])

    corners = list(priorities) + [BinOp("-", p, width) for p in priorities]
    big = Num(1e300)
    candidates = []
    for corner in corners:
        # the rate at which the total falls just above this corner: the requesters whose profile covers it
        slope = _balanced("+", [_if(BoolOp("and", Compare("<=", BinOp("-", priorities[k], width), corner),
                                                  Compare("<", corner, priorities[k])),
                                    BinOp("/", requests[k], width), Num(0.0)) for k in range(len(requests))])
        above = _balanced("min", [_if(Compare(">", other, corner), other, big) for other in corners])
        at = total(corner)
        reach = BinOp("+", corner, BinOp("/", BinOp("-", at, supply), Call("max", (slope, Num(1e-300)))))
        candidates.append(_if(BoolOp("and", Compare(">=", at, supply), Compare(">", slope, Num(0.0))),
                              Call("min", (reach, above)), BinOp("-", Num(0.0), big)))
    level = _balanced("max", candidates)
    everything = Compare("<=", _balanced("+", requests), supply)
    return _if(everything, requests[position], BinOp("*", requests[position], share(position, level)))


def _balanced(op: str, items: list[Expr]) -> Expr:
    """``items`` combined by ``+`` or two-argument ``min``/``max`` as a balanced tree (depth log n, not n)."""
    if len(items) == 1:
        return items[0]
    middle = len(items) // 2
    left, right = _balanced(op, items[:middle]), _balanced(op, items[middle:])
    return BinOp("+", left, right) if op == "+" else Call(op, (left, right))


def lookup_calls(expr: Expr) -> Expr:
    """``table[a](x)`` as the call of the element lookup ``table[a]`` (its reference rewritten by now)."""
    expr = map_children(expr, lookup_calls)
    match expr:
        case Call(func=f, args=(Name(name=n), *rest)) if f == SUBSCRIPTED_CALL:
            return Call(n, tuple(rest))
    return expr


def _if(condition: Expr, then: Expr, otherwise: Expr) -> Expr:
    return Call("if_then_else", (condition, then, otherwise))


def _unwrap(expr: Expr) -> Expr:
    """A sum or product of one item (a reduction over one element, or of a scalar) is that item."""
    if not any(isinstance(node, Call) and node.func in ("sum", "prod") for node in walk(expr)):
        return expr
    return _unwrap_all(expr)


def _unwrap_all(expr: Expr) -> Expr:
    expr = map_children(expr, _unwrap_all)
    if isinstance(expr, Call) and expr.func in ("sum", "prod") and len(expr.args) == 1:
        return expr.args[0]
    return expr


def _pick(index: Expr, options: list[Expr]) -> Expr:
    """The option at 0-based position INTEGER(index), :NA: outside them (a balanced tree of conditions)."""
    if isinstance(index, Num):
        at = int(index.value)
        return options[at] if 0 <= at < len(options) else Num(NA_VALUE)
    whole = Call("integer", (index,))

    def tree(low: int, high: int) -> Expr:
        if high - low == 1:
            return options[low]
        middle = (low + high) // 2
        return _if(Compare("<", whole, Num(float(middle))), tree(low, middle), tree(middle, high))

    inside = BoolOp("and", Compare(">=", whole, Num(0.0)), Compare("<", whole, Num(float(len(options)))))
    return _if(inside, tree(0, len(options)), Num(NA_VALUE))


def _determinant(grid: list[list[Expr]]) -> Expr:
    """The determinant by expansion along the first row."""
    if len(grid) == 1:
        return grid[0][0]
    terms: list[Expr] = []
    for column, cell in enumerate(grid[0]):
        minor = [[row[c] for c in range(len(row)) if c != column] for row in grid[1:]]
        term = BinOp("*", cell, _determinant(minor))
        terms.append(term if column % 2 == 0 else BinOp("-", Num(0.0), term))
    return combine("sum", terms)


def _ranks(values: list[Expr]) -> list[Expr]:
    """Each element's 0-based place in ascending order (equal values in their order)."""
    ranks = []
    for i, x in enumerate(values):
        below = [_if(Compare("<", y, x) if j > i else Compare("<=", y, x), Num(1.0), Num(0.0))
                 for j, y in enumerate(values) if j != i]
        ranks.append(combine("sum", below) if below else Num(0.0))
    return ranks


def _position_of(ranks: list[Expr], place: int) -> Expr:
    """The 0-based position of the element whose rank is ``place``."""
    return combine("sum", [_if(Compare("=", rank, Num(float(place))), Num(float(i)), Num(0.0))
                           for i, rank in enumerate(ranks)])
