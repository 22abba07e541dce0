"""Vensim's data functions: ``GET XLS/DIRECT CONSTANTS``, ``… LOOKUPS`` and ``… DATA`` read into numbers and tables.

Read once, when the model is read, from ``.xlsx``/``.xlsm`` workbooks (openpyxl) and ``.csv``/``.tab`` files
beside the model (never outside its folder: no ``..``, no absolute path, no symlink leading out), each
capped in bytes (``POLICYLAB_LIMIT_VENSIM_BYTES``) and in cells (``MAX_CELLS``). What they read becomes
the IR's own constants and lookups, so nothing after the reader knows a file was read:

- ``GET … CONSTANTS(file, tab, cell)``: one number per element. From a top-left cell (``B5``) the left
  side's ranges of more than one element lay out the block: the last one along a row, the one before it
  down the rows (at most two); a trailing ``*`` (``B5*``) reads it transposed. A named range (``value1``)
  must have that shape.
- ``GET … LOOKUPS(file, tab, x, cell)`` and ``GET … DATA(file, tab, time, cell)``: a series of x (or time)
  values and one line of y values per element. ``x`` a row number (``'4'``): the x values run along that
  row from the cell's column, each element's values along a row from the cell down; a column letter
  (``'A'``): they run down that column from the cell's row, each element a column from the cell on; a
  named range: the x values in it, the y values in the named range ``cell`` (one line per element).
  Trailing blank x cells end the series, blank x cells inside it drop their point, points are sorted by
  x; a blank y is filled from its neighbours by the variable's own method (as Vensim does, and PySD).
- A data variable is a lookup of ``Time``: ``:INTERPOLATE:`` (and a plain ``:=``) linear between points,
  ``:HOLD BACKWARD:`` the last value at or before the time, ``:LOOK FORWARD:`` the first at or after it,
  ``:RAW:`` read as hold backward (Vensim gives :NA: between the points; a warning says so); each
  holds its first and last value beyond the series.

The old binary ``.xls`` format is read through xlrd when it is installed (the ``xls`` extra; cell
references only), else refused with what to do. Indirect references (``'?name'``, a file named in
Vensim's settings) are refused.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from policylab.errors import ModelFileError, UnreadableFileError
from policylab.expr.ast import Call, Expr, Name, Num, UnaryOp
from policylab.files import read_capped, within
from policylab.formats.vensim.equations import Definition, Table, Text
from policylab.limits import VENSIM_BYTES

MAX_CELLS = 10_000_000
"""Cells read from one sheet (a compressed workbook may unpack to far more than its bytes)."""

Grid = list[list[float | None]]
Method = Literal["interpolate", "hold_backward", "look_forward", "raw"]
_CELL = re.compile(r"^([A-Za-z]{1,3})([0-9]+)$")
_KEYWORD_METHOD: dict[str, Method] = {":=": "interpolate", "": "interpolate", ":INTERPOLATE:": "interpolate",
                                      ":HOLD BACKWARD:": "hold_backward", ":LOOK FORWARD:": "look_forward",
                                      ":RAW:": "raw"}
_FUNCTIONS = {f"get_{source}_{what}": what for source in ("xls", "direct") for what in ("constants", "lookups", "data")}


@dataclass(frozen=True)
class Filled:
    """What one element of a data definition becomes: a constant (``expr`` a number) or a lookup (``table``)."""

    kind: Literal["assign", "lookup"]
    expr: Expr | None = None
    table: Table | None = None


def data_call(definition: Definition) -> tuple[str, Call] | None:
    """``("constants" | "lookups" | "data", call)`` when the whole equation is one of the data functions."""
    expr = definition.expr
    if isinstance(expr, Call) and expr.func in _FUNCTIONS:
        return _FUNCTIONS[expr.func], expr
    return None


def column_number(letters: str) -> int:
    """The 0-based column of Excel letters (``A`` is 0, ``AA`` 26)."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


