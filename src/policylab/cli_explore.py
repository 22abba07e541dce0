"""CLI verbs ``explore`` and ``runs``: a thin layer over ``policylab.explore`` and ``policylab.store``.

``policylab.cli`` calls :func:`register` when it builds its app. The CLI module is
imported inside the commands (not at the top) so that importing this module first
does not re-enter a half-built ``policylab.cli``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional

import typer

from policylab.choices import Sampler

if TYPE_CHECKING:
    import pandas as pd

from policylab.errors import PolicyLabError, UsageError

runs_app = typer.Typer(name="runs", help="List, show, export, repair and delete stored explorations.", no_args_is_help=True,
                       add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)

StoreOption = Annotated[Optional[Path], typer.Option(
    "--store", help="Results store folder (default: $POLICYLAB_STORE, else ~/.policylab).")]
LockTimeout = Annotated[float, typer.Option(
    "--lock-timeout", min=0, help="Seconds to wait for another process writing the store before giving up.")]


def register(app: typer.Typer) -> None:
    """Add ``explore`` and ``runs`` to the ``policylab`` app."""
    app.command(name="explore")(explore)
    app.add_typer(runs_app, name="runs")


def _store(path: Path | None, lock_timeout: float = 60.0):
    from policylab.cli import err
    from policylab.store import Store

    return Store(path, lock_timeout=lock_timeout, on_wait=lambda note: err.print(note, highlight=False, markup=False))


def _parse_levers(texts: list[str]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """``name=v1,v2,…`` (those levels) or ``name`` (5 levels over the lever's range)."""
    grid = []
    for text in texts:
        name, _, values = text.partition("=")
        if not name.strip():
            raise UsageError(f"--lever {text!r}: write name=v1,v2,... or just the lever's name")
        try:
            levels = tuple(float(v) for v in values.split(",") if v.strip()) if values else ()
        except ValueError:
            raise UsageError(f"--lever {text!r}: levels must be numbers, e.g. {name}=0,0.5,1") from None
        grid.append((name.strip(), levels))
    return tuple(grid)


def _resolve_grid(loaded, grid):
    """Fill in evenly spread levels for levers named without values."""
    from policylab.explore import lever_grid

    resolved = []
    for name, levels in grid:
        if not levels:
            frame = lever_grid(loaded.ir, {name: 5})
            levels = tuple(float(v) for v in frame.iloc[:, 0])
        resolved.append((name, levels))
    return tuple(resolved)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


def explore(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship (else the SIR example).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="Uncertainty samples; every policy runs each of them.")] = 1000,
    sampler: Annotated[Sampler, typer.Option("--sampler", help="lhs (Latin hypercube), sobol (scrambled Sobol') or mc (Monte Carlo).")] = "lhs",
    scenario: Annotated[Optional[list[str]], typer.Option("--scenario", "-s", help="Scenario to run (repeat; 'all' for every one). Default: the model's default.")] = None,
    lever: Annotated[Optional[list[str]], typer.Option("--lever", help="Lever grid: name=v1,v2,... (repeat; full factorial), or a name alone for 5 levels over its range.")] = None,
    uncertain_levers: Annotated[Optional[str], typer.Option("--sample-levers", help="Comma-separated levers to sample over their ranges as uncertainties ('all' for every lever with a range).")] = None,
    only: Annotated[Optional[str], typer.Option("--uncertainties", help="Comma-separated judgement parameters to sample (default: all of them).")] = None,
    combine: Annotated[Literal["crossed", "paired"], typer.Option("--combine", help="crossed (every sample × every policy) or paired (sample i with policy i).")] = "crossed",
    outcome: Annotated[Optional[list[str]], typer.Option("--outcome", help="Extra outcome (repeat): name=variable:stat[@t | @from-to | >=x | <=x], stat mean|max|min|final|sum|change|value|cross.")] = None,
    series: Annotated[Optional[str], typer.Option("--series", help="Comma-separated variables to store as time series.")] = None,
    every: Annotated[str, typer.Option("--every", help="Series period: week, month, quarter, year, or a number of model time units.")] = "month",
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root seed of the sampler and of run k's random stream k.")] = 0,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Random functions return their means.")] = False,
    chunk_size: Annotated[Optional[int], typer.Option("--chunk-size", min=1, help="Runs per chunk (default: sized to ~128 MB of trajectories).")] = None,
    scheduler: Annotated[str, typer.Option("--scheduler", help="local (processes on this machine) or a Dask scheduler address, tcp://host:port.")] = "local",
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Processes for --scheduler local (default: the CPUs; 1 runs in this process).")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="numpy, numba (compiled) or auto (numba if installed; the default). A resumed run keeps its own.")] = None,
    store: StoreOption = None,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Finish the interrupted run with this id (other design options are taken from it).")] = None,
    lock_timeout: LockTimeout = 60.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary; print only the run id.")] = False,
) -> None:
    """Run a design over the model's uncertainties and policies, storing parameters and outcomes.

    Prints the run id; `policylab runs show ID` summarises it, `policylab runs export ID`
    writes it out. An interrupted run keeps its finished chunks: `--resume ID` completes it.
    """
    from policylab.api import load
    from policylab.cli import _errors, default_model, err, out
    from policylab.api import check_backend
    from policylab.explore import ExploreRequest, resume as resume_run, start
    from policylab.explore.session import stored_backend
    from policylab.explore.progress import RunProgress
    from policylab.scale import open_executor

    with _errors():
        if backend is not None:
            check_backend(backend, "--backend")
        target = _store(store, lock_timeout)
        progress = RunProgress(err, quiet)
        started: list[str] = []
        try:
            with open_executor(scheduler, workers) as executor:
                if resume is not None:
                    loaded = load(model) if model is not None else None
                    started.append(resume)
                    run_id = resume_run(target, resume, executor, loaded, progress, backend)
                else:
                    loaded = load(model if model is not None else default_model())
                    request = ExploreRequest(
                        samples=runs, sampler=sampler, seed=seed, scenarios=tuple(scenario or ()),  # type: ignore[arg-type]
                        levers=_names(uncertain_levers),
                        only=_names(only) or None, grid=_resolve_grid(loaded, _parse_levers(lever or [])),
                        combine=combine, outcomes=tuple(outcome or ()), series=_names(series), every=every,  # type: ignore[arg-type]
                        deterministic=deterministic, backend=backend or "auto")

                    def announce(new_id: str) -> None:
                        started.append(new_id)
                        if not quiet:
                            engine = stored_backend(target.manifest(new_id))
                            err.print(f"run {new_id}: {loaded.name} ({engine} backend), stored in {target.root}",
                                      highlight=False, markup=False)

                    run_id = start(loaded, request, target, executor, chunk_size, progress, on_start=announce)
        except KeyboardInterrupt:
            progress.close()
            if started:
                err.print(f"interrupted: finished chunks are kept; complete the run with "
                          f"`policylab explore --resume {started[0]}{_store_hint(store)}`", highlight=False, markup=False)
            raise typer.Exit(130) from None
        except PolicyLabError:
            progress.close()
            if started:
                err.print(f"run {started[0]} stopped; its finished chunks are kept — fix the cause, then "
                          f"`policylab explore --resume {started[0]}{_store_hint(store)}`", highlight=False, markup=False)
            raise
        finally:
            progress.close()
        out.print(run_id, highlight=False)
        if not quiet:
            _print_summary(target, run_id, err)


