"""CLI verb ``bargain``: forecast the dialogue's settlement, per scenario of the flagship.

A thin layer over :mod:`policylab.bargain`. ``policylab.cli`` calls :func:`register`
when it builds its app; the CLI module is imported inside the command so that importing
this module first does not re-enter a half-built ``policylab.cli``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from policylab.errors import ModelFileError, PolicyLabError, UsageError

if TYPE_CHECKING:
    import xarray as xr

    from policylab.bargain import Case, Coupling

COUPLING_FILE = Path("iraq_dialogue") / "bargain_coupling.yaml"
JSON_VERSION = 1
NO_COUPLING_ROW = "stakeholders (no coupling)"


def register(app: typer.Typer) -> None:
    """Add ``bargain`` to the ``policylab`` app."""
    app.command(name="bargain")(bargain)


def bargain(
    from_scenario: Annotated[Optional[list[str]], typer.Option(
        "--from-scenario", "-s", help="Flagship scenario whose state sets the stakeholders (repeat; default: every scenario).")] = None,
    at: Annotated[Optional[str], typer.Option(
        "--at", help="Date of the state: YYYY-MM (end of that month) or YYYY-MM-DD (default: the coupling file's, 2020-06).")] = None,
    runs: Annotated[Optional[int], typer.Option(
        "--runs", "-n", min=1, help="Ensemble size: flagship runs and stakeholder samples, paired run for run (default 1000).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root random seed (run k uses stream k).")] = 0,
    rounds: Annotated[int, typer.Option("--rounds", min=0, max=1000, help="Rounds of the expected-utility model.")] = 5,
    issue: Annotated[Optional[str], typer.Option("--issue", help="Show only this issue (default: all).")] = None,
    fmt: Annotated[Literal["table", "csv", "json"], typer.Option("--format", "-f", help="table (for people), csv or json.")] = "table",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of standard output.")] = None,
    coupling_file: Annotated[Optional[Path], typer.Option(
        "--coupling", help="Coupling file (default: the flagship's bargain_coupling.yaml).")] = None,
    stakeholders: Annotated[Optional[Path], typer.Option(
        "--stakeholders", help="Stakeholder file (default: the one the coupling file names).")] = None,
    no_coupling: Annotated[bool, typer.Option(
        "--no-coupling", help="Forecast from the stakeholder judgements alone, without the flagship.")] = False,
    inputs: Annotated[bool, typer.Option(
        "--inputs", help="Print every actor attribute with its range and source (or 'judgement') and stop.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    backend: Annotated[str, typer.Option(
        "--backend", help="Simulation engine: numpy, numba (compiled) or auto (numba if installed).")] = "auto",
) -> None:
    """Forecast what the US-Iraq strategic dialogue settles on, under each flagship scenario.

    Four models per issue: Bueno de Mesquita's expected-utility model, the weighted median,
    the compromise (weighted mean) and the US-government of Iraq Nash bargaining solution.
    Each cell is the median and 10-90 % band over the ensemble. With no arguments: every
    flagship scenario at June 2020, one row per scenario.
    """
    from policylab.api import check_backend
    from policylab.cli import _errors

    with _errors():
        if fmt not in ("table", "csv", "json"):
            raise UsageError(f"--format must be table, csv or json, not {fmt!r}")
        check_backend(backend, "--backend")
        _run(from_scenario or [], at, runs, seed, rounds, issue, fmt, output, coupling_file, stakeholders,
             no_coupling, inputs, quiet, backend)


def _run(scenarios: list[str], at: str | None, runs: int | None, seed: int, rounds: int, issue: str | None,
         fmt: str, output: Path | None, coupling_file: Path | None, stakeholders: Path | None,
         no_coupling: bool, inputs: bool, quiet: bool, backend: str = "auto") -> None:
    from policylab.bargain import forecast_case, parse_date, read_case, read_coupling

    n = runs if runs is not None else _default_runs()
    if no_coupling and (scenarios or at):
        raise UsageError("--no-coupling forecasts without the flagship: drop --from-scenario and --at")
    coupling = None
    if not (no_coupling and stakeholders is not None):
        coupling = read_coupling(coupling_file or _default_coupling())
    if stakeholders is None and coupling is None:  # pragma: no cover - excluded by the condition above
        raise UsageError("give --stakeholders or a coupling file")
    case = read_case(stakeholders if stakeholders is not None else coupling.stakeholders)  # type: ignore[union-attr]
    if issue is not None and issue not in case.issues:
        raise UsageError(f"--issue {issue!r} is not an issue of {case.name}; issues: {', '.join(case.issues)}")
    if inputs:
        _emit(_inputs_text(case), output)
        return
    if no_coupling:
        results = {NO_COUPLING_ROW: forecast_case(case, runs=n, seed=seed, rounds=rounds)}
        when = None
    else:
        when = parse_date(at) if at is not None else coupling.at  # type: ignore[union-attr]
        results = _coupled(case, coupling, scenarios, when, n, seed, rounds, quiet, backend)
    _report(case, results, issue, fmt, output, n, seed, rounds, when)


def _default_runs() -> int:
    from policylab.cli import DEFAULT_ENSEMBLE

    return DEFAULT_ENSEMBLE


def _default_coupling() -> Path:
    from policylab.cli import models_folder

    return models_folder() / COUPLING_FILE


def _coupled(case: Case, coupling: Coupling, scenarios: list[str], when: dt.date, runs: int, seed: int,
             rounds: int, quiet: bool, backend: str = "auto") -> dict[str, xr.Dataset]:
    from policylab.api import load
    from policylab.bargain import forecast_scenarios
    from policylab.cli import _LazyProgress

    try:
        if not coupling.model.exists():
            raise ModelFileError(f"{coupling.model}: no such file")
        model = load(coupling.model)
    except PolicyLabError as err:
        raise ModelFileError(
            f"the flagship model is not available, so scenarios cannot be coupled: {err}\n"
            "Use `policylab bargain --no-coupling` to forecast from the stakeholder judgements alone."
        ) from err
    chosen = scenarios or model.scenarios
    unknown = [s for s in chosen if s not in model.scenarios]
    if unknown:
        raise UsageError(f"{model.name} has no scenario {', '.join(map(repr, unknown))}; "
                         f"scenarios: {', '.join(model.scenarios)}")
    if coupling.reference_scenario not in model.scenarios:
        raise ModelFileError(f"{coupling.path}: reference scenario {coupling.reference_scenario!r} is not in "
                             f"{model.name} (scenarios: {', '.join(model.scenarios)})")

    def run_scenario(name: str) -> xr.Dataset:
        progress = _LazyProgress(model.ir.time.n_steps, f"{name} × {runs}", quiet)
        try:
            return model.run(name, runs=runs, seed=seed, variables=coupling.variables, progress=progress,
                             backend=backend)  # type: ignore[arg-type]
        finally:
            progress.close()

    return forecast_scenarios(case, coupling, run_scenario, chosen, at=when, runs=runs, seed=seed, rounds=rounds)


def _cell(stats: dict[str, float], runs: int) -> str:
    if runs == 1:
        return f"{stats['median']:.0f}"
    return f"{stats['median']:.0f} [{stats['p10']:.0f}–{stats['p90']:.0f}]"


def _rows(results: dict[str, xr.Dataset], issue: str | None) -> list[dict[str, Any]]:
    from policylab.bargain import summary

    rows = []
    for row_name, result in results.items():
        for issue_name, per_model in summary(result, issue).items():
            for model_name, stats in per_model.items():
                rows.append({"scenario": row_name, "issue": issue_name, "model": model_name, **stats})
    return rows


def _report(case: Case, results: dict[str, xr.Dataset], issue: str | None, fmt: str, output: Path | None,
            runs: int, seed: int, rounds: int, when: dt.date | None) -> None:
    from policylab.bargain.forecast import MODEL_LABELS, MODEL_NAMES

    rows = _rows(results, issue)
    if fmt == "csv":
        lines = ["scenario,issue,model,median,p10,p90,runs"]
        lines += [f"{r['scenario']},{r['issue']},{r['model']},{r['median']:.6g},{r['p10']:.6g},{r['p90']:.6g},{r['runs']}"
                  for r in rows]
        _emit("\n".join(lines) + "\n", output)
        return
    if fmt == "json":
        doc = {"version": JSON_VERSION, "case": case.name, "at": when.isoformat() if when else None,
               "runs": runs, "seed": seed, "rounds": rounds,
               "issues": {name: {"question": i.question, "scale": [i.low, i.high],
                                 "labels": {f"{k:g}": v for k, v in i.labels}} for name, i in case.issues.items()},
               "forecasts": {}}
        for r in rows:
            doc["forecasts"].setdefault(r["scenario"], {}).setdefault(r["issue"], {})[r["model"]] = {
                k: r[k] for k in ("median", "p10", "p90", "runs")}
        _emit(json.dumps(doc, indent=2) + "\n", output)
        return
    from rich.console import Console
    from rich.table import Table

    from policylab.cli import console as plain

    issues = [issue] if issue else list(case.issues)
    when_text = f"state at {when.isoformat()}" if when else "stakeholder judgements alone"
    band = " — median [10–90 % of runs]" if runs > 1 else ""
    tables = []
    for name in issues:
        spec = case.issues[name]
        models = [m for m in MODEL_NAMES if any(r["issue"] == name and r["model"] == m for r in rows)]
        grid = Table(title=f"{spec.question}\n{spec.low:g} = {spec.labels[0][1]}\n{spec.high:g} = {spec.labels[-1][1]}\n"
                           f"{runs} run{'s' if runs > 1 else ''}, seed {seed}, {when_text}{band}",
                     highlight=False)
        grid.add_column("scenario", style="bold", no_wrap=True)
        for m in models:
            grid.add_column(MODEL_LABELS[m], justify="right", no_wrap=True)
        for row_name in results:
            cells = {r["model"]: r for r in rows if r["scenario"] == row_name and r["issue"] == name}
            grid.add_row(row_name, *[_cell(cells[m], runs) if m in cells else "–" for m in models])
        tables.append(grid)
    note = (f"Expected utility: weighted median after {rounds} rounds (Bueno de Mesquita; Scholz, Calbert & Smith 2011). "
            "Weighted median and compromise weigh actors by capability × salience. "
            "Nash: two-party reading with linear-loss utilities and judged disagreement utilities. "
            "Inputs and their sources: `policylab bargain --inputs`.")
    console = plain(file=output.open("w", encoding="utf-8"), width=200) if output else plain(width=max(100, Console().width))
    try:
        for grid in tables:
            console.print(grid)
        console.print(note, highlight=False, markup=False)
    finally:
        if output:
            console.file.close()


def _inputs_text(case: Case) -> str:
    lines = [f"# {case.name}: every input, its range and its source ('judgement' where no source says it)",
             "actor,attribute,issue,value,low,high,source,quote,basis"]

    def esc(text: str | None) -> str:
        return '"' + (text or "").replace('"', '""') + '"'

    for path, j in case.judgements().items():
        parts = path.split(".")
        if parts[0] == "actors":
            actor, attribute, issue = parts[1], parts[2], (parts[3] if len(parts) > 3 else "")
        else:
            actor, attribute, issue = parts[4], "nash_disagreement", parts[1]
        lines.append(",".join([actor, attribute, issue, f"{j.value:g}", f"{j.low:g}", f"{j.high:g}",
                               j.source or "judgement", esc(j.quote), esc(j.basis)]))
    return "\n".join(lines) + "\n"


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
