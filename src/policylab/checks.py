"""``policylab check``: every static check of a model, as one report."""

from __future__ import annotations

from dataclasses import dataclass, field

from policylab.api import Model
from policylab.compile.graph import references
from policylab.errors import PolicyLabError
from policylab.model.evidence import check_quotes
from policylab.model.ir import Stock


@dataclass
class CheckReport:
    """Lines to print (errors start with 'error', warnings with 'warning') and the verdict."""

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


def run_checks(model: Model, source_folders: list[str]) -> CheckReport:
    """Compile, then check units, links, quotes and polarity; collect every finding."""
    report = CheckReport()
    ir = model.ir
    try:
        compiled = model.compiled
    except PolicyLabError as error:
        report.error(str(error))
        return report
    report.info(f"{ir.path or ir.name}: {len(ir.variables)} variables, {len(compiled.system.stocks)} stocks "
                f"(incl. hidden), {len(ir.scenarios)} scenarios — equations parse, names resolve, no algebraic loops")
    try:
        from policylab.expr.units import check_units
    except ImportError:
        report.warning("units were not checked: this installation has no units checker")
    else:
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
        elif q.status == "source_missing":
            report.error(q.message)
    report.info(f"evidence: {links} links, {len(quotes)} quotes, {verified} verified verbatim in their sources")
    try:
        from policylab.compile.polarity import check_polarity
    except ImportError:
        pass
    else:
        findings = check_polarity(model)
        for finding in findings:
            (report.error if finding.severity == "error" else report.warning)(finding.message)
        if not any(f.severity == "error" for f in findings):
            report.info("link polarity: every declared sign agrees with its equation's partial derivative")
    report.info("check passed" if report.ok else f"check failed: {report.errors} problem(s)")
    return report
