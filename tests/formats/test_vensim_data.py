"""Vensim's GET XLS/DIRECT functions and data variables, read from small .csv/.xlsx files written here."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook
from openpyxl.workbook.defined_name import DefinedName

import policylab
from policylab.errors import ModelFileError
from policylab.formats.vensim import VensimReadWarning, read_vensim
from policylab.formats.vensim import data
from policylab.formats.vensim.data import column_number, split_cell
from policylab.model.ir import Constant

CONTROL = """
FINAL TIME = 4 ~ Day ~ |
INITIAL TIME = 0 ~ Day ~ |
SAVEPER = TIME STEP ~ Day ~ |
TIME STEP = 1 ~ Day ~ |
"""


def _model(folder: Path, equations: str) -> Path:
    path = folder / "m.mdl"
    path.write_text(equations + CONTROL, encoding="utf-8")
    return path


def _run(path: Path) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        result = policylab.Model(read_vensim(path)).run()
    return {key: np.asarray(result[key].values, dtype=float)[0] for key in result.data_vars}


def _constants(path: Path) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        model = read_vensim(path)
    return {name: var.value for name, var in model.variables.items() if isinstance(var, Constant)}


def _csv(folder: Path, name: str, rows: list[list[object]]) -> None:
    (folder / name).write_text("\n".join(",".join("" if v is None else str(v) for v in row) for row in rows) + "\n",
                               encoding="utf-8")


def _xlsx(folder: Path, name: str, sheets: dict[str, list[list[object]]],
          names: dict[str, str] | None = None) -> None:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    for label, target in (names or {}).items():
        book.defined_names[label] = DefinedName(label, attr_text=target)
    book.save(folder / name)


def test_cell_references_read_as_excel_numbers_them() -> None:
    assert split_cell("B5") == (4, 1)
    assert split_cell("aa10") == (9, 26)
    assert column_number("AB") == 27
    assert split_cell("A0") is None and split_cell("value1") is None and split_cell("ABCD1") is None


# -- constants ---------------------------------------------------------------------------------
def test_constants_fill_a_row_a_block_and_a_transposed_column_from_a_top_left_cell(tmp_path: Path) -> None:
    _csv(tmp_path, "c.csv", [["", "", ""], ["", 1, 2, 3], ["", 4, 5, 6], ["", 7]])
    path = _model(tmp_path, """Dim: a, b, c ~ ~ |
Two: p, q ~ ~ |
k = GET DIRECT CONSTANTS('c.csv', ',', 'C3') ~ ~ |
row[Dim] = GET DIRECT CONSTANTS('c.csv', ',', 'B2') ~ ~ |
column[Two] = GET DIRECT CONSTANTS('c.csv', ',', 'B3*') ~ ~ |
m[Two, Dim] = GET XLS CONSTANTS('c.csv', ',', 'B2') ~ ~ |
""")
    out = _constants(path)
    assert out["k"] == 5
    assert [out[f"row[{e}]"] for e in "abc"] == [1, 2, 3]
    assert [out[f"column[{e}]"] for e in "pq"] == [4, 7]
    assert [out[f"m[{p},{e}]"] for p in "pq" for e in "abc"] == [1, 2, 3, 4, 5, 6]


def test_constants_over_a_subrange_and_named_ranges_of_the_sheet_and_the_workbook(tmp_path: Path) -> None:
    _xlsx(tmp_path, "d.xlsx", {"Main": [[10, 20, 30], [1], [2], [3]], "Other": [[7, 8]]},
          {"across": "Main!$A$1:$C$1", "down": "Main!$A$2:$A$4", "pair": "Other!$A$1:$B$1"})
    path = _model(tmp_path, """Dim: a, b, c ~ ~ |
