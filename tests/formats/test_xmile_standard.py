"""The XMILE 1.0 table of docs/xmile.md: in sync with its rows, every example behaving as its row says.

The rows are in ``xmile_standard.py`` beside this file. A supported row's example computes
values worked out by hand from the standard, so the row's test fails if the construct stops
working; an unsupported row's example must be refused with a message naming the file and line.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import warnings
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest

import policylab
from policylab.errors import PolicyLabError
from policylab.expr.builtins import find_builtin
from policylab.formats.xmile import XmileRepairWarning
from policylab.formats.xmile.equations import FUNCTION_NAMES

_spec = importlib.util.spec_from_file_location("xmile_standard", Path(__file__).with_name("xmile_standard.py"))
assert _spec is not None and _spec.loader is not None
standard = importlib.util.module_from_spec(_spec)
sys.modules["xmile_standard"] = standard  # its dataclasses look their module up
_spec.loader.exec_module(standard)

ROOT = standard.ROOT
NS = 'xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"'
EXAMPLES = [row for row in standard.ROWS if row.example is not None]
RUNS = 2000


def document(example) -> str:  # noqa: ANN001 - xmile_standard.Example
    """The XMILE file of an example."""
    product = f"<product>{example.product}</product>" if example.product else ""
    variables = example.xml or f'<aux name="a"><eqn>{escape(example.eqn)}</eqn></aux>'
    return (f'<?xml version="1.0"?>\n<xmile version="1.0" {NS}>\n<header><vendor>t</vendor>{product}</header>\n'
            f'<sim_specs method="{example.method}">{example.specs}</sim_specs>\n{example.outside}\n'
            f"<model>{example.in_model}\n<variables>\n{variables}\n</variables>\n</model>\n{example.models}\n</xmile>\n")


def _values(model, name: str, runs: int = 1) -> np.ndarray:  # noqa: ANN001 - policylab.Model
    result = model.run(runs=runs, seed=1)
    if name in result.data_vars:
        return np.asarray(result[name].values, dtype=float)
    constant = model.ir.variables[name]
    return np.full((runs, result.sizes["time"]), constant.value)


@pytest.mark.parametrize("row", EXAMPLES, ids=lambda r: r.id)
def test_row_example(row, tmp_path: Path) -> None:  # noqa: ANN001 - xmile_standard.Row
    example = row.example
    path = tmp_path / "standard.xmile"
    path.write_text(document(example), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if example.error:
            assert row.status == "unsupported", "only unsupported rows expect an error"
            with pytest.raises(PolicyLabError, match=example.error) as info:
                policylab.load(path).run()
            assert re.match(rf"{re.escape(str(path))}:\d+: ", str(info.value)), str(info.value)
            return
        model = policylab.load(path)
        if example.moments is not None:
            mean, variance = example.moments
            sample = _values(model, example.var, RUNS).ravel()
            assert abs(sample.mean() - mean) < 5 * np.sqrt(variance / sample.size)
            assert sample.var() == pytest.approx(variance, rel=0.1)
        else:
            got = _values(model, example.var)[0]
            want = np.broadcast_to(np.asarray(example.values, dtype=float), got.shape)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    notes = " ".join(str(w.message) for w in caught if issubclass(w.category, XmileRepairWarning))
    if example.warns:
        assert re.search(example.warns, notes), notes


def test_the_table_in_docs_is_generated_from_the_rows() -> None:
    block = standard.current_block(standard.DOC.read_text(encoding="utf-8"))
    assert block is not None, "docs/xmile.md lost its generated table"
    assert block == standard.render(), "run `python tests/formats/xmile_standard.py` to regenerate docs/xmile.md"


def test_rows_have_unique_ids_and_known_statuses() -> None:
    ids = [row.id for row in standard.ROWS]
    assert len(ids) == len(set(ids))
    assert {row.status for row in standard.ROWS} <= set(standard.STATUSES)


def test_every_supported_or_partial_row_has_a_test_and_every_unsupported_one_an_error_example() -> None:
    for row in standard.ROWS:
        if row.status in ("supported", "partial"):
            assert row.covering(), row.name
        if row.status == "unsupported":
            assert row.example is not None and row.example.error, row.name
        if row.status == "ignored":
            assert row.example is not None and not row.example.error, row.name


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _model_file(node: str) -> Path | None:
    """The model a parametrised conformance test runs, for the ones a row may name."""
    match = re.match(r"(.*)::(\w+)\[(.*)\]$", node)
    if not match:
        return None
    if match.group(1) == standard.OWN.partition("::")[0]:
        return ROOT / "tests" / "conformance" / match.group(3) / "model.xmile"
    if match.group(1) == standard.SUITE.partition("::")[0]:
        return ROOT.parent / "shared" / "conformance" / "xmile" / match.group(3)
    return None


def test_every_test_a_row_names_exists_and_its_model_uses_the_construct() -> None:
    for row in standard.ROWS:
        for node in row.tests:
            path, _, rest = node.partition("::")
            assert (ROOT / path).is_file(), f"{row.name}: {path} does not exist"
            if rest:
                assert rest.split("[")[0] in _functions(ROOT / path), f"{row.name}: no {rest} in {path}"
            model = _model_file(node)
            if model is not None and model.parent.parent.exists():
                assert model.is_file(), f"{row.name}: {model} does not exist"
                if row.token:
                    assert re.search(row.token, model.read_text(encoding="utf-8")), f"{row.name}: {model} lacks it"


SPEC_BUILTINS = {
    "3.5.1": "ABS ARCCOS ARCSIN ARCTAN COS EXP INF INT LN LOG10 MAX MIN PI SIN SQRT TAN",
    "3.5.2": "EXPRND LOGNORMAL NORMAL POISSON RANDOM",
    "3.5.3": "DELAY DELAY1 DELAY3 DELAYN FORCST SMTH1 SMTH3 SMTHN TREND",
    "3.5.4": "PULSE RAMP STEP",
    "3.5.5": "DT STARTTIME STOPTIME TIME",
    "3.5.6": "INIT PREVIOUS SELF",
    "3.7.1.3": "MAX MEAN MIN RANK SIZE STDDEV SUM",
}
"""The builtins of XMILE 1.0 by section (3.5 and the array builtins of 3.7.1.3)."""
_NUMBERS = {"INF", "PI", "STARTTIME", "STOPTIME", "DT", "TIME", "SELF"}


def test_every_builtin_of_the_standard_has_a_row_and_the_supported_ones_a_registry_row() -> None:
    for section, names in SPEC_BUILTINS.items():
        rows = [row for row in standard.ROWS if row.section == section]
        for name in names.split():
            mine = [row for row in rows if re.search(rf"(^|[ ,(]){name}([ ,(]|$)", row.name)]
            assert mine, f"XMILE {section} {name} has no row"
            if section != "3.7.1.3" and name not in _NUMBERS and mine[0].status == "supported":
                canonical = FUNCTION_NAMES.get(name.lower(), name.lower())
                assert find_builtin(canonical) is not None, name
