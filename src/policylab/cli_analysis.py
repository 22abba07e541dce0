"""CLI verbs of the analyses: ``sensitivity``, ``discover``, ``compare``, ``calibrate``.

Thin: each verb parses options, calls ``policylab.analysis`` and prints a Rich table (or
CSV/JSON), optionally writing a Plotly HTML figure. Registered by ``policylab.cli``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional, get_args

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from policylab.choices import Backend
from policylab.cli import _emit, _errors, _split_vars, console, default_model, err, out
from policylab.errors import UsageError
from policylab.grammar import plural
from policylab.results.numbers import number

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from policylab.api import Model
    from policylab.analysis.calibration_summary import CalibrationSummary
    from policylab.analysis.evaluate import Condition
    from policylab.analysis.cart import CartResult
    from policylab.analysis.prim import Box, BoxSearch

Format = Literal["table", "csv", "json"]
DiscoverMethod = Literal["prim", "cart", "both"]
CalibrationMethod = Literal["de", "rejection", "smc"]
TABLE_ROWS = 15  # parameters per outcome in a sensitivity table
BackendOption = Annotated[Backend, typer.Option(
    "--backend", help="Simulation engine: numpy, numba (compiled) or auto (numba if installed).")]


class _Throughput(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {task.fields.get('unit', 'runs')}/s" if speed else "", style="progress.data.speed")


@contextmanager
def _progress(label: str, quiet: bool, unit: str = "runs") -> Iterator[object]:
    """A callback ``(done, total)`` drawing a Rich bar with throughput and ETA (nothing when quiet or piped)."""
    if quiet or not err.is_terminal:
        yield lambda done, total: None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Throughput(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None, unit=unit)
    bar.start()
    try:
        yield lambda done, total: bar.update(task, completed=done, total=total)
    finally:
        bar.stop()


def _check_format(fmt: str, allowed: tuple[str, ...] = get_args(Format)) -> None:
    if fmt not in allowed:
        raise UsageError(f"--format must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {fmt!r}")


def _model(path: Path | None) -> Model:
    from policylab.api import load
    return load(path if path is not None else default_model())


def _print_table(grid: Table, output: Path | None) -> None:
    if output is None:
        out.print(grid)
    else:
        with output.open("w", encoding="utf-8") as handle:
            console(file=handle, width=200).print(grid)


def _plot(figure: object, path: Path | None) -> None:
    if path is not None:
        from policylab.analysis.plots import write_html

        write_html(figure, path)  # type: ignore[arg-type]
        err.print(f"plot written to {path}", highlight=False)


def _frame_out(frame: pd.DataFrame, fmt: str, output: Path | None) -> None:
    if fmt == "csv":
        _emit(frame.to_csv(index=False, float_format="%.6g", lineterminator="\n"), output)
    else:
        _emit(json.dumps(json.loads(frame.to_json(orient="records", date_format="iso")), indent=2) + "\n", output)


def _ci(value: float, half: float, general: bool = False) -> str:
    import numpy as np
    if np.isnan(value):
        return "—"
    return f"{value:.4g} ± {half:.2g}" if general else f"{value:.3f} ± {half:.3f}"


# --- sensitivity ----------------------------------------------------------------------------

def sensitivity(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship.")] = None,
    method: Annotated[Literal["sobol", "morris"], typer.Option("--method", "-m", help="sobol (indices with CIs) or morris (screening).")] = "sobol",
    outcome: Annotated[Optional[list[str]], typer.Option("--outcome", help="Declared outcome or VARIABLE:STAT (repeat; default: all declared).")] = None,
    over_time: Annotated[Optional[str], typer.Option("--over-time", help="Time-varying Sobol indices of this variable, per saved step.")] = None,
    times: Annotated[int, typer.Option("--times", min=1, help="With --over-time: at most this many evenly spaced steps.")] = 100,
    params: Annotated[Optional[str], typer.Option("--params", help="Comma-separated judgement parameters to vary (default: all).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", "-n", min=2, help="Sobol: base samples N, a power of two (runs = N(k+2); default 512). Morris: trajectories (default 20).")] = None,
    scenario: Annotated[Optional[str], typer.Option("--scenario", "-s", help="Scenario to analyse (default: the model's).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the design and the bootstrap.")] = 0,
    stochastic: Annotated[bool, typer.Option("--stochastic", help="Keep random functions random (default: their means).")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the table/data here.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a Plotly figure (.html).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    backend: BackendOption = "auto",
) -> None:
    """Which judgement parameters drive the outcomes: Sobol indices (Saltelli 2010) or Morris screening."""
    from policylab.api import check_backend

    from policylab.analysis import plots
    from policylab.analysis.sensitivity import METHODS, morris_screening, sobol_indices, sobol_over_time

    with _errors():
        _check_format(fmt)
        if method not in METHODS:
            raise UsageError(f"--method must be {' or '.join(METHODS)}, not {method!r}")
        if over_time and method != "sobol":
            raise UsageError("--over-time computes Sobol indices; drop --method morris")
        check_backend(backend, "--backend")
        loaded = _model(model)
        names = _split_vars(params)
        common = {"parameters": names, "scenario": scenario, "seed": seed, "deterministic": not stochastic,
                  "backend": backend}
        with _progress(f"{loaded.name}: {method}", quiet) as progress:
            if over_time:
                result = sobol_over_time(loaded, over_time, base_samples=samples or 512, max_times=times,
                                         progress=progress, **common)  # type: ignore[arg-type]
            elif method == "sobol":
                result = sobol_indices(loaded, outcome, base_samples=samples or 512, progress=progress, **common)  # type: ignore[arg-type]
            else:
                result = morris_screening(loaded, outcome, trajectories=samples or 20, progress=progress, **common)  # type: ignore[arg-type]
        if fmt != "table":
            frame = result.drop_vars([v for v in ("mean", "variance") if v in result]).to_dataframe().reset_index()
            _frame_out(frame, fmt, output)
        elif over_time:
            _print_table(_over_time_table(result), output)
        else:
            _print_table(_indices_table(result, method), output)
        if plot is not None:
            _plot(plots.sobol_time_figure(result) if over_time else plots.sobol_figure(result) if method == "sobol"
                  else _morris_figure(result), plot)


def _indices_table(result: xr.Dataset, method: str) -> Table:
    import numpy as np
    a = result.attrs
    title = (f"{a['model']} · {a['scenario'] or 'as written'}: {method} over {result.sizes['parameter']} parameters, "
             f"{a['runs']} runs, seed {a['seed']}" + (", deterministic" if a["deterministic"] else ""))
    grid = Table(title=title, highlight=False)
    grid.add_column("outcome", style="bold")
    grid.add_column("parameter")
    if method == "sobol":
        for head in (f"first-order S1 (±{a['conf_level']:.0%} CI)", "total ST (± CI)"):
            grid.add_column(head, justify="right")
    else:
        for head in ("mu* (± CI)", "mu", "sigma"):
            grid.add_column(head, justify="right")
    rank = "ST" if method == "sobol" else "mu_star"
    for o in result["outcome"].values:
        cell = result.sel(outcome=o)
        order = np.argsort(-np.nan_to_num(cell[rank].values))
        for n, j in enumerate(order[:TABLE_ROWS]):
            row = cell.isel(parameter=j)
            if method == "sobol":
                values = [_ci(float(row.S1), float(row.S1_conf)), _ci(float(row.ST), float(row.ST_conf))]
            else:
                values = [_ci(float(row.mu_star), float(row.mu_star_conf), general=True), f"{float(row.mu):.4g}",
                          f"{float(row.sigma):.4g}"]
            grid.add_row(str(o) if n == 0 else "", str(row["parameter"].values), *values)
        if len(order) > TABLE_ROWS:
            grid.add_row("", f"… {len(order) - TABLE_ROWS} more (--format csv lists all)")
        grid.add_section()
    return grid


def _over_time_table(result: xr.Dataset, rows: int = 12) -> Table:
    import numpy as np
    a = result.attrs
    top = np.argsort(-np.nan_to_num(result["ST"].values).max(axis=0))[:8]
    grid = Table(title=f"{a['model']}: total Sobol index ST of {a['variable']} over time ({a['runs']} runs; "
                 f"top {len(top)} parameters by peak ST)", highlight=False)
    grid.add_column("date" if "date" in result.coords else "time")
    grid.add_column("std", justify="right")
    for j in top:
        grid.add_column(str(result["parameter"].values[j]), justify="right")
    picks = np.unique(np.linspace(0, result.sizes["time"] - 1, min(rows, result.sizes["time"])).round().astype(int))
    for i in picks:
        when = str(result["date"].values[i])[:10] if "date" in result.coords else f"{float(result['time'].values[i]):g}"
        st = result["ST"].values[i]
        grid.add_row(when, f"{np.sqrt(float(result['variance'].values[i])):.3g}",
                     *["—" if np.isnan(st[j]) else f"{st[j]:.2f}" for j in top])
    return grid


def _morris_figure(result: xr.Dataset) -> object:
    import plotly.graph_objects as go

    figure = go.Figure()
    for o in result["outcome"].values:
        cell = result.sel(outcome=o)
        figure.add_trace(go.Scatter(x=cell["mu_star"].values, y=cell["sigma"].values, mode="markers+text", name=str(o),
                                    text=[str(p) for p in cell["parameter"].values], textposition="top center"))
    figure.update_layout(title=f"{result.attrs['model']}: Morris screening", xaxis_title="mu* (unit-cube scale)",
                         yaxis_title="sigma")
    return figure


# --- discover -------------------------------------------------------------------------------

def discover(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship.")] = None,
    where: Annotated[str, typer.Option("--where", "-w", help="Cases of interest, e.g. 'dialogue_sustainability<0.5' (OUTCOME op VALUE).")] = "",
    scenario: Annotated[Optional[str], typer.Option("--scenario", "-s", help="Scenario (default: the model's).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=10, help="Runs sampled over the judgement parameters (as `policylab run`).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root random seed.")] = 0,
    params: Annotated[Optional[str], typer.Option("--params", help="Comma-separated parameters PRIM may restrict (default: all).")] = None,
    method: Annotated[DiscoverMethod, typer.Option("--method", "-m", help="prim, cart or both.")] = "both",
    density: Annotated[float, typer.Option("--density", help="PRIM: choose the widest box at least this dense.")] = 0.8,
    alpha: Annotated[float, typer.Option("--alpha", help="PRIM: share of runs peeled per step.")] = 0.05,
    min_mass: Annotated[float, typer.Option("--min-mass", help="Smallest box (share of runs).")] = 0.05,
    boxes: Annotated[int, typer.Option("--boxes", min=1, help="PRIM: boxes to find by covering.")] = 1,
    max_p: Annotated[float, typer.Option("--max-p", help="PRIM: also show the box without restrictions whose quasi-p-value exceeds this (1: don't).")] = 0.05,
    depth: Annotated[int, typer.Option("--depth", min=1, help="CART: tree depth.")] = 3,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Random functions return their means.")] = False,
    from_run: Annotated[Optional[str], typer.Option("--from-run", help="Analyse a stored exploration (run id) instead of new runs.")] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="Results store folder for --from-run (default: $POLICYLAB_STORE, else ~/.policylab).")] = None,
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", "-f", help="table or json.")] = "table",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the result here.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write PRIM's peeling trajectory (.html).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    backend: BackendOption = "auto",
) -> None:
    """Scenario discovery: which ranges of the uncertainties lead to the cases of interest (PRIM, CART)."""
    from policylab.api import check_backend
    import pandas as pd

    from policylab.analysis import plots
    from policylab.analysis.cart import cart
    from policylab.analysis.evaluate import evaluate_outcomes, parse_condition, resolve_condition, resolve_outcomes
    from policylab.analysis.prim import prim
    from policylab.analysis.robustness import uncertainty_sample
    from policylab.analysis.space import parameter_space

    with _errors():
        _check_format(fmt, ("table", "json"))
        if method not in get_args(DiscoverMethod):
            raise UsageError(f"--method must be prim, cart or both, not {method!r}")
        if not where:
            raise UsageError("discover needs --where OUTCOME op VALUE, e.g. --where 'peak_infected>=2000'")
        check_backend(backend, "--backend")
        loaded = _model(model)
        condition = resolve_condition(loaded.ir, parse_condition(where))
        names = _split_vars(params)
        if from_run is not None:
            x, y, runs, label = _stored_discovery(from_run, store, condition, scenario, names)
        else:
            (outcome,) = resolve_outcomes(loaded.ir, [condition.outcome])
            space = parameter_space(loaded.ir, names)
            sample = uncertainty_sample(loaded, runs, seed)
            with _progress(f"{loaded.name} × {runs}", quiet) as progress:
                values = evaluate_outcomes(loaded, sample, [outcome], scenario=scenario, seed=seed,
                                           deterministic=deterministic, progress=progress,  # type: ignore[arg-type]
                                           backend=backend)  # type: ignore[arg-type]
            y = condition.holds(values[outcome.name].values)
            x = pd.DataFrame({n: sample[n] for n in space.names})
            label = f"{loaded.name} · {scenario or loaded.ir.default_scenario or 'as written'}"
        found_prim = prim(x, y, alpha=alpha, min_mass=min_mass, threshold=density, boxes=boxes,
                                  max_p=None if max_p >= 1 else max_p) if method != "cart" else []
        found_cart = cart(x, y, max_depth=depth, min_mass=min_mass, seed=seed) if method != "prim" else None
        header = f"{label}: {int(y.sum())} of {runs} runs have {condition} ({y.mean():.1%})" + (
            f", seed {seed}" if from_run is None else "")
        for i, search in enumerate(found_prim, start=1):
            for note in search.warnings:
                err.print(f"warning: PRIM box {i}: {note}", markup=False, highlight=False)
        if fmt == "json":
            _emit(json.dumps(_discover_json(header, str(condition), found_prim, found_cart), indent=2) + "\n", output)
        else:
            _print_discovery(header, found_prim, found_cart, output)
        if plot is not None and found_prim:
            _plot(plots.trajectory_figure(found_prim[0], f"{header}: PRIM peeling trajectory"), plot)


def _stored_discovery(run_id: str, store: Path | None, condition: Condition, policy: str | None,
                      names: list[str] | None) -> tuple[pd.DataFrame, np.ndarray, int, str]:
    from policylab.analysis.stored import load_stored

    stored = load_stored(run_id, store)
    rows = stored.policy_rows(policy)
    columns = names or list(stored.parameters)
    missing = [n for n in columns if n not in rows.columns]
    if missing:
        raise UsageError(f"run {run_id} did not sample {', '.join(missing)}; it has {', '.join(stored.parameters)}")
    y = condition.holds(rows[stored.outcome(condition.outcome)].to_numpy(dtype=float))
    label = f"run {run_id} ({stored.model}) · {rows['policy'].iloc[0]}" + ("" if stored.complete else " (incomplete)")
    return rows[columns].reset_index(drop=True), y, len(rows), label


def _print_discovery(header: str, found_prim: list[BoxSearch], found_cart: CartResult | None, output: Path | None) -> None:
    import numpy as np
    grid = Table(title=header, highlight=False)
    for col in ("method", "box", "coverage", "density", "mass", "restriction", "quasi-p"):
        grid.add_column(col, justify="right" if col in ("coverage", "density", "mass", "quasi-p") else "left")
    for i, search in enumerate(found_prim, start=1):
        views = [("", search.box)]
        if search.pruned is not None and search.pruned.limits != search.box.limits:
            views.append((" (pruned)", search.pruned))
        for suffix, box in views:
            limits = list(box.limits.items()) or [("(no restriction)", (np.nan, np.nan))]
            for n, (name, (low, high)) in enumerate(limits):
                stats = [f"{box.coverage:.2f}", f"{box.density:.2f}", f"{box.mass:.2f}"] if n == 0 else ["", "", ""]
                grid.add_row("PRIM" if n == 0 and not suffix and i == 1 else "", f"{i}{suffix}" if n == 0 else "", *stats,
                             f"{low:.4g} ≤ {name} ≤ {high:.4g}" if name in box.limits else name,
                             f"{box.quasi_p[name]:.2g}" if name in box.quasi_p else "")
            grid.add_section()
    if found_cart is not None:
        for i, leaf in enumerate(found_cart.leaves[:3], start=1):
            limits = [f"{'' if np.isinf(lo) else f'{lo:.4g} < '}{name}{'' if np.isinf(hi) else f' ≤ {hi:.4g}'}"
                      for name, (lo, hi) in leaf.limits.items()] or ["(root)"]
            for n, text in enumerate(limits):
                stats = [f"{leaf.coverage:.2f}", f"{leaf.density:.2f}", f"{leaf.mass:.2f}"] if n == 0 else ["", "", ""]
                grid.add_row("CART" if i == 1 and n == 0 else "", f"leaf {i}" if n == 0 else "", *stats, text, "")
        grid.add_section()
    _print_table(grid, output)
    if found_prim and output is None:
        t = found_prim[0].trajectory
        marks = np.unique(np.linspace(0, len(t) - 1, min(8, len(t))).round().astype(int))
        out.print("PRIM peeling trajectory (coverage → density): " + "  ".join(
            f"{t['coverage'].iloc[i]:.2f}→{t['density'].iloc[i]:.2f}" for i in marks), highlight=False)


def _discover_json(header: str, condition: str, found_prim: list[BoxSearch], found_cart: CartResult | None) -> dict[str, object]:
    import numpy as np
    def limits(d: dict[str, tuple[float, float]]) -> dict[str, list[float | None]]:
        return {k: [None if np.isinf(lo) else lo, None if np.isinf(hi) else hi] for k, (lo, hi) in d.items()}

    def box_json(box: Box) -> dict[str, object]:
        return {"limits": limits(box.limits), "coverage": box.coverage, "density": box.density, "mass": box.mass,
                "quasi_p": box.quasi_p}

    return {
        "version": 1, "title": header, "condition": condition,
        "prim": [{**box_json(s.box), "trajectory": s.trajectory.to_dict(orient="records"), "chosen_step": s.chosen,
                  "pruned": None if s.pruned is None else box_json(s.pruned), "warnings": list(s.warnings)}
                 for s in found_prim],
        "cart": None if found_cart is None else {
            "accuracy": found_cart.accuracy, "rules": found_cart.rules,
            "leaves": [{"limits": limits(leaf.limits), "coverage": leaf.coverage, "density": leaf.density, "mass": leaf.mass}
                       for leaf in found_cart.leaves]},
    }


# --- compare --------------------------------------------------------------------------------

def compare(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship.")] = None,
    scenario: Annotated[Optional[list[str]], typer.Option("--scenario", "-s", help="Scenario to compare (repeat; default: all).")] = None,
    threshold: Annotated[Optional[list[str]], typer.Option("--threshold", "-t", help="Success condition OUTCOME op VALUE, e.g. dialogue_sustainability>=0.5 (repeat).")] = None,
    outcome: Annotated[Optional[list[str]], typer.Option("--outcome", help="Declared outcome or VARIABLE:STAT (repeat; default: all declared).")] = None,
    maximize: Annotated[Optional[list[str]], typer.Option("--maximize", help="Outcome where more is better (for regret; repeat).")] = None,
    minimize: Annotated[Optional[list[str]], typer.Option("--minimize", help="Outcome where less is better (for regret; repeat).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="Runs in the shared uncertainty sample.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root random seed (run k uses stream k in every scenario).")] = 0,
    sample: Annotated[Optional[Path], typer.Option("--sample", help="Parameter sets (CSV/Parquet, e.g. a calibrate posterior) resampled by weight in place of the priors of the parameters they hold.")] = None,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Random functions return their means.")] = False,
    from_run: Annotated[Optional[str], typer.Option("--from-run", help="Analyse a stored exploration (run id; its policies are the scenarios) instead of new runs.")] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="Results store folder for --from-run (default: $POLICYLAB_STORE, else ~/.policylab).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the result here.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a Plotly figure (.html).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    backend: BackendOption = "auto",
) -> None:
    """Robustness of policies over one uncertainty sample: satisficing share, minimax regret, percentiles."""
    from policylab.api import check_backend

    from policylab.analysis import plots
    from policylab.analysis.abc import read_parameter_sets, resample
    from policylab.analysis.evaluate import parse_condition
    from policylab.analysis.robustness import compare_policies, uncertainty_sample
    from policylab.analysis.space import parameter_space

    with _errors():
        _check_format(fmt)
        check_backend(backend, "--backend")
        loaded = _model(model)
        conditions = [parse_condition(t) for t in threshold or []]
        both = set(maximize or []) & set(minimize or [])
        if both:
            raise UsageError(f"{', '.join(sorted(both))}: an outcome is either --maximize or --minimize, not both")
        directions = {**{n: "max" for n in maximize or []}, **{n: "min" for n in minimize or []}}
        params = None
        if from_run is not None:
            result = _stored_robustness(loaded, from_run, store, scenario, outcome, conditions, directions)  # type: ignore[arg-type]
        else:
            if sample is not None:
                names = parameter_space(loaded.ir).names
                values, weights = read_parameter_sets(sample, names)
                # parameters the file does not cover keep their prior draws
                params = {**uncertainty_sample(loaded, runs, seed), **resample(values, weights, runs, seed)}
            with _progress(f"{loaded.name}: compare", quiet) as progress:
                result = compare_policies(loaded, scenario, outcome, conditions=conditions, directions=directions,  # type: ignore[arg-type]
                                          runs=runs, seed=seed, params=params, deterministic=deterministic, progress=progress,  # type: ignore[arg-type]
                                          backend=backend)  # type: ignore[arg-type]
        source = f"stored run {from_run}" if from_run else f"parameter sets from {sample.name}" if sample else "prior ranges"
        if fmt == "table":
            _print_table(_robustness_table(result, source), output)
        else:
            _frame_out(_robustness_frame(result), fmt, output)
        if plot is not None:
            _plot(plots.robustness_figure(result), plot)


def _stored_robustness(loaded: Model, run_id: str, store: Path | None, scenarios: list[str] | None,
                       outcomes: list[str] | None, conditions: list[Condition], directions: dict[str, str]) -> xr.Dataset:
    from policylab.analysis.evaluate import resolve_condition
    from policylab.analysis.robustness import summarise_policies
    from policylab.analysis.stored import load_stored, policy_values

    stored = load_stored(run_id, store)
    resolved = [resolve_condition(loaded.ir, c) for c in conditions]
    names = list(outcomes or stored.outcomes)
    names += [n for n in [c.outcome for c in resolved] + list(directions) if n not in names]
    value = policy_values(stored, names, scenarios)
    return summarise_policies(value, resolved, directions, attrs={"model": stored.model, "seed": "as stored"})  # type: ignore[arg-type]


def _robustness_table(result: xr.Dataset, source: str) -> Table:
    from policylab.results.intervals import Interval

    a = result.attrs
    grid = Table(title=f"{a['model']}: {a['runs']} runs per scenario ({source}, seed {a['seed']}, common random numbers) — "
                 f"{Interval().label}", highlight=False)
    grid.add_column("", style="bold")
    scenarios = [str(s) for s in result["scenario"].values]
    for s in scenarios:
        grid.add_column(s, justify="right")
    for label in result["condition"].values:
        grid.add_row(f"share meeting {'all thresholds' if label == 'all' else label}",
                     *[f"{float(v):.1%}" for v in result["satisficing"].sel(condition=label).values])
    if result.sizes["condition"]:
        grid.add_section()
    for o in result["outcome"].values:
        p = result["percentile"].sel(outcome=o)
        lo, hi = Interval().low_q, Interval().high_q
        grid.add_row(str(o), *[f"{number(float(p.sel(scenario=s, quantile=0.5)))} [{number(float(p.sel(scenario=s, quantile=lo)))}–"
                               f"{number(float(p.sel(scenario=s, quantile=hi)))}]" for s in scenarios])
    directed = [o for o in result["outcome"].values if result["direction"].sel(outcome=o).item()]
    if directed:
        grid.add_section()
    for o in directed:
        regret = result["max_regret"].sel(outcome=o).values
        best = str(result["minimax_choice"].sel(outcome=o).item())
        arrow = "↑" if result["direction"].sel(outcome=o).item() == "max" else "↓"
        grid.add_row(f"max regret {o} ({arrow} better)", *[f"{r:.4g}" + (" ★" if s == best else "") for r, s in zip(regret, scenarios)])
    return grid


def _robustness_frame(result: xr.Dataset) -> pd.DataFrame:
    import pandas as pd
    rows = []
    for o in result["outcome"].values:
        for s in result["scenario"].values:
            row = {"outcome": str(o), "scenario": str(s), "mean": float(result["mean"].sel(outcome=o, scenario=s)),
                   "max_regret": float(result["max_regret"].sel(outcome=o, scenario=s)),
                   "mean_regret": float(result["mean_regret"].sel(outcome=o, scenario=s)),
                   "direction": str(result["direction"].sel(outcome=o).item()),
                   "minimax_choice": str(result["minimax_choice"].sel(outcome=o).item())}
            for q in result["quantile"].values:
                row[f"p{round(float(q) * 100):02d}"] = float(result["percentile"].sel(outcome=o, scenario=s, quantile=q))
            for c in result["condition"].values:
                row[f"share {c}"] = float(result["satisficing"].sel(condition=c, scenario=s))
            rows.append(row)
    return pd.DataFrame(rows)


# --- calibrate ------------------------------------------------------------------------------

def calibrate(
    model: Annotated[Optional[Path], typer.Argument(help="Model file; default: the flagship.")] = None,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help="YAML mapping observed series to model variables (see docs/analysis.md).")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", "-d", help="Observed data CSV (date, series, value[, weight]); default: the mapping's `data:`.")] = None,
    method: Annotated[CalibrationMethod, typer.Option("--method", "-m", help="de (differential evolution: a best fit), rejection or smc (ABC: a posterior sample).")] = "de",
    params: Annotated[Optional[str], typer.Option("--params", help="Comma-separated judgement parameters to fit (default: the mapping's, else all).")] = None,
    scenario: Annotated[Optional[str], typer.Option("--scenario", "-s", help="Scenario to fit (default: the mapping's, else the model's).")] = None,
    generations: Annotated[Optional[int], typer.Option("--generations", "-g", min=1, help="de: at most this many generations (100); smc: populations (6).")] = None,
    popsize: Annotated[int, typer.Option("--popsize", min=4, help="de: population = popsize × parameters.")] = 15,
    samples: Annotated[int, typer.Option("--samples", min=2, help="rejection: prior draws.")] = 10_000,
    accept: Annotated[float, typer.Option("--accept", help="rejection: share of draws kept.")] = 0.01,
    particles: Annotated[int, typer.Option("--particles", min=10, help="smc: particles per population.")] = 500,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the optimiser or sampler.")] = 0,
    stochastic: Annotated[bool, typer.Option("--stochastic", help="Fit with random functions random (default: their means).")] = False,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the parameter sets (.csv/.parquet): the posterior, or the best fit as one row.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write observed against fitted series (.html).")] = None,
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", "-f", help="table or json.")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    backend: BackendOption = "auto",
    allow_underdetermined: Annotated[bool, typer.Option("--allow-underdetermined", help="Fit even when parameters outnumber observations (refused otherwise).")] = False,
) -> None:
    """Fit judgement parameters to observed series: differential evolution, or ABC rejection / SMC.

    Says how far to trust the result: refuses more parameters than observations (unless
    --allow-underdetermined), heads an unconverged fit "best point found", and reports which
    parameters the data constrain (local sensitivity and collinearity, Brun et al. 2001).
    """
    from policylab.api import check_backend

    from policylab.analysis import plots
    from policylab.analysis.abc import abc_rejection, abc_smc, write_posterior
    from policylab.analysis.calibration import calibration_problem, check_determined, fit_de, fitted_series
    from policylab.analysis.calibration_summary import summarise

    with _errors():
        _check_format(fmt, ("table", "json"))
        if method not in get_args(CalibrationMethod):
            raise UsageError(f"--method must be de, rejection or smc, not {method!r}")
        check_backend(backend, "--backend")
        if mapping is None:
            raise UsageError("calibrate needs --mapping FILE.yaml (observed series -> model variables; see docs/analysis.md)")
        loaded = _model(model)
        problem = calibration_problem(loaded, mapping, data, parameters=_split_vars(params), scenario=scenario,
                                      deterministic=not stochastic, seed=seed, backend=backend)  # type: ignore[arg-type]
        check_determined(problem, allow_underdetermined)
        if problem.skipped:
            err.print(f"note: {plural(len(problem.skipped), 'observation')} outside the run or the mapping's window are not fitted: "
                      + ", ".join(f"{s} {d}" for s, d in problem.skipped), highlight=False, markup=False)
        unit_label = "generations" if method != "rejection" else "runs"
        fit, posterior = None, None
        with _progress(f"{loaded.name}: calibrate ({method})", quiet, unit_label) as progress:
            if method == "de":
                fit = fit_de(problem, popsize=popsize, generations=generations or 100, seed=seed, progress=progress)  # type: ignore[arg-type]
            elif method == "rejection":
                posterior = abc_rejection(problem, samples=samples, accept=accept, seed=seed, progress=progress)  # type: ignore[arg-type]
            else:
                posterior = abc_smc(problem, particles=particles, generations=generations or 6, seed=seed, progress=progress)  # type: ignore[arg-type]
        summary = summarise(problem, fit, posterior)
        for note in summary.warnings:
            err.print(f"warning: {note}", markup=False, highlight=False)
        if output is not None:
            write_posterior(summary.posterior, output)
            err.print(f"parameter sets written to {output}", highlight=False)
        if fmt == "json":
            _emit(json.dumps(_calibration_json(summary), indent=2, default=str) + "\n", None)
        else:
            _print_calibration(summary)
            out.print(f"overall RMS error (in units of each series' scale): {summary.rms_best:.3g} {summary.heading}, "
                      f"{summary.rms_file:.3g} at the model file's values", highlight=False)
        if plot is not None:
            _plot(plots.calibration_figure(summary.table, fitted_series(problem, summary.best_unit),
                                           f"{loaded.name}: calibration ({method})"), plot)


def _print_calibration(summary: CalibrationSummary) -> None:
    problem, fit = summary.problem, summary.fit
    posterior = None if fit is not None else summary.posterior
    if fit is not None:
        how = f"{fit.evaluations} runs, {fit.generations} generations; {fit.message}"
    else:
        how = (f"ABC {summary.posterior.method}: {summary.posterior.simulations} runs, "
               f"{len(summary.posterior.sample)} accepted, ε = {summary.posterior.epsilon:.3g}")
    found = summary.identifiability
    grid = Table(title=f"{problem.model.name}: {plural(len(problem.space), 'parameter')} fitted to "
                 f"{plural(problem.observations, 'observation')} of {plural(len(problem.targets), 'series', 'series')} "
                 f"({how}); the data constrain {len(found.constrained)} of {len(problem.space)}", highlight=False)
    grid.add_column("parameter", style="bold")
    grid.add_column("prior range", justify="right")
    grid.add_column("file value", justify="right")
    heads = (summary.heading,) if fit is not None else ("posterior mean ± sd", "5 %", "95 %")
    for head in heads:
        grid.add_column(head, justify="right")
    grid.add_column("constrained by the data (sensitivity)", justify="right")
    for u in problem.space.uncertainties:
        cells = [u.name, f"[{number(u.low)}, {number(u.high)}]" + (f" {u.distribution}" if u.distribution != "uniform" else ""),
                 number(u.nominal)]
        if fit is not None:
            cells.append(number(fit.parameters[u.name]))
        elif posterior is not None:
            s = posterior.sample
            from policylab.analysis.calibration_summary import weighted_quantiles

            lo, hi = weighted_quantiles(s[u.name].to_numpy(), s["weight"].to_numpy(), (0.05, 0.95))
            cells += [f"{number(posterior.mean()[u.name])} ± {posterior.std()[u.name]:.2g}", number(lo), number(hi)]
        sensitivity = found.sensitivity[u.name]
        cells.append(f"{'yes' if u.name in found.constrained else 'no'} ({sensitivity:.2g})")
        grid.add_row(*cells)
    out.print(grid)
    fits = Table(title="observed and fitted" + (" (best particle)" if fit is None else ""), highlight=False)
    for col in ("series", "date", "observed", "fitted"):
        fits.add_column(col, justify="left" if col in ("series", "date") else "right")
    for name, rows in summary.table.groupby("series", sort=False):
        for n, (_, row) in enumerate(rows.iterrows()):
            fits.add_row(f"{name} → {row['variable']} (RMS error {summary.series_rms[str(name)]:.1%} of scale)" if n == 0 else "",
                         str(row["date"]), number(row["observed"]), number(row["fitted"]))
        fits.add_section()
    out.print(fits)


def _calibration_json(summary: CalibrationSummary) -> dict[str, object]:
    problem, fit, posterior = summary.problem, summary.fit, summary.posterior
    result: dict[str, object] = {
        "version": 2, "model": problem.model.name, "series_rms_error": summary.series_rms,
        "rms_error": {"best": summary.rms_best, "file": summary.rms_file},
        "observed_vs_fitted": json.loads(summary.table.to_json(orient="records", date_format="iso")),
        "identifiability": {"sensitivity": summary.identifiability.sensitivity,
                            "constrained": summary.identifiability.constrained,
                            "collinearity": summary.identifiability.collinearity},
        "warnings": summary.warnings}
    if fit is not None:
        result.update({"method": "de", "parameters": fit.parameters, "loss": fit.loss, "evaluations": fit.evaluations,
                       "generations": fit.generations, "converged": fit.converged})
    else:
        result.update({"method": posterior.method, "posterior_mean": posterior.mean(), "posterior_std": posterior.std(),
                       "epsilon": posterior.epsilon, "simulations": posterior.simulations,
                       "history": posterior.history.to_dict(orient="records")})
    return result


def register(app: typer.Typer) -> None:
    """Add the analysis verbs to the ``policylab`` app."""
    app.command()(sensitivity)
    app.command()(discover)
    app.command()(compare)
    app.command()(calibrate)