def split_cell(text: str) -> tuple[int, int] | None:
    """``B5`` as 0-based (row, column); None when the text is not a cell reference (then it names a range)."""
    match = _CELL.match(text.strip())
    if match is None or int(match.group(2)) == 0:
        return None
    return int(match.group(2)) - 1, column_number(match.group(1))


@dataclass
class DataFiles:
    """The data files of one model, read once each; ``folder`` is the model's folder, the only place read."""

    folder: Path | None
    notes: list[str] = field(default_factory=list)
    _books: dict[Path, object] = field(default_factory=dict)
    _grids: dict[tuple[Path, str], Grid] = field(default_factory=dict)

    def fill(self, definition: Definition, counts: tuple[int, ...], where: str) -> list[Filled] | None:
        """One Filled per element (row-major over ``counts``, the sizes of the left side's positions), or None
        when ``definition`` does not read data."""
        found = data_call(definition)
        if found is None:
            return None
        what, call = found
        texts = _texts(call, 3 if what == "constants" else 4, where)
        if what == "constants":
            return [Filled("assign", expr=Num(v)) for v in self._constants(texts, counts, where)]
        method: Method = "interpolate"
        if what == "data":
            method = _KEYWORD_METHOD.get(definition.keyword if definition.kind in ("data", "keyword") else "", "interpolate")
        tables = self._series(texts, math.prod(counts), method, where)
        if what == "lookups":
            return [Filled("lookup", table=t) for t in tables]
        if method == "raw":
            self.notes.append(f"{where}: :RAW: data are read as :HOLD BACKWARD: (Vensim gives :NA: between the "
                              "times the data give; PolicyLab holds the last value)")
        return [Filled("assign", expr=_of_time(t, method)) for t in tables]

    # -- the three functions --------------------------------------------------------------------
    def _constants(self, texts: list[str], counts: tuple[int, ...], where: str) -> list[float]:
        file, tab, cell = texts
        transposed = cell.endswith("*") and math.prod(counts) > 1
        cell = cell.rstrip("*").strip()
        rows, cols = _block_shape(counts, where)
        if transposed:
            rows, cols = cols, rows
        start = split_cell(cell)
        if start is not None:
            grid = self._grid(file, tab, where)
            block = _block(grid, start[0], start[0] + rows, start[1], start[1] + cols)
        else:
            block = self._named(file, tab, cell, where)
            if (len(block), len(block[0])) != (rows, cols):
                raise ModelFileError(f"{where}: the named range {cell!r} in {file} is {len(block)} x {len(block[0])} "
                                     f"cells; the subscripts ask for {rows} x {cols}")
        if transposed:
            block = [list(column) for column in zip(*block)]
        values = [v for row in block for v in row]
        if any(v is None for v in values):
            raise ModelFileError(f"{where}: {file} {tab!r} {cell}: a cell of the {rows} x {cols} block is empty or not "
                                 "a number; fill it (or check the cell reference)")
        return [float(v) for v in values if v is not None]

    def _series(self, texts: list[str], size: int, method: Method, where: str) -> list[Table]:
        """One table per element: the x (or time) values and that element's y values."""
        file, tab, axis, cell = texts
        start = split_cell(cell)
        lines: list[list[float | None]]
        if axis.strip().isdigit() and start is not None:  # x values along a row
            grid = self._grid(file, tab, where)
            row = int(axis) - 1
            xs = _block(grid, row, row + 1, start[1], None)[0]
            lines = [r for r in _block(grid, start[0], start[0] + size, start[1], start[1] + len(xs))]
        elif start is not None and split_cell(axis.strip() + "1") is not None:  # x values down a column
            grid = self._grid(file, tab, where)
            column = column_number(axis.strip())
            xs = [r[0] for r in _block(grid, start[0], None, column, column + 1)]
            block = _block(grid, start[0], start[0] + len(xs), start[1], start[1] + size)
            lines = [list(c) for c in zip(*block)] if block else []
        elif start is None:
            series = self._named(file, tab, axis, where)
            if len(series) > 1 and len(series[0]) > 1:
                raise ModelFileError(f"{where}: the named range {axis!r} in {file} is a table; the x values are one "
                                     "row or one column")
            along_row = len(series) == 1 and len(series[0]) > 1
            xs = series[0] if along_row else [r[0] for r in series]
            block = self._named(file, tab, cell, where)
            lines = block if along_row else [list(c) for c in zip(*block)]
            if any(len(line) != len(xs) for line in lines) or len(lines) != size:
                raise ModelFileError(f"{where}: the named range {cell!r} in {file} holds {len(lines)} line(s) of "
                                     f"{len(lines[0]) if lines else 0} value(s); the subscripts ask for {size} of "
                                     f"{len(xs)} (as many as {axis!r} holds)")
        else:
            raise ModelFileError(f"{where}: {axis!r} with the cell {cell!r}: give the row number or column letter of "
                                 "the x values with a top-left cell (B5), or two named ranges")
        while xs and xs[-1] is None:
            xs = xs[:-1]
        if len(lines) != size or any(len(line) < len(xs) for line in lines):
            raise ModelFileError(f"{where}: {file} {tab!r}: the sheet holds fewer lines of values than the "
                                 f"{size} element(s) the subscripts ask for, from {cell}")
        kept = [i for i, x in enumerate(xs) if x is not None]
        if not kept:
            raise ModelFileError(f"{where}: {file} {tab!r}: no x (or time) values at {axis!r}; check the reference")
        order = sorted(kept, key=lambda i: xs[i])  # type: ignore[arg-type, return-value]
        points = [float(xs[i]) for i in order]  # type: ignore[arg-type]
        if any(a == b for a, b in zip(points, points[1:])):
            raise ModelFileError(f"{where}: {file} {tab!r}: the x (or time) values at {axis!r} repeat a value")
        return [self._table(points, [line[i] for i in order], method, where) for line in lines]

    @staticmethod
    def _table(xs: list[float], ys: list[float | None], method: Method, where: str) -> Table:
        """The points, blank y values filled by the method from the known ones (raw: left out)."""
        known = [(x, y) for x, y in zip(xs, ys) if y is not None]
        if not known:
            raise ModelFileError(f"{where}: an element's values are all empty; give at least one number")
        if method == "raw":
            return Table(tuple(x for x, _ in known), tuple(float(y) for _, y in known))
        filled = [y if y is not None else _fill(x, known, method) for x, y in zip(xs, ys)]
        return Table(tuple(xs), tuple(float(y) for y in filled))

    # -- files, sheets, ranges -------------------------------------------------------------------
    def _path(self, name: str, where: str) -> Path:
        """The file ``name`` inside the model's folder; refused when it would lead anywhere else."""
        if self.folder is None:
            raise ModelFileError(f"{where}: the model was read from text, so there is no folder to read "
                                 f"{name!r} from; read the model from its file")
        if name.startswith("?"):
            raise ModelFileError(f"{where}: {name!r} is an indirect reference to a file named in Vensim's settings, "
                                 "which PolicyLab does not read; give the file name")
        relative = PurePosixPath(name.replace("\\", "/"))
        if relative.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in relative.parts or not relative.parts:
            raise ModelFileError(f"{where}: the data file {name!r} must be a path inside the model's folder (no "
                                 "absolute path, no '..'); copy it beside the model")
        candidate = self.folder.joinpath(*relative.parts)
        if not candidate.exists():
            raise ModelFileError(f"{where}: the data file {name!r} is not in {self.folder}; put it beside the model")
        if not within(self.folder, candidate):
            raise ModelFileError(f"{where}: the data file {name!r} leads outside the model's folder (a symlink); "
                                 "copy the file beside the model")
        return candidate

    def _bytes(self, path: Path, where: str) -> bytes:
        try:
            return read_capped(path, VENSIM_BYTES, "data file")
        except UnreadableFileError as err:
            raise ModelFileError(f"{where}: {err}") from err

    def _book(self, path: Path, where: str) -> object:
        if path not in self._books:
            from openpyxl import load_workbook  # imported here: only models reading workbooks need it

            try:
                self._books[path] = load_workbook(io.BytesIO(self._bytes(path, where)), read_only=True,
                                                  data_only=True)
            except ModelFileError:
                raise
            except Exception as err:  # openpyxl raises many kinds on a damaged file
                raise ModelFileError(f"{where}: cannot read {path.name} as an .xlsx workbook ({err})") from err
        return self._books[path]

    def _sheet(self, book: object, tab: str, file: str, where: str) -> object:
        names = list(getattr(book, "sheetnames"))
        found = next((n for n in names if n == tab), None) or next((n for n in names if n.lower() == tab.lower()),
                                                                   None)
        if found is None:
            raise ModelFileError(f"{where}: {file} has no sheet {tab!r}; its sheets are {', '.join(names)}")
        return book[found]  # type: ignore[index]

    def _grid(self, file: str, tab: str, where: str) -> Grid:
        path = self._path(file, where)
        key = (path, tab.lower())
        if key in self._grids:
            return self._grids[key]
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            sheet = self._sheet(self._book(path, where), tab, file, where)
            rows = getattr(sheet, "iter_rows")(values_only=True)
        elif suffix in (".csv", ".tab", ".txt"):
            text = self._bytes(path, where).decode("utf-8-sig", errors="replace")
            separator = tab if len(tab) == 1 and not tab.isalnum() else ("\t" if suffix != ".csv" else ",")
            rows = csv.reader(io.StringIO(text), delimiter=separator)
        elif suffix == ".xls":
            rows = self._xls_rows(path, tab, file, where)
        else:
            raise ModelFileError(f"{where}: {file}: PolicyLab reads data from .xlsx, .xlsm, .csv and .tab files")
        grid: Grid = []
        cells = 0
        for row in rows:
            cells += len(row)
            if cells > MAX_CELLS:
                raise ModelFileError(f"{where}: {file} {tab!r} holds more than {MAX_CELLS:,} cells; keep only the data "
                                     "the model reads")
            grid.append([_number(v) for v in row])
        self._grids[key] = grid
        return grid

    def _xls_rows(self, path: Path, tab: str, file: str, where: str) -> list[list[object]]:
        """The rows of a sheet of an old binary .xls workbook, through xlrd (the ``xls`` extra) when installed."""
        try:
            import xlrd  # the old format only; optional: pip install policylab[xls]
        except ImportError:
            raise ModelFileError(f"{where}: {file} is in the old binary Excel format (.xls); install the xls extra "
                                 "(pip install 'policylab[xls]', which adds xlrd) or save it as .xlsx") from None
        try:
            book = xlrd.open_workbook(file_contents=self._bytes(path, where), on_demand=True)
            names = book.sheet_names()
            found = next((n for n in names if n == tab), None) or next((n for n in names if n.lower() == tab.lower()),
                                                                       None)
            if found is None:
                raise ModelFileError(f"{where}: {file} has no sheet {tab!r}; its sheets are {', '.join(names)}")
            sheet = book.sheet_by_name(found)
            if sheet.nrows * sheet.ncols > MAX_CELLS:
                raise ModelFileError(f"{where}: {file} {tab!r} holds more than {MAX_CELLS:,} cells; keep only the "
                                     "data the model reads")
            return [sheet.row_values(r) for r in range(sheet.nrows)]
        except ModelFileError:
            raise
        except Exception as err:  # xlrd raises many kinds on a damaged file
            raise ModelFileError(f"{where}: cannot read {file} as an .xls workbook ({err})") from err

    def _named(self, file: str, tab: str, name: str, where: str) -> Grid:
        """The cells of a named range, the sheet's own name first, then the workbook's."""
        path = self._path(file, where)
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            raise ModelFileError(f"{where}: {name!r} is neither a cell reference (B5) nor, in a {path.suffix} file, "
                                 "a named range; give a cell reference")
        book = self._book(path, where)
        sheet = self._sheet(book, tab, file, where)
        defined = getattr(sheet, "defined_names", {}).get(name) or getattr(book, "defined_names").get(name)
        if defined is None:
            raise ModelFileError(f"{where}: {name!r} is neither a cell reference (B5) nor a range named in {file} "
                                 f"(sheet {tab!r} or the workbook); check the name")
        destinations = list(defined.destinations)
        if len(destinations) != 1:
            raise ModelFileError(f"{where}: the named range {name!r} in {file} is not one block of cells")
        target, cells = destinations[0]
        corners = [split_cell(c.replace("$", "")) for c in cells.split(":")]
        if any(c is None for c in corners) or len(corners) > 2:
            raise ModelFileError(f"{where}: the named range {name!r} in {file} is {cells!r}, not a block of cells")
        (r0, c0), (r1, c1) = corners[0], corners[-1]  # type: ignore[misc]
        grid = self._grid(file, target, where)
        return _block(grid, r0, r1 + 1, c0, c1 + 1)


