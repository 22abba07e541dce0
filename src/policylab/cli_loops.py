"""CLI verb ``loops``: which feedback loops dominate each period, over an ensemble (Loops That Matter).

``policylab.cli`` calls :func:`register`; heavy modules are imported inside the command.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from policylab.choices import Backend
from policylab.errors import UsageError

WIDTH = 100  # table lines fit 100 columns


def register(app: typer.Typer) -> None:
    """Add ``loops`` to the ``policylab`` app."""
    app.command(name="loops")(loops)


def loops(
    model: Annotated[Optional[Path], typer.Argument(help="Model file (.yaml, .xmile, .stmx, .itmx); default: the flagship.")] = None,
    scenario: Annotated[Optional[str], typer.Option("--scenario", "-s", help="Scenario (default: the model's default).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, max=1_000_000, help="Ensemble size (> 1 samples every judgement parameter).")] = 100,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root random seed (run k uses stream k).")] = 0,
    top: Annotated[int, typer.Option("--top", min=1, help="Loops shown per period and partition.")] = 5,
    period: Annotated[Optional[list[str]], typer.Option("--period", "-p", help="LABEL=START..END (dates or model times; repeat). Default: calendar years, else quarters of the run.")] = None,
    mode: Annotated[Literal["auto", "exhaustive", "discovery"], typer.Option("--mode", help="Loop set: exhaustive (every loop up to the budget), discovery (strongest-path search), auto.")] = "auto",
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Random functions take their mean.")] = False,
    fmt: Annotated[Literal["table", "csv", "json"], typer.Option("--format", "-f", help="table (for people), csv or json (versioned structure).")] = "table",
    backend: Annotated[Backend, typer.Option("--backend", help="numpy, numba (compiled) or auto (numba if installed).")] = "auto",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Which feedback loops dominate each period: per loop, the share of runs in which it dominates its
    cycle partition and its median relative loop score with the 10-90 % band (docs/loops.md)."""
    from policylab.api import check_backend, load
    from policylab.cli import _errors, default_model, err
    from policylab.results.intervals import Interval
    from policylab.results.loops import default_periods
    from policylab.results.loops.summary import evidence_of, period_rows, to_json

    with _errors():
        check_backend(backend, "--backend")
        if fmt not in ("table", "csv", "json"):
            raise UsageError(f"--format must be table, csv or json, not {fmt!r}")
        loaded = load(model if model is not None else default_model())
        spans = [_parse_period(loaded.ir, text) for text in period] if period else [
            (p.label, p.start, p.end) for p in default_periods(loaded.ir)]
        spec = loaded.ir.time
        whole = spec.n_steps * spec.dt
        say = (lambda done: err.print(f"  scored {done:,} of {runs:,} runs", highlight=False)) if err.is_terminal else None
        ds = loaded.loops(scenario=scenario, runs=runs, seed=seed, deterministic=deterministic, backend=backend,
                          mode=mode, save_every=whole, periods=spans, progress=say)
        interval = Interval()
        rows = period_rows(ds, interval)
        evidence = evidence_of(loaded)
    if fmt == "json":
        text = json.dumps(to_json(ds, _top(rows, top), evidence, interval), indent=2) + "\n"
    elif fmt == "csv":
        text = _csv(rows)
    else:
        text = _table(loaded.ir, ds, _top(rows, top), evidence, interval)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _parse_period(ir, text: str) -> tuple[str, float, float]:  # type: ignore[no-untyped-def]
    """``LABEL=START..END``, each bound a date (calendar models) or a model time."""
    label, sep, span = text.partition("=")
    start, sep2, end = span.partition("..")
    if not (sep and sep2 and label.strip()):
        raise UsageError(f"--period takes LABEL=START..END (e.g. 2019=2019-01-01..2020-01-01 or early=0..10), not {text!r}")
    return label.strip(), _when(ir, start.strip(), text), _when(ir, end.strip(), text)


def _when(ir, value: str, text: str) -> float:  # type: ignore[no-untyped-def]
    try:
        return float(value)
    except ValueError:
        pass
    import datetime as dt

    try:
        return ir.time.to_time(dt.date.fromisoformat(value))
    except ValueError as error:
        raise UsageError(f"--period {text!r}: {value!r} is neither a model time nor a date of this model ({error})") from None


