"""Each vocabulary is defined in one module and imported everywhere else (STYLE: option values as Literals, once).

A copy drifts: the distribution ``Literal`` once existed four times and the statistics
four times. The test reads every module's source and finds each vocabulary's values
written out anywhere but its home; likewise a second ``Uncertainty`` class (or prior CDF),
a second YAML line helper, or a second computation of the sources path.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from policylab.api import Backend
from policylab.compile.desugar import HIDDEN
from policylab.explore.designs import Sampler
from policylab.model.ir import Distribution, Statistic

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "policylab"

VOCABULARIES = {  # name -> (its values, the one module that spells them out)
    "distributions": (get_args(Distribution), "model/ir.py"),
    "statistics": (get_args(Statistic), "model/ir.py"),
    "backends": (get_args(Backend), "choices.py"),
    "samplers": (get_args(Sampler), "choices.py"),
}


def _string_sets(path: Path) -> list[tuple[int, frozenset[str]]]:
    """Every Literal[...], tuple, list or set of two or more string constants in a module, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        elements = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Literal":
            elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            elements = node.elts
        if elements and len(elements) > 1 and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                  for e in elements):
            found.append((node.lineno, frozenset(e.value for e in elements)))  # type: ignore[union-attr]
    return found


@pytest.mark.parametrize("vocabulary", sorted(VOCABULARIES))
def test_a_vocabulary_is_spelled_out_only_in_its_home_module(vocabulary: str) -> None:
    values, home = VOCABULARIES[vocabulary]
    copies = [f"{path.relative_to(PACKAGE)}:{line}" for path in PACKAGE.rglob("*.py")
              for line, strings in _string_sets(path)
              if strings == frozenset(values) and path.relative_to(PACKAGE).as_posix() != home]
    assert not copies, f"import {vocabulary} from policylab/{home} instead of repeating them: {copies}"


ENGINE = ["expr", "compile", "simulate"]


def test_the_time_tolerance_is_one_constant_in_the_engine() -> None:
    inline = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for stage in ENGINE for path in (PACKAGE / stage).rglob("*.py")
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.Constant) and node.value == 1e-9 and path.name not in ("builtins.py", "units.py",
                                                                                              "polarity.py")]
    assert not inline, f"use policylab.expr.builtins.TIME_TOLERANCE: {inline}"


def test_the_hidden_name_marker_is_written_once() -> None:
    vensim = PACKAGE / "formats" / "vensim"  # Vensim's own syntax: `~` separates an equation, its units and comment
    copies = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in PACKAGE.rglob("*.py") if vensim not in path.parents
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.Constant) and node.value == HIDDEN and path.name != "desugar.py"]
    assert not copies, f"use policylab.compile.desugar.HIDDEN or is_hidden: {copies}"


def test_the_inverse_cdf_of_a_parameter_distribution_is_written_once() -> None:
    copies = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
              if "np.sqrt((1 - u)" in path.read_text(encoding="utf-8") and path.name != "sampling.py"]
    assert not copies, f"call policylab.simulate.sampling.from_unit: {copies}"


def _trees() -> dict[str, ast.Module]:
    """Every module of the package, parsed, by its path inside the package."""
    return {path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def _found_outside(home: str, looks_like_a_copy) -> list[str]:  # type: ignore[no-untyped-def]
    """``module:line`` of every node outside ``home`` that ``looks_like_a_copy``."""
    return [f"{module}:{node.lineno}" for module, tree in _trees().items() if module != home
            for node in ast.walk(tree) if looks_like_a_copy(node)]


def _defines(node: ast.AST, *names: str) -> bool:
    return isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in names


def test_a_sampled_parameter_is_one_uncertainty_class() -> None:
    """explore and analysis once had an ``Uncertainty`` each (one with stream sites, one with the CDF)."""
    home = "simulate/sampling.py"
    copies = _found_outside(home, lambda node: _defines(node, "Uncertainty", "from_unit", "to_unit"))
    assert not copies, f"use policylab.simulate.sampling.Uncertainty (its from_unit / to_unit): {copies}"


def test_yaml_lines_and_schema_messages_come_from_one_helper() -> None:
    """bargain once had a copy of the model reader's line lookup and error messages, the overrides and mapping readers
    others, and each reader built and guarded its own ruamel loader."""
    home = "formats/yaml_loader.py"

    def copy(node: ast.AST) -> bool:
        reads_line_records = (isinstance(node, ast.Attribute) and node.attr == "lc") or (
            isinstance(node, ast.Constant) and node.value == "lc")  # ruamel's line records: line_of reads them
        formats_schema_errors = isinstance(node, ast.Constant) and node.value == "extra_forbidden"  # pydantic's error type
        builds_a_loader = isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "YAML")
            or (isinstance(node.func, ast.Attribute) and node.func.attr in ("YAML", "safe_load", "load_all")))
        return (reads_line_records or formats_schema_errors or builds_a_loader
                or _defines(node, "line_of", "validation_message", "parse_yaml", "load_yaml"))

    copies = _found_outside(home, copy)
    assert not copies, f"use policylab.formats.yaml_loader (parse_yaml, line_of, validation_message): {copies}"


def test_the_sources_path_is_computed_once() -> None:
    """Model evidence and stakeholder quotes once each built the list of folders searched for source documents."""
    home = "model/evidence.py"

    def copy(node: ast.AST) -> bool:
        reads_the_variable = isinstance(node, ast.Constant) and node.value == "POLICYLAB_SOURCES"
        joins_sources = (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                         and isinstance(node.right, ast.Constant) and node.right.value == "sources")
        return reads_the_variable or joins_sources or _defines(node, "sources_path", "find_source")

    copies = _found_outside(home, copy)
    assert not copies, f"use policylab.model.evidence.sources_path and find_source: {copies}"
