"""The ``policylab`` command line: a thin layer over the Python API (see DESIGN.md's contract)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, get_args

import typer
from rich.console import Console

from policylab.choices import Backend, Kernels
from policylab.errors import ModelFileError, PolicyLabError, UnitsError, UsageError, printable
from policylab.grammar import plural
from policylab.version import __version__

if TYPE_CHECKING:  # the engine is imported by the commands that run it, so --help and --version stay quick
    from rich.progress import Progress

    from policylab.api import Model
    from policylab.results.intervals import Interval

RunFormat = Literal["table", "csv", "json"]
DEFAULT_MODELS = ("iraq_dialogue", "sir")
DEFAULT_ENSEMBLE = 1000

UsageProblem: type[Exception] = typer.BadParameter.__bases__[0]  # the UsageError of the click that Typer uses


def _one_line(error: Any) -> Any:
    """Make a command-line error print as every other error does: one ``error:`` line (exit 2)."""
    command = error.ctx.command_path if error.ctx is not None else "policylab"

    def show(file: object = None) -> None:
        message = error.format_message().replace("Value error, ", "")
        err.print(f"error: {message[:1].lower() + message[1:]} (see `{command} -h`)", markup=False, highlight=False)

    error.show = show  # type: ignore[method-assign]
    return error


class _Group(typer.core.TyperGroup):
    """The policylab group: help and command-line errors in the style of docs/cli.md."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _metavars(self)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageProblem as error:
            raise _one_line(error) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageProblem as error:
            raise _one_line(error) from None