def _top(rows, top: int):  # type: ignore[no-untyped-def]
    """At most ``top`` loops per period and partition (the loops alone in theirs are kept apart)."""
    kept, seen = [], {}
    for row in rows:
        key = (row.period, row.partition)
        if row.alone:
            kept.append(row)
            continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= top:
            kept.append(row)
    return kept


def _fmt(x: float) -> str:
    return "  –  " if x != x else f"{x:+.2f}"


def _table(ir, ds, rows, evidence, interval) -> str:  # type: ignore[no-untyped-def]
    from policylab.results.loops.summary import evidence_along

    out = io.StringIO()
    attrs = ds.attrs
    budget = attrs["loop_budget"]
    out.write(f"{attrs.get('model', '')}: dominant feedback loops, scenario {attrs.get('scenario') or '(as written)'}, "
              f"{ds.sizes['run']:,} runs, seed {attrs.get('seed', 0)}\n")
    out.write(textwrap.fill(
        f"Loop set: {attrs['loop_mode']} ({budget}{'; the exhaustive budget was hit' if attrs['loops_truncated'] else ''}); "
        f"{ds.sizes['loop']} loops scored in {len(set(ds.partition.values.tolist()))} cycle partition(s). "
        f"'dominant' = share of runs in which the loop has the largest |mean relative loop score| of its partition "
        f"over the period; score = {interval.label}; + reinforcing, - balancing.", WIDTH) + "\n")
    periods = list(dict.fromkeys(r.period for r in rows))
    id_width = min(max([len(r.loop) for r in rows] + [4]), 52)
    shown: dict[str, str] = {}
    for p in periods:
        k = list(ds.period.values).index(p)
        dates = _span(ir, float(ds.period_start.values[k]), float(ds.period_end.values[k]))
        out.write(f"\n{p}{dates}\n")
        out.write(f"  {'loop':<{id_width}} {'dominant':>8}  {'score':>5} [{interval.band}]\n")
        part = None
        lonely = []
        for r in [r for r in rows if r.period == p]:
            if r.alone:
                lonely.append(r)
                continue
            if r.partition != part:
                part = r.partition
                out.write(f"  partition {part}\n")
            out.write(f"  {r.loop[:id_width]:<{id_width}} {r.dominant_share:>8.0%}  {_fmt(r.median)} "
                      f"[{_fmt(r.low)}, {_fmt(r.high)}]\n")
            shown[r.loop] = r.members
        for r in lonely:
            out.write(f"  {r.loop[:id_width]:<{id_width}} {'alone':>8}  {_fmt(r.median)} (alone in its partition)\n")
            shown[r.loop] = r.members
    out.write("\nLoops shown\n")
    for loop, members in shown.items():
        out.write(textwrap.fill(f"{loop}: {members}", WIDTH, initial_indent="  ", subsequent_indent="      ") + "\n")
        for ev in evidence_along(evidence, members):
            quote = ev["quote"] if ev["kind"] == "source" else f"assumption: {ev['quote']}"
            source = f" ({ev['source']})" if ev["source"] else ""
            out.write(textwrap.fill(f"{ev['from']} -> {ev['to']} ({ev['sign']}): \"{quote}\"{source}", WIDTH,
                                    initial_indent="      ", subsequent_indent="        ") + "\n")
    return out.getvalue()


def _span(ir, start: float, end: float) -> str:  # type: ignore[no-untyped-def]
    """A period's bounds: dates for calendar models (the end exclusive), else model times."""
    spec = ir.time
    if spec.calendar_start is None or spec.days_per_unit is None:
        return f" (t {start:g} to {end:g})"
    import datetime as dt

    def day(t: float) -> str:
        return (spec.calendar_start + dt.timedelta(days=(t - spec.start) * spec.days_per_unit)).isoformat()

    return f" ({day(start)} to {day(end)}, end excluded)"


def _csv(rows) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["period", "loop", "polarity", "partition", "alone", "dominant_share", "median", "low", "high",
                     "members"])
    for r in rows:
        writer.writerow([r.period, r.loop, r.polarity, r.partition, int(r.alone),
                         "" if r.dominant_share != r.dominant_share else f"{r.dominant_share:.6g}",
                         *("" if x != x else f"{x:.6g}" for x in (r.median, r.low, r.high)), r.members])
    return buffer.getvalue()