def _texts(call: Call, count: int, where: str) -> list[str]:
    label = call.func.replace("_", " ").upper()
    if len(call.args) != count or not all(isinstance(a, Text) for a in call.args):
        wanted = "'file', 'tab', 'cell'" if count == 3 else "'file', 'tab', 'x row or column', 'cell'"
        raise ModelFileError(f"{where}: {label} takes {count} quoted texts ({wanted})")
    return [a.value.strip() for a in call.args]  # type: ignore[attr-defined]


def _block_shape(counts: tuple[int, ...], where: str) -> tuple[int, int]:
    """Rows and columns a constant block spans: the left side's ranges of more than one element, the last along."""
    sizes = [n for n in counts if n > 1]
    if len(sizes) > 2:
        raise ModelFileError(f"{where}: GET … CONSTANTS reads a block of at most two ranges of more than one element; "
                             "split the equation by the other subscripts")
    sizes = [1] * (2 - len(sizes)) + sizes
    return sizes[0], sizes[1]


def _block(grid: Grid, r0: int, r1: int | None, c0: int, c1: int | None) -> Grid:
    """The cells from row r0 to r1 and column c0 to c1 (ends excluded; None: to the end of the sheet); cells past
    the sheet's end are blank."""
    last_row = len(grid) if r1 is None else r1
    width = max((len(r) for r in grid), default=0)
    last_col = width if c1 is None else c1
    out: Grid = []
    for r in range(r0, last_row):
        row = grid[r] if r < len(grid) else []
        out.append([row[c] if c < len(row) else None for c in range(c0, last_col)])
    return out


