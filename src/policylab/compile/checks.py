"""``policylab check``: every static check of a model, as one report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from typing import Protocol

from policylab.compile.graph import references
from policylab.compile.plan import CompiledModel
from policylab.compile.polarity import check_polarity
from policylab.compile.units import check_units
from policylab.errors import PolicyLabError
from policylab.grammar import plural
from policylab.model.evidence import QuoteResult, check_quotes, sources_path
from policylab.model.ir import Model as ModelIR
from policylab.model.ir import Stock


class Model(Protocol):
    """What the checks need of a loaded model (``policylab.api.Model`` is one): the IR, its compiled plan,
    and ``run`` for the polarity check's probe runs."""

    ir: ModelIR

    @property
    def compiled(self) -> CompiledModel: ...

    def run(self, *args: object, **kwargs: object) -> object: ...


@dataclass
class CheckReport:
    """Lines to print (errors start with 'error', warnings with 'warning', hints with 'note') and the verdict."""

    lines: list[str] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def error(self, text: str) -> None:
        self.errors += 1
        self.lines.append(f"error: {text}")

    def warning(self, text: str) -> None:
        self.warnings += 1
        self.lines.append(f"warning: {text}")

    def info(self, text: str) -> None:
        self.lines.append(text)


def _check_links(model: Model, report: CheckReport) -> int:
    """Evidence must name an input the variable's equation really reads."""
    count = 0
    for var in model.ir.variables.values():
        if not var.evidence:
            continue
        if isinstance(var, Stock):
            inputs = set(var.inflows) | set(var.outflows) | (references(var.initial) if var.initial else set())
        else:
            equation = getattr(var, "equation", None) or getattr(var, "input", None)
            inputs = references(equation) if equation is not None else set()
        for ev in var.evidence:
            count += 1
            if ev.from_ not in inputs:
                report.error(f"{ev.where}: evidence on {var.name!r} names {ev.from_!r}, but {var.name}'s equation "
                             f"does not use it (inputs: {', '.join(sorted(inputs)) or 'none'})")
    return count


def run_checks(model: Model, source_folders: list[str], strict: bool = False) -> CheckReport:
    """Compile, then check units, links, quotes and polarity; collect every finding.

    A source document that is not on the sources path (they are not shipped) is one
    warning per file, or an error with ``strict``; a quote missing from a source that
    is found is always an error.
    """
    report = CheckReport()
    ir = model.ir
    try:
        compiled = model.compiled
    except PolicyLabError as error:
        report.error(str(error))
        return report
    report.info(f"{ir.path or ir.name}: {plural(len(ir.variables), 'variable')}, "
                f"{plural(len(compiled.system.stocks), 'stock')} "
                f"(incl. hidden), {plural(len(ir.scenarios), 'scenario')} — equations parse, names resolve, no algebraic loops")
    issues = check_units(ir)
    for issue in issues:
        report.error(str(issue))
    if not issues:
        report.info("units: consistent")
    links = _check_links(model, report)
    quotes = check_quotes(ir, source_folders)
    verified = sum(q.status == "verified" for q in quotes)
    for q in quotes:
        if q.status == "not_found":
            report.error(q.message)
    _missing_sources(model, quotes, source_folders, report.error if strict else report.warning, report)
    report.info(f"evidence: {plural(links, 'link')}, {plural(len(quotes), 'quote')}, "
                f"{verified} verified verbatim in their sources")
    findings = check_polarity(model)
    for finding in findings:
        (report.error if finding.severity == "error" else report.warning)(finding.message)
    if not any(f.severity == "error" for f in findings):
        report.info("link polarity: every declared sign agrees with its equation's partial derivative")
    if report.ok:
        report.info("check passed" + (f" with {plural(report.warnings, 'warning')}" if report.warnings else ""))
    else:
        report.info(f"check failed: {plural(report.errors, 'problem')}")
    return report


def _missing_sources(model: Model, quotes: list[QuoteResult], folders: list[str], emit: Callable[[str], None],
                     report: CheckReport) -> None:
    """One line per source file that is not on the sources path, with how many quotes it leaves unverified."""
    missing = Counter(q.source for q in quotes if q.status == "source_missing")
    if not missing:
        return
    path = ", ".join(map(str, sources_path(model.ir.path, folders))) or "empty"
    for source, count in missing.items():
        entry = model.ir.sources.get(source)
        file = entry.file if entry is not None and entry.file else "(no file)"
        emit(f"source file {file!r} ({source}) is not on the sources path: {plural(count, 'quote')} not verified")
    report.info(f"note: the sources path is {path}; sources are not shipped with models: put the files in one of those folders, "
         "set POLICYLAB_SOURCES or pass --sources DIR (`check --strict` makes this an error)")
