"""The pipeline is the layout: a stage imports only the stages to its left, and no module imports itself back.

Imports are read from the source (``ast``), including those inside functions, so a lazy
import that reaches forward is caught as well as a module-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "policylab"

# Stages from left to right; a stage may import those before it (and itself). ``errors``, ``grammar``,
# ``version``, ``limits``, ``choices`` (the CLI's option vocabularies) and ``files`` (bounds on untrusted
# input) are leaves any stage may import; the package's ``__init__``/``__main__`` sit outside.
STAGES: list[set[str]] = [
    {"expr"},
    {"model"},
    {"formats"},
    {"compile"},
    {"simulate"},
    {"results"},
    {"api"},
    {"explore", "store", "scale"},
    {"analysis"},
    {"bargain"},
    {"validation"},
    {"conformance", "report", "server", "cli"},
]
LEAVES = {"errors", "version", "grammar", "limits", "files", "choices"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the policylab modules it imports."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                if not base.startswith("policylab"):
                    continue
                for alias in node.names:
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("policylab")}
        graph[name] = found - {name}
    return graph


def _stage(module: str) -> str:
    top = module.split(".")[1] if "." in module else ""
    return "cli" if top.startswith("cli") else top


def _rank(stage: str) -> int | None:
    return next((k for k, group in enumerate(STAGES) if stage in group), None)


def test_every_top_level_module_has_a_place_in_the_pipeline() -> None:
    stages = {_stage(m) for m in _imports()} - {""}
    unplaced = {s for s in stages if _rank(s) is None and s not in LEAVES and s not in {"__main__"}}
    assert not unplaced, f"add these to STAGES (or LEAVES) in {__file__}: {sorted(unplaced)}"


def test_no_stage_imports_a_stage_to_its_right() -> None:
    backward = []
    for module, targets in _imports().items():
        here = _rank(_stage(module))
        for target in targets:
            there = _rank(_stage(target))
            if here is not None and there is not None and there > here:
                backward.append(f"{module} -> {target}")
    assert not backward, "imports that reach forward in the pipeline:\n" + "\n".join(sorted(backward))


def test_there_are_no_import_cycles_among_modules() -> None:
    graph = nx.DiGraph([(m, t) for m, targets in _imports().items() for t in targets])
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"
