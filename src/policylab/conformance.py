"""Run a folder of XMILE and Vensim test models and compare each with its expected output.

The tests are the files ``TESTS.txt`` in the folder lists (one path a line, relative to the
folder), else every ``*.xmile`` and ``*.mdl`` file found recursively.

The rule (``../shared/conformance/xmile/README.md``):

- names match XMILE-style: case-insensitive, ``_`` and space equal, quotes and line
  breaks ignored (``Name[a, b]`` equals ``name[a,b]``);
- rows align by time with relative tolerance 1e-5;
- every cell must satisfy ``|expected - actual| <= 1e-5 + 1e-5 * |actual|``;
- a test passes when every expected column other than the control variables is produced
  and matches at every time (``INITIAL TIME``, ``FINAL TIME``, ``TIME STEP`` and
  ``SAVEPER`` are not compared: they are settings, and the READMEs of both suites leave
  them out; ``_actual`` still fills them from the time settings).

Empty cells: a column whose only value is in the first row is a constant that the ``.tab``
file prints once (the README: "fill those down"), so it is filled down. Any other empty cell
is a value Vensim did not have: it writes its ``:NA:`` as an empty cell (the suite's ``na``
case), so there the model must give no value either (NaN, or Vensim's :NA: number).
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policylab.errors import PolicyLabError, UsageError
from policylab.expr.names import canonical
from policylab.formats.vensim.equations import NA_VALUE
from policylab.model.ir import Model as ModelIR

CONTROL_KEYS = frozenset({"initial_time", "final_time", "time_step", "saveper"})
"""The control variables' columns, which the comparison leaves out."""
RTOL = 1e-5
ATOL = 1e-5
TIME_RTOL = 1e-5
_SUBSCRIPTED = re.compile(r"^(.*)\[(.*)\]$", re.DOTALL)


def column_key(name: str) -> str:
    """The canonical form of an output column name (``Stock A[Entry 1]`` -> ``stock_a[entry_1]``)."""
    text = name.replace('"', "")
    match = _SUBSCRIPTED.match(text.strip())
    if match:
        base, inside = match.groups()
        return f"{canonical(base)}[{','.join(canonical(part) for part in inside.split(','))}]"
    return canonical(text)


@dataclass(frozen=True)
class Expected:
    """An expected-output table: times, and values by column key (NaN where unknown)."""

    times: np.ndarray
    columns: dict[str, tuple[str, np.ndarray]]


@dataclass
class Outcome:
    """The result of one test file."""

    path: Path
    passed: bool
    message: str = ""
    warnings: list[str] = field(default_factory=list)

    def line(self, root: Path | None = None) -> str:
        shown = self.path.relative_to(root) if root is not None and self.path.is_relative_to(root) else self.path
        return f"PASS {shown}" if self.passed else f"FAIL {shown}: {self.message}"


TEST_SUFFIXES = (".xmile", ".mdl")
TEST_LIST = "TESTS.txt"


def find_tests(root: Path) -> list[Path]:
    """The files ``root/TESTS.txt`` lists, else every ``*.xmile`` and ``*.mdl`` file under ``root`` (sorted)."""
    root = Path(root)
    listing = root / TEST_LIST
    if listing.is_file():
        return _listed(root, listing)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEST_SUFFIXES)


def find_matching(root: Path, pattern: str) -> list[Path]:
    """The files under ``root`` whose name matches ``pattern`` (``*.xmile``), recursively and sorted, ignoring
    ``TESTS.txt``: how the Vensim suite's XMILE twins, which its list leaves out, are run."""
    return sorted(p for p in Path(root).rglob(pattern) if p.is_file())


