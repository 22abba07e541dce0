"""The YAML writer and `policylab convert`: a model read from any format, written as YAML, reads back to the same results."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import policylab as pl
from policylab.cli import app
from policylab.formats import read_model
from policylab.formats.yaml_reader import read_yaml_text
from policylab.formats.yaml_writer import text, write_yaml
from policylab.expr.parser import parse

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "conformance"
BUNDLED = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "models").glob("*/model.yaml"))
XMILE = sorted(str(p.relative_to(SHARED / "xmile")) for p in (SHARED / "xmile").glob("*/*.xmile")) if SHARED.exists() else []
VENSIM = ["subscript_2d_arrays/test_subscript_2d_arrays.mdl", "subscript_subranges/test_subscript_subrange.mdl",
          "delay_fixed/test_delay_fixed.mdl", "lookups_with_expr/test_lookups_with_expr.mdl"]


def _same_results(original: pl.Model, copy: pl.Model) -> None:
    for scenario in [None, *original.scenarios[:2]]:
        a = original.run(scenario=scenario, deterministic=True)
        b = copy.run(scenario=scenario, deterministic=True)
        for name in a.data_vars:
            np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-12, atol=1e-12, err_msg=name)


def _round_trip(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ir = read_model(path)
        copy = pl.Model(read_yaml_text(write_yaml(ir), "copy.yaml"))
        _same_results(pl.Model(ir), copy)
    assert set(copy.ir.arrays) == set(ir.arrays)
    assert set(copy.ir.outcomes) == set(ir.outcomes) and set(copy.ir.checks) == set(ir.checks)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_models_round_trip_through_yaml(name: str) -> None:
    _round_trip(ROOT / name)


@pytest.mark.parametrize("name", XMILE)
def test_xmile_suite_models_round_trip_through_yaml(name: str) -> None:
    _round_trip(SHARED / "xmile" / name)


@pytest.mark.parametrize("name", [v for v in VENSIM if (SHARED / "vensim" / v).exists()])
def test_vensim_models_with_subscripts_round_trip_through_yaml(name: str) -> None:
    _round_trip(SHARED / "vensim" / name)


def test_equations_are_written_from_their_trees_and_read_back_the_same() -> None:
    for source in ('IF a > 1 AND NOT b THEN -3 ^ 2 ELSE "odd name" MOD 2', "SUM(x[*]) / x[north, 2]", "f(g(1e999))",
                   "t[north, Old](x + 1) * t[Region, b]()"):  # calls of one element's lookup
        expr = parse(source, "test")
        assert parse(text(expr), "test") == expr


def test_convert_writes_yaml_and_xmile_and_refuses_mdl(tmp_path: Path) -> None:
    runner = CliRunner()
    source = ROOT / "models" / "sir_regions" / "model.yaml"
    done = runner.invoke(app, ["convert", str(source), str(tmp_path / "m.xmile")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["convert", str(tmp_path / "m.xmile"), str(tmp_path / "m.yaml")])
    assert done.exit_code == 0, done.output
    _same_results(pl.load(source), pl.load(tmp_path / "m.yaml"))
    assert pl.load(tmp_path / "m.yaml").ir.arrays["infected"].dims == ("region",)
    done = runner.invoke(app, ["convert", str(source), str(tmp_path / "m.mdl")])
    assert done.exit_code == 2 and "does not write them" in done.output
    done = runner.invoke(app, ["convert", str(source), str(tmp_path / "m.txt")])
    assert done.exit_code == 2 and "give a .yaml or .xmile file" in done.output


def test_convert_says_when_the_yaml_it_wrote_does_not_read_back(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = SHARED / "vensim" / "repeated_subscript" / "test_repeated_subscript.mdl"
    if not source.exists():
        pytest.skip("the Vensim suite is not beside the repository")
    assert CliRunner().invoke(app, ["convert", str(source), str(tmp_path / "ok.yaml")]).exit_code == 0
    monkeypatch.setenv("POLICYLAB_LIMIT_MODEL_BYTES", "200")  # the YAML reader now refuses what was written
    done = CliRunner().invoke(app, ["convert", str(source), str(tmp_path / "m.yaml")])
    assert done.exit_code == 1
    assert "does not read back" in done.output and "to .xmile instead" in done.output


def test_a_reduction_over_a_thousand_elements_is_written_as_written() -> None:
    from _wide import wide_model  # tests/formats/_wide.py

    ir = read_yaml_text(wide_model(1000), "wide.yaml")
    written = write_yaml(ir)
    assert "sum(cases[*])" in written
    assert max(len(line) for line in written.splitlines() if "equation" in line or "initial" in line) < 200
    copy = pl.Model(read_yaml_text(written, "copy.yaml"))
    _same_results(pl.Model(ir), copy)


def test_an_equation_too_long_to_read_back_is_refused_by_both_writers_naming_its_variable() -> None:
    from policylab.errors import ExpressionError
    from policylab.expr.ast import Name
    from policylab.expr.parser import MAX_LENGTH
    from policylab.formats.xmile import write_xmile
    from policylab.model.arrays import combine
    from policylab.model.ir import Auxiliary, Constant, Model, TimeSpec

    big = combine("sum", [Name("x")] * (MAX_LENGTH // 5))
    ir = Model("m", TimeSpec(0, 1, 1, 1), {"x": Constant("x", value=1.0), "big": Auxiliary("big", equation=big)})
    for write in (write_yaml, write_xmile):
        with pytest.raises(ExpressionError, match=rf"^big: the equation is [\d,]+ characters long once written, over "
                                                  rf"the {MAX_LENGTH:,} the readers accept"):
            write(ir)
