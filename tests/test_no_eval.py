"""Model text never becomes Python code: no eval/exec/compile builtins, no generated modules.

The static half reads every module under ``src/`` with :mod:`ast` and rejects calls of
the builtins (a method or function of our own that happens to be called ``compile`` is
fine: only the bare builtin names, or ``builtins.<name>``, are flagged) and the
machinery that imports code from files or strings (importing one of our own installed
modules by a literal ``policylab.…`` name, as the CLI's plugin list does, is allowed). The dynamic half loads and runs a
model and checks that no Python source was written and no module appeared that does
not come from an installed package or from policylab itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import policylab

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted(SRC.rglob("*.py"))

FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_CALLS = {"import_module", "spec_from_file_location", "spec_from_loader", "exec_module", "load_module",
                   "module_from_spec", "run_path", "run_module", "load_source"}
OWN_PACKAGE = "policylab."
FORBIDDEN_IMPORTS = {"runpy", "imp", "code", "codeop", "importlib.util", "importlib.machinery"}


def shadowed_names(tree: ast.Module) -> set[str]:
    """Names the module binds itself (then a call of that name is not the builtin)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.alias) and node.asname is None and "." not in node.name:
            bound.add(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            bound.add(node.asname)
    return bound


def own_module_names(tree: ast.Module) -> set[str]:
    """Loop variables that range over a literal tuple/list of policylab module names.

    ``for module in PLUGINS: importlib.import_module(module)`` with ``PLUGINS`` a constant of
    ``"policylab.…"`` strings imports our own installed modules by name, not generated code.
    """
    constants: set[str] = set()
    for node in tree.body:
        target, value = (node.targets[0], node.value) if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            else (node.target, node.value) if isinstance(node, ast.AnnAssign) else (None, None)
        if isinstance(target, ast.Name) and isinstance(value, (ast.Tuple, ast.List)) and value.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value.startswith(OWN_PACKAGE)
            for e in value.elts
        ):
            constants.add(target.id)
    return {
        node.target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name)
        and isinstance(node.iter, ast.Name) and node.iter.id in constants
    }


def imports_own_module(call: ast.Call, loop_names: set[str]) -> bool:
    """True when ``import_module``'s argument is a literal policylab module or ranges over them."""
    if len(call.args) != 1 or call.keywords:
        return False
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value.startswith(OWN_PACKAGE)
    return isinstance(arg, ast.Name) and arg.id in loop_names


def offences(source: str, filename: str = "<module>") -> list[str]:
    """Each forbidden call or import in ``source``, as 'file:line: what'."""
    tree = ast.parse(source, filename)
    own = shadowed_names(tree)
    loop_names = own_module_names(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called == "import_module" and imports_own_module(node, loop_names):
                continue
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_BUILTINS and func.id not in own:
                found.append(f"{where}: call of the builtin {func.id}()")
            elif isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_BUILTINS \
                    and isinstance(func.value, ast.Name) and func.value.id == "builtins":
                found.append(f"{where}: call of builtins.{func.attr}()")
            elif isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_CALLS:
                found.append(f"{where}: {func.attr}() imports code dynamically")
            elif isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS and func.id not in own:
                found.append(f"{where}: {func.id}() imports code dynamically")
            elif isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2 \
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value in FORBIDDEN_BUILTINS:
                found.append(f"{where}: getattr(..., {node.args[1].value!r})")
        elif isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module in FORBIDDEN_IMPORTS:
                found.append(f"{where}: from {node.module} import ...")
            elif node.module == "importlib":
                found += [f"{where}: from importlib import {a.name}" for a in node.names
                          if a.name in FORBIDDEN_CALLS | {"util", "machinery"}]
            elif node.module == "builtins":
                found += [f"{where}: from builtins import {a.name}" for a in node.names if a.name in FORBIDDEN_BUILTINS]
    return found


def test_the_scan_covers_the_whole_package() -> None:
    assert SRC / "policylab" / "api.py" in MODULES
    assert len(MODULES) >= 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_calls_eval_exec_or_compile_or_imports_code_dynamically(path: Path) -> None:
    assert offences(path.read_text(encoding="utf-8"), str(path.relative_to(SRC))) == []


@pytest.mark.parametrize(
    "source",
    [
        "eval('1 + 1')",
        "exec(text)",
        "code = compile(text, '<m>', 'exec')",
        "import builtins\nbuiltins.eval(x)",
        "f = getattr(builtins, 'exec')",
        "import importlib\nimportlib.import_module(name)",
        "from importlib.util import spec_from_file_location",
        "import runpy",
        "__import__('os')",
        "importlib.import_module(user_text)",
        "importlib.import_module('generated_model')",
        "NAMES = ('policylab.a', 'elsewhere.b')\nfor n in NAMES:\n    importlib.import_module(n)",
    ],
)
def test_the_scan_catches_each_forbidden_form(source: str) -> None:
    assert offences(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "def compile_model(m): ...\ncompile_model(m)",
        "regex = re.compile('a+')",
        "self.compile()",
        "def compile(x): ...\ncompile(x)",
        "model.eval()",
        "from importlib.metadata import version",
        "importlib.import_module('policylab.cli_explore')",
        "PLUGINS: tuple[str, ...] = ('policylab.a', 'policylab.b')\nfor m in PLUGINS:\n    importlib.import_module(m).register(app)",
    ],
)
def test_the_scan_allows_our_own_functions_and_methods_named_like_builtins(source: str) -> None:
    assert offences(source) == []


def test_loading_and_running_a_model_writes_no_source_and_imports_nothing_generated(tmp_path: Path,
                                                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model_file = tmp_path / "tiny.yaml"
    model_file.write_text(
        "model: tiny\ntime: {start: 0, stop: 5, dt: 0.5, method: rk4}\n"
        "constants:\n  k: 0.3\n"
        "lookups:\n  f: {points: [[0, 0], [1, 1]]}\n"
        "stocks:\n  x: {initial: 1, out: [outflow]}\n"
        "flows:\n  outflow: {equation: 'k * x * f(TIME / 5) + SMOOTH(x, 2) * 0 + NORMAL(0, 0.01)'}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    path_before = list(sys.path)
    ds = policylab.load(model_file).run(runs=3, seed=1)
    assert ds["x"].shape == (3, 11)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["tiny.yaml"]
    assert sys.path == path_before
    allowed_roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, SRC)}
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if file is None:
            continue  # namespace packages and built-in modules have no file
        resolved = Path(file).resolve()
        assert any(resolved.is_relative_to(root) for root in allowed_roots), f"{name} came from {file}"