def _store_hint(store: Path | None) -> str:
    return f" --store {store}" if store is not None else ""


def _print_summary(target, run_id: str, console) -> None:
    import pandas as pd

    from policylab.results.numbers import number
    from policylab.store import summarise

    info = target.info(run_id)
    frame = summarise(target, run_id)
    console.print(f"\nrun {run_id}: {info.runs_done} runs of {info.row['model']} — median and 10–90 % of runs per policy",
                  highlight=False, markup=False)
    table = pd.DataFrame({  # numbers as every table writes them (results.numbers)
        "policy": frame["policy"], "outcome": frame["outcome"],
        "median": [number(float(v)) for v in frame["median"]],
        "10–90 %": [f"{number(float(a))} – {number(float(b))}" for a, b in zip(frame["p10"], frame["p90"])],
    })
    _print_frame(console, table, right={"median", "10–90 %"})
    console.print(f"stored in {target.root}; `policylab runs show {run_id}` · `policylab runs export {run_id} --format csv`",
                  highlight=False, markup=False)


@runs_app.command("list")
def runs_list(store: StoreOption = None, lock_timeout: LockTimeout = 60.0) -> None:
    """List stored explorations, newest first."""
    import pandas as pd

    from policylab.cli import _errors, out

    with _errors():
        target = _store(store, lock_timeout)
        frame = target.list_runs()
        if frame.empty:
            out.print(f"no runs in {target.root}", highlight=False)
            return
        table = pd.DataFrame({
            "run id": frame["run_id"], "created": [f"{t:%Y-%m-%d %H:%M}" for t in frame["created"]],
            "model": frame["model"], "status": frame["status"],
            "runs": [f"{int(a)}/{int(b)}" for a, b in zip(frame["runs_done"], frame["n_runs"])],
            "sampler": frame["sampler"], "seed": frame["seed"], "scenarios": frame["scenarios"],
            "backend": [_backend_of(target, run_id) for run_id in frame["run_id"]],
        })
        _print_frame(out, table)