def _listed(root: Path, listing: Path) -> list[Path]:
    """The paths of a test list, each kept inside ``root`` (blank lines and ``#`` comments skipped)."""
    tests: list[Path] = []
    base = root.resolve()
    for number, raw in enumerate(listing.read_text(encoding="utf-8-sig").splitlines(), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        path = root / entry
        if not path.resolve().is_relative_to(base):
            raise UsageError(f"{listing}:{number}: {entry!r} is outside the folder; list paths inside it")
        tests.append(path)
    return tests


def expected_file(model_path: Path) -> Path | None:
    """``output.csv`` beside the model, else ``output.tab`` (None when neither exists)."""
    for name in ("output.csv", "output.tab"):
        candidate = model_path.parent / name
        if candidate.exists():
            return candidate
    return None


def _number(cell: str) -> float:
    text = cell.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_expected(path: Path) -> Expected:
    """Read ``output.csv`` / ``output.tab``: constants printed in the first row only are filled down; other empty
    cells stay NaN (no value expected there)."""
    delimiter = "\t" if path.suffix.lower() == ".tab" else ","
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # Vensim writes some outputs in Latin-1
        text = data.decode("latin-1")
    lines = io.StringIO(text, newline="")
    rows = [row for row in csv.reader(lines, delimiter=delimiter) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header and at least one row of values")
    header, body = rows[0], rows[1:]
    width = len(header)
    table = np.full((len(body), width), np.nan)
    for i, row in enumerate(body):
        for j, cell in enumerate(row[:width]):
            table[i, j] = _number(cell)
    for j in range(width):
        column = table[:, j]
        if len(column) > 1 and not np.isnan(column[0]) and np.isnan(column[1:]).all():  # a constant printed once
            column[1:] = column[0]
    columns = {column_key(name): (name.strip(), table[:, j]) for j, name in enumerate(header) if j > 0}
    return Expected(table[:, 0], columns)


def _control_columns(model) -> dict[str, float]:  # noqa: ANN001 - policylab.Model (import kept lazy)
    spec = model.ir.time
    return {"initial_time": spec.start, "final_time": spec.stop, "time_step": spec.dt, "saveper": spec.save_every}


def _actual(model, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:  # noqa: ANN001
    from policylab.model.ir import Constant

    result = model.run()
    times = np.asarray(result["time"].values, dtype=float)
    values: dict[str, np.ndarray] = {}
    for key in keys:
        if key in result.data_vars:
            values[key] = np.asarray(result[key].values, dtype=float)[0]
        elif isinstance(model.ir.variables.get(key), Constant):
            values[key] = np.full(times.shape, model.ir.variables[key].value)
    for key, value in _control_columns(model).items():
        if key in keys and key not in values:
            values[key] = np.full(times.shape, value)
    return times, values


def _missing(values: np.ndarray) -> np.ndarray:
    """Where a model gives no value: NaN, or Vensim's :NA: number (within the cell tolerance)."""
    return np.isnan(values) | (np.abs(values - NA_VALUE) <= ATOL + RTOL * abs(NA_VALUE))


def compare(expected: Expected, times: np.ndarray, actual: dict[str, np.ndarray]) -> str | None:
    """None when ``actual`` matches ``expected`` under the rule; else why not (first difference)."""
    rows = []
    for t in expected.times:
        if np.isnan(t):
            continue
        close = np.flatnonzero(np.abs(times - t) <= TIME_RTOL * np.maximum(np.abs(times), abs(t)) + 1e-12)
        if close.size == 0:
            return f"no output at time {t:g} (the model saves {times[0]:g}..{times[-1]:g})"
        rows.append(int(close[0]))
    index = np.asarray(rows, dtype=int)
    valid = ~np.isnan(expected.times)
    for key, (name, column) in expected.columns.items():
        if key in CONTROL_KEYS:
            continue
        if key not in actual:
            return f"variable {name!r} is not produced by the model"
        want = column[valid]
        got = actual[key][index]
        missing = _missing(got)
        bad = np.where(np.isnan(want), ~missing, missing | ~(np.abs(want - got) <= ATOL + RTOL * np.abs(got)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            wanted = "no value (an empty cell: Vensim's :NA:)" if np.isnan(want[i]) else f"{want[i]:.9g}"
            return f"{name} at time {expected.times[valid][i]:g}: expected {wanted}, got {got[i]:.9g}"
    return None


def run_test(path: Path, expected_path: Path | None = None) -> Outcome:
    """Run the model at ``path`` and compare it with its expected output."""
    import policylab

    path = Path(path)
    expected_path = expected_path or expected_file(path)
    if expected_path is None:
        return Outcome(path, False, "no output.csv or output.tab beside the model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            expected = read_expected(expected_path)
            model = policylab.load(path)
            times, actual = _actual(model, list(expected.columns))
        except (PolicyLabError, ValueError, OSError) as err:
            return Outcome(path, False, f"{type(err).__name__}: {err}", [str(w.message) for w in caught])
    notes = [str(w.message) for w in caught]
    problem = compare(expected, times, actual)
    return Outcome(path, problem is None, problem or "", notes)


ROUND_TRIP_RTOL = 1e-9
"""How close a round-tripped model's results must be to the original's (relative; the formats write numbers
exactly, so only a reordered sum may differ)."""


def round_trip(ir: ModelIR) -> ModelIR:
    """``ir`` written as YAML and read back, then written as XMILE and read back: every writer and reader a
    converted model passes through (``policylab convert`` to .yaml, edited, then to .xmile)."""
    from policylab.formats.xmile import read_xmile_bytes, write_xmile
    from policylab.formats.yaml_reader import read_yaml_text
    from policylab.formats.yaml_writer import write_yaml

    name = Path(ir.path).stem if ir.path else ir.name
    from_yaml = read_yaml_text(write_yaml(ir), f"{name}.yaml")
    return read_xmile_bytes(write_xmile(from_yaml).encode("utf-8"), f"{name}.xmile")


def same_results(first, second) -> str | None:  # noqa: ANN001 - policylab.Model (import kept lazy)
    """None when ``second`` saves every variable ``first`` saves, with the same values (``ROUND_TRIP_RTOL``,
    NaN where ``first`` has NaN) in deterministic runs; else the first difference."""
    a, b = first.run(deterministic=True), second.run(deterministic=True)
    if not np.array_equal(a["time"].values, b["time"].values):
        return f"the times differ: {a.sizes['time']} saved from {float(a['time'][0]):g}, now {b.sizes['time']}"
    for name in a.data_vars:
        if name not in b.data_vars:
            return f"{name} is no longer saved"
        want, got = np.asarray(a[name].values, dtype=float), np.asarray(b[name].values, dtype=float)
        close = np.isclose(got, want, rtol=ROUND_TRIP_RTOL, atol=0.0, equal_nan=True)
        if not close.all():
            index = np.unravel_index(int(np.flatnonzero(~close)[0]), want.shape)
            time = float(a["time"].values[index[-1]])
            return f"{name} at time {time:g}: {want[index]:.17g} before, {got[index]:.17g} after"
    return None


def run_round_trip(path: Path) -> Outcome:
    """Read the model at ``path``, round-trip it (:func:`round_trip`) and compare the results (:func:`same_results`);
    a writer's refusal fails with its message."""
    import policylab

    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            original = policylab.load(path)
            copy = policylab.Model(round_trip(original.ir))
            problem = same_results(original, copy)
        except (PolicyLabError, ValueError, OSError) as err:
            return Outcome(path, False, f"{type(err).__name__}: {err}", [str(w.message) for w in caught])
    return Outcome(path, problem is None, problem or "", [str(w.message) for w in caught])


def run_suite(root: Path) -> list[Outcome]:
    """Run every test of ``root`` (see :func:`find_tests`)."""
    return [run_test(path) for path in find_tests(Path(root))]


def summary(outcomes: list[Outcome]) -> str:
    """The final line: ``N passed, M failed``."""
    passed = sum(o.passed for o in outcomes)
    return f"{passed} passed, {len(outcomes) - passed} failed"


__all__ = ["ROUND_TRIP_RTOL", "Expected", "Outcome", "column_key", "compare", "expected_file", "find_matching",
           "find_tests", "read_expected", "round_trip", "run_round_trip", "run_suite", "run_test", "same_results",
           "summary"]