def _number(value: object) -> float | None:
    """A cell's number; None for a blank or text that is not a number (as Vensim skips it)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _fill(x: float, known: list[tuple[float, float]], method: Method) -> float:
    """A blank value at ``x`` from the known points, by the variable's own method (beyond them: the nearest)."""
    if x <= known[0][0]:
        return known[0][1]
    if x >= known[-1][0]:
        return known[-1][1]
    if method == "look_forward":
        return next(y for kx, y in known if kx >= x)
    if method == "hold_backward":
        return [y for kx, y in known if kx <= x][-1]
    for (xa, ya), (xb, yb) in zip(known, known[1:]):
        if xa <= x <= xb:
            return ya + (yb - ya) * (x - xa) / (xb - xa)
    return known[-1][1]


def _of_time(table: Table, method: Method) -> Expr:
    """The data as a lookup of Time (``with_lookup`` holding the table, ``stepped`` when held)."""
    if method == "interpolate":
        return Call("with_lookup", (Name("time"), table))  # type: ignore[arg-type]
    if method == "look_forward":
        mirrored = Table(tuple(-x for x in reversed(table.xs)), tuple(reversed(table.ys)))
        return Call(STEPPED, (UnaryOp("-", Name("time")), mirrored))  # type: ignore[arg-type]
    return Call(STEPPED, (Name("time"), table))  # type: ignore[arg-type]


STEPPED = "with_stepped_lookup"
"""A reader-internal form: the variable is a lookup that holds each point's y until the next x."""

__all__ = ["DataFiles", "Filled", "MAX_CELLS", "STEPPED", "column_number", "data_call", "split_cell"]