def _backend_of(target, run_id: str) -> str:  # type: ignore[no-untyped-def]
    """The engine a stored run used, from its manifest ('?' if the manifest cannot be read)."""
    from policylab.explore.session import stored_backend

    try:
        return stored_backend(target.manifest(run_id))
    except (OSError, ValueError):
        return "?"


def _print_frame(console, frame: pd.DataFrame, right: set[str] | frozenset[str] = frozenset()) -> None:
    """A plain, aligned, unwrapped table (text left, numbers and the columns ``right`` names right): readable by
    people and by ``awk``.

    Cells come from the store, which may hold anything: control characters are shown escaped.
    """
    import pandas as pd

    from policylab.errors import printable

    cells = [[printable(str(c)) for c in frame.columns]] + [[printable(str(v)) for v in row]
                                                            for row in frame.itertuples(index=False)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(frame.columns))]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) or c in right for c in frame.columns]
    for row in cells:
        line = "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric))
        console.print(line.rstrip(), highlight=False, markup=False, soft_wrap=True)


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="Run id (see `policylab runs list`).")],
              store: StoreOption = None, lock_timeout: LockTimeout = 60.0) -> None:
    """Show a run: model, design, progress, and its outcomes per policy."""
    from policylab.cli import _errors, out
    from policylab.errors import printable
    from policylab.explore.session import stored_backend

    with _errors():
        target = _store(store, lock_timeout)
        info = target.info(run_id)
        m, request = info.manifest, info.manifest.get("request", {})
        lines = [
            f"run        {run_id} ({info.status})",
            f"model      {m['model']['name']}  {m['model']['path']}  sha256 {m['model']['sha256'][:12]}",  # type: ignore[index]
            f"created    {info.row['created']:%Y-%m-%d %H:%M:%S}",
            f"runs       {info.runs_done} of {m['n_runs']} in {len(info.chunks)} of {m['n_chunks']} chunks of {m['chunk_size']}",
            f"design     {request.get('samples')} samples, sampler {request.get('sampler')}, seed {request.get('seed')}, "  # type: ignore[union-attr]
            f"{request.get('combine')}",  # type: ignore[union-attr]
            f"scenarios  {info.row['scenarios'] or '(as written)'}",
            f"backend    {stored_backend(m)}",
            f"parameters {', '.join(m.get('parameters', [])) or '(none)'}",  # type: ignore[arg-type]
            f"outcomes   {', '.join(m.get('outcomes', [])) or '(none)'}",  # type: ignore[arg-type]
            f"series     {', '.join(m.get('series', [])) or '(none)'}" + (f" every {request.get('every')}" if m.get('series') else ""),  # type: ignore[union-attr]
        ]
        if info.status == "interrupted":
            lines.append(f"resume     policylab explore --resume {run_id}" + (f" --store {store}" if store else ""))
        for line in lines:
            out.print(printable(line), highlight=False, markup=False)
        if info.runs_done:
            _print_summary(target, run_id, out)