app = typer.Typer(
    name="policylab",
    cls=_Group,
    help="Run, check and explore system-dynamics models of policy systems.\n\n"
    "Start with `policylab run` (the bundled flagship model) or `policylab run MODEL.yaml`.",
    no_args_is_help=False,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def console(**options: Any) -> Console:
    """A console that prints text as written: Rich would read ``infected[north]`` or ``contact_rate[north]`` in a
    table cell or a message as markup and drop ``[north]``, so PolicyLab's consoles never interpret markup."""
    return Console(markup=False, **options)


out = console(soft_wrap=True, width=None if sys.stdout.isatty() else 220)
err = console(stderr=True, soft_wrap=True)


def models_folder() -> Path:
    """Where the bundled models live: $POLICYLAB_MODELS, else the source tree's models/."""
    env = os.environ.get("POLICYLAB_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


def default_model() -> Path:
    """The built-in default: the flagship if present, else the SIR example."""
    folder = models_folder()
    for name in DEFAULT_MODELS:
        candidate = folder / name / "model.yaml"
        if candidate.exists():
            return candidate
    raise UsageError(f"no bundled model found under {folder}; give a model file, e.g. `policylab run model.yaml`")


def _fail(error: PolicyLabError) -> typer.Exit:
    err.print(f"error: {printable(str(error))}", markup=False, highlight=False)
    return typer.Exit(2 if isinstance(error, UsageError) else 1)


def _show_warning(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
    err.print(f"warning: {message}", markup=False, highlight=False)


@contextmanager
def _errors() -> Iterator[None]:
    """Errors as one line and an exit code (2: the command line, 1: the model or data); warnings as lines."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each distinct warning once, whatever the caller's filters
            warnings.showwarning = _show_warning
            yield
    except PolicyLabError as error:
        raise _fail(error) from None
    except OSError as error:
        err.print(f"error: {printable(_os_message(error))}", markup=False, highlight=False)
        raise typer.Exit(1) from None


def _os_message(error: OSError) -> str:
    """An operating-system error as one sentence naming the path and what to do (never a raw ``[Errno N]``)."""
    import errno

    if error.filename is None:
        return error.strerror or str(error)
    path = Path(os.fsdecode(error.filename))
    if error.errno == errno.ENOENT and not path.parent.exists():
        return f"{path}: the folder {path.parent} does not exist; create it or give a path in an existing folder"
    hints = {errno.ENOENT: "check the path", errno.EACCES: "check its permissions or give another path",
             errno.EPERM: "check its permissions or give another path", errno.EISDIR: "give a file's path, not a folder",
             errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
             errno.ENOSPC: "free some space or write elsewhere", errno.EROFS: "write elsewhere"}
    reason = (error.strerror or "cannot use it").lower()
    return f"{path}: {reason}; {hints.get(error.errno or 0, 'check the path')}"


def _version(value: bool) -> None:
    if value:
        out.print(f"policylab {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run, check and explore system-dynamics models of policy systems."""


class _LazyProgress:
    """A Rich progress bar that appears only once a task has run for a second."""

    def __init__(self, total_steps: int, label: str, quiet: bool) -> None:
        self.total = total_steps
        self.label = label
        self.quiet = quiet or not err.is_terminal
        self.started = time.monotonic()
        self.bar: Progress | None = None  # rich.progress, imported when a bar is first shown
        self.task = None

    def __call__(self, step: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        self.bar.update(self.task, completed=step)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _split_vars(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise UsageError("--vars needs at least one variable name, e.g. --vars infected,recovered")
    return names


@app.command()
def run(
    model: Annotated[Optional[Path], typer.Argument(help="Model file (.yaml, .xmile, .stmx, .itmx, .mdl); default: the flagship.")] = None,
    scenario: Annotated[Optional[list[str]], typer.Option("--scenario", "-s", help="Scenario to run (repeat to compare; default: all for tables, the default scenario for csv).")] = None,
    runs: Annotated[Optional[int], typer.Option("--runs", "-n", min=1, help="Ensemble size; >1 samples every judgement parameter over its range. Default: 1 for csv, 1000 for tables of models with judgement parameters.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", min=0, help="Root random seed (run k uses stream k). Default: 0.")] = None,
    vars: Annotated[Optional[str], typer.Option("--vars", help="Comma-separated variables to output (default: all).")] = None,
    fmt: Annotated[RunFormat, typer.Option("--format", "-f", help="table (for people), csv (time series) or json (the table's data).")] = "table",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of standard output.")] = None,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Random functions return their means.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Data only: no progress bar, no notes on standard error.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print the model's description (to standard error).")] = False,
    interval: Annotated[int, typer.Option("--interval", help="Share of runs the band holds, in % (80: the 10–90 % band).")] = 80,
    backend: Annotated[Backend, typer.Option("--backend", help="numpy (default, the reference engine), numba (compiled; pip install 'policylab[fast]') or auto (numba if installed).")] = "numpy",
    save_every: Annotated[Optional[float], typer.Option("--save-every", help="CSV: print every this many model time units (a multiple of dt; default: the model's save interval).")] = None,
    run_index: Annotated[Optional[int], typer.Option("--run-index", min=0, help="Run only run K of the ensemble: its sampled parameters and random stream (reproduces a `validate` counter-example).")] = None,
    settings: Annotated[Optional[list[str]], typer.Option("--set", help="NAME=VALUE: set a constant, or a lever's level (from the scenario's policy date). Repeatable. Outside physical bounds: refused; outside a sampling range: a warning.")] = None,
    no_unit_check: Annotated[bool, typer.Option("--no-unit-check", help="Run a native (YAML) model whose units do not check; it is refused otherwise, as `check` fails it.")] = False,
    overrides: Annotated[Optional[Path], typer.Option("--overrides", help="A scenario overrides file (YAML: scenario, set, runs, seed), as the dashboard exports it. --scenario, --runs, --seed and --set given here win.")] = None,
) -> None:
    """Simulate a model and print a table, CSV time series or JSON."""
    with _errors():
        if fmt not in ("table", "csv", "json"):
            raise UsageError(f"--format must be table, csv or json, not {fmt!r}")
        from policylab.api import load
        from policylab.results.intervals import Interval

        path = model if model is not None else default_model()
        loaded = load(path)
        _unit_guard(loaded, no_unit_check)
        if overrides is not None:
            scenario, runs, seed, settings = _with_overrides(loaded, overrides, scenario, runs, seed, settings)
        seed = 0 if seed is None else seed
        variables = _split_vars(vars)
        if backend not in get_args(Backend):
            raise UsageError(f"--backend must be one of {', '.join(get_args(Backend))}, not {backend!r}")
        if save_every is not None and fmt != "csv":
            raise UsageError("--save-every sets the interval of --format csv time series; tables summarise whole runs")
        selection = _selection(run_index, runs, settings)
        if fmt == "csv":
            _run_csv(loaded, scenario or [], runs or 1, seed, variables, output, deterministic, quiet, backend,
                     save_every, selection)
        else:
            _run_table(loaded, scenario or [], runs, seed, variables, fmt, output, deterministic, quiet, backend,
                       Interval.percent(interval), verbose, selection)


def _with_overrides(loaded: Model, path: Path, scenario: list[str] | None, runs: int | None, seed: int | None,
                    settings: list[str] | None) -> tuple[list[str] | None, int | None, int | None, list[str]]:
    """The command line's options completed from an overrides file; what the command line gives wins."""
    from policylab.expr.names import canonical
    from policylab.formats.overrides import read_overrides

    found = read_overrides(path)
    if found.model is not None and canonical(found.model) != canonical(loaded.name):
        raise UsageError(f"{path}: these overrides are for the model {found.model!r}, not {loaded.name!r}; "
                         "give that model's file, or delete the `model:` line")
    given = {canonical(item.partition("=")[0]) for item in settings or []}
    merged = [f"{name}={value!r}" for name, value in found.set.items() if canonical(name) not in given]
    return (scenario or ([found.scenario] if found.scenario is not None else None),
            runs if runs is not None else found.runs, seed if seed is not None else found.seed,
            merged + list(settings or []))


def _selection(run_index: int | None, runs: int | None, settings: list[str] | None) -> dict[str, object]:
    """``Model.run`` arguments for ``--run-index K`` (run K alone, sampled as in an ensemble) and ``--set``."""
    chosen: dict[str, object] = {}
    if run_index is not None:
        if runs not in (None, 1):
            raise UsageError("--run-index K runs run K alone; leave out --runs (or give --runs 1)")
        chosen.update(first_run=run_index, sample=True)
    params: dict[str, float] = {}
    for item in settings or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not sep or not name or not math.isfinite(value):
            raise UsageError(f"--set takes NAME=VALUE with a finite number, e.g. --set distancing=0.5; got {item!r}")
        if name in params:
            raise UsageError(f"--set {name} is given twice; give each name once")
        params[name] = value
    if params:
        chosen["params"] = params
    return chosen


def _run_csv(loaded: Model, scenarios: list[str], runs: int, seed: int, variables: list[str] | None,
             output: Path | None, deterministic: bool, quiet: bool, backend: Backend,
             save_every: float | None = None, selection: dict[str, object] | None = None) -> None:
    from policylab.results import to_csv_frame
    from policylab.simulate.results import series_names

    if len(scenarios) > 1:
        raise UsageError("--format csv prints exactly one scenario; name one --scenario (or use --format table to compare)")
    chosen = scenarios[0] if scenarios else loaded.ir.default_scenario
    progress = _LazyProgress(loaded.ir.time.n_steps, f"{loaded.name} × {runs}", quiet)
    try:
        ds = loaded.run(chosen, runs=runs, seed=seed, variables=variables, deterministic=deterministic, progress=progress,
                        backend=backend, save_every=save_every, **(selection or {}))  # type: ignore[arg-type]
    finally:
        progress.close()
    names = series_names(ds)
    frame = to_csv_frame(loaded.ir, ds, names)
    text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    _emit(text, output)


def _run_table(loaded: Model, scenarios: list[str], runs: int | None, seed: int, variables: list[str] | None,
               fmt: str, output: Path | None, deterministic: bool, quiet: bool, backend: Backend,
               interval: Interval, verbose: bool, selection: dict[str, object] | None = None) -> None:
    from policylab.results.outcomes import needed_variables
    from policylab.results.tables import comparison_table, default_rows, to_json
    from policylab.results.text import render
    from policylab.simulate import judgement_parameters

    ir = loaded.ir
    chosen = scenarios or list(ir.scenarios) or [None]
    n = 1 if selection and "first_run" in selection else (
        runs if runs is not None else (DEFAULT_ENSEMBLE if judgement_parameters(ir) else 1))
    rows = default_rows(ir, variables)
    save = list(dict.fromkeys([oc.variable for oc in rows] + (needed_variables(ir) if variables is None else [])))
    loaded.check_memory(n, save, scenarios=len(chosen))  # every scenario's result is held until the table is built
    results = {}
    for name in chosen:
        progress = _LazyProgress(ir.time.n_steps, f"{name or ir.name} × {n}", quiet)
        try:
            results[name or ir.name] = loaded.run(name, runs=n, seed=seed, variables=save,
                                                  deterministic=deterministic, progress=progress, backend=backend,
                                                  **(selection or {}))  # type: ignore[arg-type]
        finally:
            progress.close()
    table = comparison_table(ir, results, rows, interval)
    if fmt == "json":
        _emit(json.dumps(to_json(ir, results, table, interval), indent=2) + "\n", output)
        return
    _emit(render(ir.name, table, n, seed, interval, deterministic), output)
    if verbose and ir.doc:
        err.print(f"\n{ir.doc.strip()}", markup=False, highlight=False)


def _unit_guard(loaded: Model, skip: bool) -> None:
    """A native model whose units do not check is refused, as `check` fails it; imported models only warn."""
    if skip:
        return
    from policylab.compile.units import check_units

    issues = check_units(loaded.ir)
    if not issues:
        return
    first = str(issues[0]).splitlines()[0]
    count = plural(len(issues), "unit mismatch", "unit mismatches")
    if Path(loaded.ir.path).suffix.lower() in (".yaml", ".yml"):
        raise UnitsError(f"{count}, the first: {first}\n`policylab check` lists them all; fix the units, "
                         "or run anyway with --no-unit-check")
    warnings.warn(f"{count} in this imported model (run anyway; `policylab check` lists them), the first: {first}",
                  stacklevel=2)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


# (runs, step by step): 1,100 runs are several blocks on any machine; a single run is one kernel call, and step by
# step (with progress reports, or resumed by a prepared simulator) it uses the kernels that start and step a run
WARM_UP_RUNS = {"serial": ((1, False), (1, True)), "parallel": ((1100, False), (1100, True))}


@app.command("warm-up")
def warm_up(
    kernels: Annotated[Kernels, typer.Option("--kernels", help="serial (one block of runs: a single run, a small "
                                             "ensemble), parallel (ensembles of several blocks) or both.")] = "both",
) -> None:
    """Compile the numba backend now, once per installation, instead of in the first run that needs it.

    Runs the bundled model on the numba backend (one run in one kernel call and one step by
    step for the serial kernels, 1,100 runs in one call and step by step for the parallel ones); later
    processes load the compiled code from the cache folder in
    about a second. Two processes, one given `--kernels serial` and one `--kernels parallel`,
    compile the two at once on two cores (`make test` starts them while it installs).
    """
    with _errors():
        from policylab.api import load, numba_available

        if not numba_available():
            raise UsageError("the numba backend is not installed here: pip install 'policylab[fast]'")
        model = load(default_model())
        started = time.perf_counter()
        variants = WARM_UP_RUNS["serial"] + WARM_UP_RUNS["parallel"] if kernels == "both" else WARM_UP_RUNS[kernels]
        for runs, step_by_step in variants:
            model.run(runs=runs, backend="numba", deterministic=True, variables=[],
                      progress=(lambda _done: None) if step_by_step else None)
    err.print(f"numba backend ready ({kernels} kernels, {time.perf_counter() - started:.0f} s)", markup=False,
              highlight=False)


@app.command()
def check(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship.")] = None,
    sources: Annotated[Optional[list[Path]], typer.Option("--sources", help="Extra folder to look for source documents in.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="A source file missing from the sources path is an error (exit 1), not a warning.")] = False,
) -> None:
    """Check a model: parse, names and loops, units, evidence quotes, link polarity."""
    from policylab.compile.checks import run_checks

    with _errors():
        from policylab.api import load

        loaded = load(model if model is not None else default_model())
        report = run_checks(loaded, [str(s) for s in sources or []], strict=strict)
    for line in report.lines:
        (err if line.startswith(("error", "warning", "note")) else out).print(line, markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def conformance(
    folder: Annotated[Path, typer.Argument(help="Folder of test models: those FOLDER/TESTS.txt lists, else every "
                                           "*.xmile and *.mdl found recursively.")],
    glob: Annotated[Optional[str], typer.Option("--glob", help="Run instead every file under FOLDER whose name "
                                                "matches this pattern, ignoring TESTS.txt (the Vensim suite's XMILE "
                                                "twins: --glob '*.xmile').")] = None,
) -> None:
    """Run the *.xmile and *.mdl models under FOLDER and compare each with output.csv (else output.tab) beside it.

    Prints one PASS/FAIL line per file (a FAIL names the first differing variable, time,
    expected and actual value) and `N passed, M failed` last; exits 1 when any test fails.
    """
    from policylab.conformance import find_matching, find_tests, run_test, summary

    if not folder.is_dir():
        raise _fail(UsageError(f"{folder}: not a folder; give the folder holding the XMILE or Vensim test models"))
    outcomes = []
    with _errors():
        tests = find_tests(folder) if glob is None else find_matching(folder, glob)
    for path in tests:
        outcome = run_test(path)
        for note in outcome.warnings:
            err.print(f"warning: {note}", markup=False, highlight=False)
        out.print(outcome.line(folder), markup=False, highlight=False)
        outcomes.append(outcome)
    out.print(summary(outcomes), markup=False, highlight=False)
    if not outcomes or not all(o.passed for o in outcomes):
        raise typer.Exit(1)


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="The model to convert: .yaml, .xmile/.stmx/.itmx or .mdl.")],
    target: Annotated[Path, typer.Argument(help="Where to write it: .yaml or .xmile (the format from the suffix).")],
) -> None:
    """Convert a model between formats (.mdl, .xmile, .yaml -> .yaml, .xmile), keeping structure, units, docs and arrays."""
    from policylab.formats import XMILE_SUFFIXES, YAML_SUFFIXES, VENSIM_SUFFIXES, read_model

    with _errors():
        suffix = target.suffix.lower()
        if suffix in VENSIM_SUFFIXES:
            raise UsageError(f"{target}: PolicyLab reads Vensim .mdl files but does not write them; convert to .yaml "
                             "or .xmile")
        if suffix not in YAML_SUFFIXES + XMILE_SUFFIXES:
            raise UsageError(f"{target}: give a .yaml or .xmile file to write (the suffix chooses the format)")
        model = read_model(source)
        if suffix in YAML_SUFFIXES:
            from policylab.formats.yaml_writer import NotWritable, save_yaml

            try:
                save_yaml(model, target)
            except NotWritable as problem:
                raise UsageError(f"{source}: cannot be written as YAML: {problem}") from None
            try:  # say so at once when the YAML format cannot hold this model (e.g. a range repeated in one array)
                read_model(target)
            except PolicyLabError as problem:
                raise ModelFileError(f"{target} was written but does not read back ({problem}); convert "
                                     f"{source.name} to .xmile instead") from None
        else:
            from policylab.formats.xmile.writer import save_xmile

            save_xmile(model, target)
    err.print(f"wrote {target}", markup=False, highlight=False)


@app.command()
def diagram(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship.")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write the diagram (default: standard output).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="svg (needs Graphviz) or dot.")] = "",
    constants: Annotated[bool, typer.Option("--constants", help="Also draw constants as nodes.")] = False,
    view: Annotated[str, typer.Option("--view", help="all (the whole graph), core (stocks and levers, linked through "
                                      "flows and auxiliaries), sector:NAME (one sector's variables, NAME as the [tag] "
                                      "opening their doc), loop:ID (one loop and its neighbours) or loops:ID,ID "
                                      "(those loops only; IDs as `policylab loops` prints them).")] = "all",
) -> None:
    """Draw the causal-loop diagram derived from the equations: signed links, feedback loops, evidence on hover."""
    from policylab.compile.causal import by_array, causal_graph
    from policylab.report.diagram import render_svg, to_dot

    with _errors():
        chosen = fmt or ("dot" if output is not None and output.suffix == ".dot" else "svg")
        if chosen not in ("svg", "dot"):
            raise UsageError(f"--format must be svg or dot, not {fmt!r}")
        from policylab.api import load

        loaded = load(model if model is not None else default_model())
        graph = by_array(causal_graph(loaded, include_constants=constants), loaded.ir)
        layout, title, outside = "dot", f"{loaded.name}: causal-loop diagram", None
        shown = graph.loops
        if view != "all":
            from dataclasses import replace

            from policylab.report.views import view_of

            chosen_view = view_of(graph, loaded.ir, view)
            layout, title, outside = chosen_view.layout, f"{loaded.name}: {chosen_view.title}", chosen_view.outside
            graph, shown = chosen_view.graph, list(chosen_view.loops)
            if chosen_view.key.startswith("loop"):
                graph = replace(graph, loops=[])
        text = to_dot(graph, title, layout, outside, compact=view != "all")
        if chosen == "svg":
            text = render_svg(text)
        _emit(text, output)
        reinforcing = sum(loop.polarity == "R" for loop in shown)
        balancing = sum(loop.polarity == "B" for loop in shown)
        err.print(f"{plural(len(graph.nodes), 'variable')}, {plural(len(graph.links), 'link')}, "
                  f"{plural(len(shown), 'feedback loop')} "
                  f"({reinforcing} reinforcing, {balancing} balancing)" + (" (loop search truncated)" if graph.truncated else ""),
                  highlight=False)


def _register_plugins() -> None:
    """Verbs that live in their own modules (``cli_<area>.py``, each with ``register(app)``)."""
    import importlib

    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module).register(app)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


PLUGIN_MODULES: tuple[str, ...] = (
    "policylab.cli_explore",
    "policylab.cli_analysis",
    "policylab.cli_bargain",
    "policylab.cli_report",
    "policylab.cli_validate",
    "policylab.cli_loops",
)


def _metavars(command: Any) -> None:
    """One help style for every verb: ``--runs RUNS``, ``--out OUT``; choices list themselves.

    Typer's default shows Python types (``<list[str]>``, ``<int range>``); the option's own
    name, upper-cased, says more. Flags and options with choices keep Typer's display.
    """
    for param in command.params:
        choices = getattr(getattr(param, "type_descriptor", None), "is_choice", False)
        if param.metavar is None and not getattr(param, "is_flag", False) and not choices and param.name:
            param.metavar = param.name.upper()
    for sub in getattr(command, "commands", {}).values():
        _metavars(sub)


def _format_warning(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> str:
    return f"warning: {printable(str(message))}\n"


def main() -> None:
    """Console-script entry point."""
    warnings.formatwarning = _format_warning  # users read messages, not source positions
    app(prog_name="policylab")


_register_plugins()

