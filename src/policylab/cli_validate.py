"""CLI verb ``validate``: run a model's checks and the automatic ones, one line per check.

``policylab.cli`` calls :func:`register`; the CLI module is imported inside the command so
that importing this module first does not re-enter a half-built ``policylab.cli``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from policylab.choices import Backend
from policylab.errors import UsageError

FORMATS = ("table", "json")


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the ``policylab`` app."""
    app.command(name="validate")(validate)


def validate(
    model: Annotated[Optional[Path], typer.Argument(help="Model file (.yaml, .xmile, .stmx, .itmx); default: the flagship.")] = None,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", "-k", help="Only checks of this kind (repeat): behaviour, data, reality, lever_response, holdout, extreme, integration, units.")] = None,
    check: Annotated[Optional[list[str]], typer.Option("--check", "-c", help="Only this check of the model file (repeat).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, max=1_000_000, help="Ensemble size of each check that does not state its own `runs`.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root random seed (run k uses stream k).")] = 0,
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", "-f", help="table (for people) or json (versioned structure).")] = "table",
    backend: Annotated[Backend, typer.Option("--backend", help="numpy, numba (compiled) or auto (numba if installed).")] = "auto",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Validate a model: its `checks:` (behaviour, data, reality, lever_response, holdout) and the automatic
    extreme-condition, integration and units checks. Exit 1 when any check fails."""
    from policylab.api import check_backend, load
    from policylab.cli import _errors, default_model, err, out
    from policylab.validation import validate as run_validation

    with _errors():
        if fmt not in FORMATS:
            raise UsageError(f"--format must be table or json, not {fmt!r}")
        check_backend(backend, "--backend")
        loaded = load(model if model is not None else default_model())
        say = (lambda name: err.print(f"checking {name}", highlight=False)) if err.is_terminal else None
        report = run_validation(loaded, kind or None, runs, seed, backend, check or None, say)  # type: ignore[arg-type]
    if fmt == "json":
        text = json.dumps(report.to_json(), indent=2) + "\n"
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    else:
        _table(report, output, out)
    if not report.ok:
        raise typer.Exit(1)


def _table(report, output: Path | None, console) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from policylab.cli import console as plain
    from policylab.results.intervals import Interval

    grid = Table(title=f"{report.model}: validation, {report.runs} runs per check, seed {report.seed}",
                 highlight=False)
    for column, justify in (("check", "left"), ("kind", "left"), ("scenario", "left"), ("holds in", "right"),
                            ("required", "right"), ("verdict", "left")):
        grid.add_column(column, justify=justify)  # type: ignore[arg-type]
    for result in report.results:
        row = result.row()
        grid.add_row(row["name"], row["kind"], row["scenario"], row["share"], row["required"], row["verdict"])
    target = plain(file=output.open("w", encoding="utf-8"), width=200) if output is not None else console
    target.print(grid)
    for result in report.failed:
        target.print(f"\nFAIL {result.name} ({result.where}): {result.detail}", markup=False, highlight=False)
        example = result.counter_example
        if example is not None:
            params = ", ".join(f"{k}={v:.4g}" for k, v in example.parameters.items())
            target.print(f"  counter-example: run {example.run}, seed {example.seed}"
                         + (f"; parameters: {params}" if params else ""), markup=False, highlight=False)
            if example.command:
                target.print(f"  reproduce: {example.command}", markup=False, highlight=False)
            if example.note:
                target.print(f"  note: {example.note}", markup=False, highlight=False)
    weak = [result.name for result in report.results if result.weak]
    if weak:
        target.print(f"\nweak: {', '.join(weak)} — the share's {Interval().coverage * 100:.3g} % Wilson interval (in "
                     f"brackets) holds the required share, so another {report.runs}-run ensemble could give the other "
                     "verdict; more runs (-n) narrow it", markup=False, highlight=False)
    passed = len(report.results) - len(report.failed)
    target.print(f"\n{passed} passed, {len(report.failed)} failed" + (f" ({len(weak)} weak)" if weak else ""),
                 markup=False, highlight=False)