Sub: b, c ~ ~ |
x[Dim] = GET DIRECT CONSTANTS('d.xlsx', 'main', 'across') ~ ~ |
y[Dim] = GET DIRECT CONSTANTS('d.xlsx', 'Main', 'down*') ~ ~ |
z[a] = 0 ~ ~ |
z[Sub] = GET DIRECT CONSTANTS('d.xlsx', 'Other', 'pair') ~ ~ |
""")
    out = _constants(path)
    assert [out[f"x[{e}]"] for e in "abc"] == [10, 20, 30]
    assert [out[f"y[{e}]"] for e in "abc"] == [1, 2, 3]
    assert [out[f"z[{e}]"] for e in "abc"] == [0, 7, 8]


# -- lookups and data --------------------------------------------------------------------------
def test_lookups_read_x_along_a_row_or_down_a_column(tmp_path: Path) -> None:
    # x values 0, 2, 4 in row 1 from B; one element per row below.
    _csv(tmp_path, "l.csv", [["x", 0, 2, 4], ["a", 0, 10, 20], ["b", 5, 5, 1]])
    _csv(tmp_path, "v.csv", [["t", "a"], [0, 1], [4, 9]])
    path = _model(tmp_path, """Dim: a, b ~ ~ |
t[Dim](GET XLS LOOKUPS('l.csv', ',', '1', 'B2')) ~ ~ |
u = GET DIRECT LOOKUPS('v.csv', ',', 'A', 'B2') ~ ~ |
ya = t[a](Time) ~ ~ |
yb = t[b](Time) ~ ~ |
yu = u(Time) ~ ~ |
""")
    out = _run(path)
    np.testing.assert_allclose(out["ya"], [0, 5, 10, 15, 20])
    np.testing.assert_allclose(out["yb"], [5, 5, 5, 3, 1])
    np.testing.assert_allclose(out["yu"], [1, 3, 5, 7, 9])


def test_data_variables_interpolate_hold_and_look_forward_as_their_keywords_say(tmp_path: Path) -> None:
    # data at times 1 and 3: 10 and 30
    _csv(tmp_path, "d.csv", [["time", 1, 3], ["v", 10, 30]])
    path = _model(tmp_path, """
plain := GET DIRECT DATA('d.csv', ',', '1', 'B2') ~ ~ |
held :HOLD BACKWARD: := GET DIRECT DATA('d.csv', ',', '1', 'B2') ~ ~ |
ahead :LOOK FORWARD: := GET DIRECT DATA('d.csv', ',', '1', 'B2') ~ ~ |
""")
    out = _run(path)
    np.testing.assert_allclose(out["plain"], [10, 10, 20, 30, 30])
    np.testing.assert_allclose(out["held"], [10, 10, 10, 30, 30])
    np.testing.assert_allclose(out["ahead"], [10, 10, 30, 30, 30])


def test_blank_times_drop_their_point_and_blank_values_are_filled_by_the_method(tmp_path: Path) -> None:
    # times 0, (blank), 2, 4 ; values 0, 99, (blank), 40 -> points (0,0), (2, filled), (4,40)
    _xlsx(tmp_path, "g.xlsx", {"S": [["t", 0, None, 2, 4], ["v", 0, 99, None, 40]]})
    path = _model(tmp_path, """