@runs_app.command("export")
def runs_export(
    run_id: Annotated[str, typer.Argument(help="Run id (see `policylab runs list`).")],
    fmt: Annotated[Literal["csv", "parquet", "netcdf"], typer.Option("--format", "-f", help="csv, parquet (one file) or netcdf (outcomes and series).")] = "csv",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (default: standard output; parquet and netcdf, being binary, only when it is redirected).")] = None,
    table: Annotated[str, typer.Option("--table", help="outcomes (design + scalar outcomes per run) or series (csv/parquet).")] = "outcomes",
    store: StoreOption = None,
    lock_timeout: LockTimeout = 60.0,
) -> None:
    """Write a stored run to CSV, Parquet or netCDF."""
    from policylab.cli import _errors, err
    from policylab.store import export_run
    from policylab.store.export import SUFFIX

    with _errors():
        if fmt not in SUFFIX:
            raise UsageError(f"--format must be csv, parquet or netcdf, not {fmt!r}")
        if output is None and fmt != "csv" and sys.stdout.isatty():
            raise UsageError(f"{fmt} is binary: give --out FILE, or redirect standard output (> run{SUFFIX[fmt]})")
        target = _store(store, lock_timeout)
        if output is not None:
            written = export_run(target, run_id, fmt, output, table)  # type: ignore[arg-type]
            err.print(f"wrote {written} ({os.path.getsize(written):,} bytes)", highlight=False, markup=False)
            return
        with tempfile.TemporaryDirectory(prefix="policylab-export-") as folder:  # the writers need a file; then stream it
            written = export_run(target, run_id, fmt, Path(folder) / f"{run_id}{SUFFIX[fmt]}", table)  # type: ignore[arg-type]
            with open(written, "rb") as data:
                shutil.copyfileobj(data, sys.stdout.buffer)
            sys.stdout.buffer.flush()


@runs_app.command("repair")
def runs_repair(
    run_id: Annotated[str, typer.Argument(help="Run id (see `policylab runs list`).")],
    store: StoreOption = None,
    lock_timeout: LockTimeout = 60.0,
) -> None:
    """Drop a run's missing or damaged chunks, so `explore --resume` can compute them again."""
    from policylab.cli import _errors, err

    with _errors():
        dropped = _store(store, lock_timeout).repair(run_id)
        if not dropped:
            err.print(f"run {run_id}: every catalogued chunk reads back; nothing to repair", highlight=False)
            return
        for chunk, why in dropped:
            err.print(f"dropped chunk {chunk}: {why}", highlight=False, markup=False)
        err.print(f"resume with: policylab explore --resume {run_id}" + (f" --store {store}" if store else ""),
                  highlight=False, markup=False)


@runs_app.command("delete")
def runs_delete(
    run_id: Annotated[str, typer.Argument(help="Run id (see `policylab runs list`).")],
    store: StoreOption = None,
    lock_timeout: LockTimeout = 60.0,
) -> None:
    """Delete a run: its catalogue entry, then its files."""
    from policylab.cli import _errors, err

    with _errors():
        _store(store, lock_timeout).delete(run_id)
        err.print(f"deleted run {run_id}", highlight=False)