lin := GET XLS DATA('g.xlsx', 'S', '1', 'B2') ~ ~ |
held :HOLD BACKWARD: := GET XLS DATA('g.xlsx', 'S', '1', 'B2') ~ ~ |
""")
    out = _run(path)
    np.testing.assert_allclose(out["lin"], [0, 10, 20, 30, 40])  # the blank at 2 is 20, between 0 and 40
    np.testing.assert_allclose(out["held"], [0, 0, 0, 0, 40])  # the blank at 2 holds 0


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("equation", "message"), [
    ("x = GET DIRECT CONSTANTS('gone.csv', ',', 'A1')", r"m\.mdl:1: x: the data file 'gone\.csv' is not in"),
    ("x = GET DIRECT CONSTANTS('../c.csv', ',', 'A1')", r"m\.mdl:1: x: .*inside the model's folder \(no absolute"),
    ("x = GET DIRECT CONSTANTS('/etc/passwd', ',', 'A1')", r"m\.mdl:1: x: .*inside the model's folder"),
    ("x = GET DIRECT CONSTANTS('?data', ',', 'A1')", r"m\.mdl:1: x: '\?data' is an indirect reference"),
    ("x = GET DIRECT CONSTANTS('c.csv', ',', 'A0')", r"m\.mdl:1: x: 'A0' is neither a cell reference"),
    ("x = GET DIRECT CONSTANTS('c.csv', ',', 'C9')", r"m\.mdl:1: x: c\.csv ',' C9: a cell .* is empty"),
    ("x = GET DIRECT CONSTANTS('w.xlsx', 'Nope', 'A1')", r"m\.mdl:1: x: w\.xlsx has no sheet 'Nope'; its sheets are S"),
    ("x = GET DIRECT CONSTANTS('w.xlsx', 'S', 'nothing')", r"m\.mdl:1: x: 'nothing' is neither a cell reference"),
    ("x = GET DIRECT CONSTANTS('old.xls', 'S', 'A1')", r"m\.mdl:1: x: (cannot read old\.xls as an \.xls|old\.xls is "
                                                        r"in the old binary Excel format)"),
    ("x = GET DIRECT CONSTANTS('c.csv', 'A1')", r"m\.mdl:1: x: GET DIRECT CONSTANTS takes 3 quoted texts"),
    ("x = 2 * GET DIRECT CONSTANTS('c.csv', ',', 'A1')", r"m\.mdl:1: x: GET DIRECT CONSTANTS: .*the whole equation"),
    ("x := 1", r"m\.mdl:1: x: a data variable"),
])
def test_bad_data_references_name_file_line_and_what_to_do(tmp_path: Path, equation: str, message: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    _csv(tmp_path, "c.csv", [[1]])
    _csv(folder, "c.csv", [[1, 2]])
    _xlsx(folder, "w.xlsx", {"S": [[1]]})
    (folder / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ModelFileError, match=message):
        read_vensim(_model(folder, equation + " ~ ~ |\n"))


def test_a_symlink_leading_out_of_the_model_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    _csv(tmp_path, "secret.csv", [[42]])
    os.symlink(tmp_path / "secret.csv", folder / "link.csv")
    with pytest.raises(ModelFileError, match=r"m\.mdl:1: x: the data file 'link\.csv' leads outside the model's folder"):
        read_vensim(_model(folder, "x = GET DIRECT CONSTANTS('link.csv', ',', 'A1') ~ ~ |\n"))


def test_a_lookup_whose_sizes_do_not_match_its_named_ranges_is_refused(tmp_path: Path) -> None:
    _xlsx(tmp_path, "n.xlsx", {"S": [[0, 1, 2], [5, 6, 7]]}, {"xs": "S!$A$1:$C$1", "ys": "S!$A$2:$B$2"})
    with pytest.raises(ModelFileError, match=r"m\.mdl:1: t: the named range 'ys' in n\.xlsx holds 1 line"):
        read_vensim(_model(tmp_path, "t(GET DIRECT LOOKUPS('n.xlsx', 'S', 'xs', 'ys')) ~ ~ |\n"))


def test_raw_data_hold_their_value_between_times_with_a_warning(tmp_path: Path) -> None:
    _csv(tmp_path, "d.csv", [["time", 0, 2], ["v", 1, 3]])
    path = _model(tmp_path, "r :RAW: := GET DIRECT DATA('d.csv', ',', '1', 'B2') ~ ~ |\n")
    with pytest.warns(VensimReadWarning, match=r"m\.mdl:1: r: :RAW: data are read as :HOLD BACKWARD:"):
        read_vensim(path)
    np.testing.assert_allclose(_run(path)["r"], [1, 1, 3, 3, 3])


def test_a_sheet_over_the_cell_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MAX_CELLS", 5)
    _csv(tmp_path, "big.csv", [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ModelFileError, match=r"m\.mdl:1: x: big\.csv ',' holds more than 5 cells"):
        read_vensim(_model(tmp_path, "x = GET DIRECT CONSTANTS('big.csv', ',', 'A1') ~ ~ |\n"))
