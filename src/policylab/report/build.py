"""The HTML report: one self-contained file an analyst can hand to a colleague.

``build_report`` runs each scenario as an ensemble (or takes results already computed),
and assembles fan charts, the scenario-comparison table, the causal-loop diagram, the
evidence table, exploration findings (sensitivity, PRIM boxes) when given, and the model
card into one HTML page with plotly.js embedded — it opens from disk with no network.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import jinja2
import plotly.graph_objects as go
import xarray as xr
from plotly.offline import get_plotlyjs

from policylab.api import Model, __version__
from policylab.compile.causal import CausalGraph, causal_graph
from policylab.model.evidence import check_quotes
from policylab.model.ir import Constant, Lever
from policylab.report.card import model_card_html, render_markdown
from policylab.report.fan import (
    event_marks,
    fan,
    format_x,
    key_variables,
    model_x,
    policy_date,
    thinned_index,
    x_axis,
)
from policylab.report.structure import structure
from policylab.report.figures import bars_figure, box_figure, colour, fan_panels, figure_json, human_label, theme_json
from policylab.results.outcomes import needed_variables
from policylab.results.intervals import Interval
from policylab.results.text import DIMENSIONLESS
from policylab.results.tables import comparison_table, default_rows, number, percent

DEFAULT_RUNS = 200


@dataclass(frozen=True)
class SensitivityPanel:
    """Bars for one outcome: one value per parameter (e.g. a total Sobol index or a rank correlation)."""

    outcome: str
    method: str
    values: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Confidence interval per parameter, when the method has one; bars whose interval holds 0 are greyed."""


@dataclass(frozen=True)
class BoxPanel:
    """A PRIM box for one condition: limits per restricted parameter and the box's statistics."""

    condition: str
    limits: dict[str, tuple[float, float]]
    ranges: dict[str, tuple[float, float]]
    coverage: float
    density: float
    mass: float
    quasi_p: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Findings:
    """What a stored exploration adds to a report."""

    run_id: str
    runs: int
    sensitivity: tuple[SensitivityPanel, ...] = ()
    boxes: tuple[BoxPanel, ...] = ()
    notes: tuple[str, ...] = ()


def run_scenarios(model: Model, scenarios: Sequence[str] | None, runs: int, seed: int,
                  progress: Callable[[str], None] | None = None, backend: str = "auto") -> dict[str, xr.Dataset]:
    """Each scenario as an ensemble saving the key variables (common random numbers across scenarios).

    ``backend`` is ``Model.run``'s (default ``auto``: numba when installed).
    """
    ir = model.ir
    chosen = list(scenarios) if scenarios else (list(ir.scenarios) or [None])
    save = list(dict.fromkeys(key_variables(ir) + needed_variables(ir)))
    results = {}
    for name in chosen:
        if progress is not None:
            progress(name or ir.name)
        results[name or ir.name] = model.run(name, runs=runs, seed=seed, variables=save,
                                             backend=backend)  # type: ignore[arg-type]
    return results


REPORT_POINTS = 300
"""Times a report's fan chart shows at most (about one a pixel of its ~300-pixel panels; the dashboard shows up to 600)."""
REPORT_SIGNIFICANT = 3
"""Digits a report's fan chart keeps: the project's 3 significant figures, what its hover shows (``%{y:.3g}``)."""


def scenario_colours(model: Model, results: Mapping[str, object]) -> dict[str, str]:
    """Each scenario's colour by its place in the model (as the dashboard colours it), the same in every figure."""
    order = list(model.ir.scenarios)
    return {s: colour(order.index(s) if s in order else len(order) + i) for i, s in enumerate(results)}


def _fan_figures(model: Model, results: Mapping[str, xr.Dataset]) -> list[dict[str, str]]:
    ir = model.ir
    first = next(iter(results.values()))
    index = thinned_index(first.sizes["time"], REPORT_POINTS)
    x = x_axis(ir, first, index)
    events = event_marks(ir)
    policies = {s: d for s in results if (d := policy_date(ir, s)) is not None}
    charts = []
    for name in key_variables(ir):
        var = ir.variables[name]
        fans = {scenario: fan(ds, name, index, significant=REPORT_SIGNIFICANT) for scenario, ds in results.items()}
        units = "" if var.units in DIMENSIONLESS else var.units
        label = human_label(ir.display_name(name))
        figure = fan_panels(label + (f" ({units})" if units else ""), units, x, fans, events, policies,
                            colours=scenario_colours(model, results))
        charts.append({"name": ir.display_name(name), "label": label, "doc": var.doc, "units": units,
                       "json": figure_json(figure)})
    return charts


def report_loops(model: Model, scenario: str | None, runs: int, seed: int, backend: str = "auto") -> xr.Dataset | None:
    """The loop analysis the dominance chart draws (one scenario, the report's ensemble); None without feedback."""
    from policylab.report.dominance import chart_save_every
    from policylab.results.loops.ensemble import NoLoopsError

    try:
        return model.loops(scenario=scenario, runs=runs, seed=seed, backend=backend,  # type: ignore[arg-type]
                           save_every=chart_save_every(model.ir))
    except NoLoopsError:
        return None


def _evidence_rows(model: Model, graph: CausalGraph, sources: Sequence[str]) -> list[dict[str, object]]:
    ir = model.ir
    status = {(r.from_, r.variable): r.status for r in check_quotes(ir, list(sources))}
    rows = []
    for link in graph.links:
        for ev in link.evidence:
            source = ir.sources.get(ev.source)
            rows.append({
                "source_var": ir.display_name(link.source), "target_var": ir.display_name(link.target),
                "sign": ev.sign, "kind": ev.kind, "quote": ev.quote, "reason": ev.reason,
                "source": source.title if source else ev.source, "publisher": source.publisher if source else "",
                "date": source.date if source else "", "url": source.url if source else "",
                "status": status.get((link.source, link.target), "") if ev.kind == "source" else "assumption",
            })
    return rows


def _comparison(model: Model, results: Mapping[str, xr.Dataset], runs: int) -> list[dict[str, object]]:
    """Rows of the comparison table; each cell: the median, the 10–90 % range, the share reaching a threshold."""
    ir = model.ir
    table = comparison_table(ir, dict(results), default_rows(ir, None))
    rows = []
    for row in table:
        cells = []
        for scenario in results:
            cell = row["values"][scenario]
            cells.append(_report_cell(row, cell, runs))
        rows.append({"name": row["label"], "units": DIMENSIONLESS.get(row["units"].lower(), row["units"]), "doc": row["doc"],
                     "threshold": row["threshold"] if not row["probability"] else "", "cells": cells})
    return rows


def _report_cell(row: dict[str, object], cell: dict[str, object], runs: int) -> dict[str, str]:
    """One cell's texts under the interval convention: the central figure, its interval, notes."""
    if row["probability"]:
        if runs == 1:
            return {"median": number(cell["share"]), "range": "", "share": ""}  # type: ignore[arg-type]
        return {"median": percent(cell["share"]), "range": f"{percent(cell['low'])} – {percent(cell['high'])}",  # type: ignore[arg-type]
                "share": ""}
    notes = []
    if "share_at_least_threshold" in cell:
        notes.append(f"{percent(cell['share_at_least_threshold'])} of runs ≥ threshold")  # type: ignore[arg-type]
    if "bimodal" in cell:
        b = cell["bimodal"]
        notes.append(f"bimodal: {percent(b['share_below'])} below {number(b['split'])}, "  # type: ignore[index]
                     f"{percent(b['share_above'])} above")  # type: ignore[index]
    return {"median": number(cell["median"]), "range": f"{number(cell['low'])} – {number(cell['high'])}" if runs > 1 else "",  # type: ignore[arg-type]
            "share": "; ".join(notes)}


def _parameters(model: Model) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    ir = model.ir
    judgements = [{"name": ir.display_name(n), "value": v.value, "range": v.range, "units": v.units, "doc": v.doc,
                   "basis": v.basis} for n, v in ir.of_kind(Constant).items() if v.judgement]  # type: ignore[union-attr]
    levers = []
    for name, lever in ir.of_kind(Lever).items():
        path = ""
        if lever.schedule is not None:  # type: ignore[union-attr]
            path = ", ".join(f"{format_x(model_x(ir, t))}: {v:g}" for t, v in zip(lever.schedule.times, lever.schedule.values))  # type: ignore[union-attr]
        levers.append({"name": ir.display_name(name), "baseline": lever.baseline, "range": lever.range,  # type: ignore[union-attr]
                       "units": lever.units, "doc": lever.doc, "path": path})
    return judgements, levers


def _findings_figures(findings: Findings | None) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    if findings is None:
        return [], []
    import pandas as pd

    bars = []
    for panel in findings.sensitivity:
        frame = pd.DataFrame({"parameter": list(panel.values), "value": list(panel.values.values())})
        if panel.intervals:
            frame["low"] = [panel.intervals[p][0] for p in panel.values]
            frame["high"] = [panel.intervals[p][1] for p in panel.values]
        figure = bars_figure(frame, f"{panel.outcome}: {panel.method}", panel.method)
        bars.append({"name": panel.outcome, "method": panel.method, "json": figure_json(figure)})
    boxes = []
    for panel in findings.boxes:
        figure = box_figure(panel.limits, panel.ranges, f"PRIM box: {panel.condition}")
        boxes.append({"condition": panel.condition, "coverage": panel.coverage, "density": panel.density,
                      "mass": panel.mass, "limits": panel.limits, "quasi_p": panel.quasi_p, "json": figure_json(figure)})
    return bars, boxes


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    text = resources.files("policylab.report").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def render_report(model: Model, results: Mapping[str, xr.Dataset], *, sources: Sequence[str] = (),
                  findings: Findings | None = None, include_constants: bool = False,
                  validation: object | None = None, loops: xr.Dataset | None = None) -> str:
    """The report as one HTML string, from ensembles already simulated (one Dataset per scenario).

    ``validation`` (a ``policylab.validation.ValidationReport``) adds the Validation section;
    ``loops`` (``Model.loops``, e.g. from ``report_loops``) the loop-dominance chart.
    """
    ir = model.ir
    first = next(iter(results.values()))
    runs = int(first.sizes["run"])
    graph = causal_graph(model, include_constants=include_constants)
    judgements, levers = _parameters(model)
    bars, boxes = _findings_figures(findings)
    colours = scenario_colours(model, results)
    scenarios = [{"name": s, "colour": colours[s], "doc": ir.scenarios[s].doc if s in ir.scenarios else "",
                  "policy": format_x(d) if (d := policy_date(ir, s)) is not None else ""}
                 for s in results]
    context = {
        "model": ir, "title": ir.name, "doc_html": render_markdown(ir.doc) if ir.doc else "", "version": __version__,
        "generated": dt.datetime.now().strftime("%-d %B %Y, %H:%M"),
        "runs": runs, "seed": int(first.attrs.get("seed", 0)), "scenarios": scenarios,
        "period": f"{format_x(x_axis(ir, first)[0])} – {format_x(x_axis(ir, first)[-1])}",
        "comparison": _comparison(model, results, runs), "charts": _fan_figures(model, results),
        "events": [{"name": m.name, "when": format_x(m.x), "doc": m.doc} for m in event_marks(ir)],
        **structure(model, graph, loops), "loops": graph.loops, "links": len(graph.links),
        "evidence": _evidence_rows(model, graph, sources), "judgements": judgements, "levers": levers,
        "findings": findings, "bars": bars, "boxes": boxes, "card": model_card_html(ir),
        "plotly_js": get_plotlyjs().replace("</script", "<\\/script"), "theme_json": theme_json(),
        "interval_coverage": f"{Interval().coverage:.0%}".replace("%", " %"), "interval_band": Interval().band,
        "interval_share_label": Interval().share_label,
        "validation": _validation_rows(validation),
    }
    return _template().render(**context)


def build_report(model: Model, scenarios: Sequence[str] | None = None, runs: int = DEFAULT_RUNS, seed: int = 0,
                 sources: Sequence[str] = (), findings: Findings | None = None,
                 progress: Callable[[str], None] | None = None, backend: str = "auto") -> str:
    """Simulate the scenarios (default: all) as ``runs``-member ensembles and render the report.

    A model with a ``checks:`` section also gets its Validation section: the written checks
    (holdouts aside, which calibrate) and units, over ``runs``-member ensembles.
    """
    results = run_scenarios(model, scenarios, runs, seed, progress, backend)
    first = next(iter(results))
    if progress is not None:
        progress(f"loop analysis of {first}")
    loops = report_loops(model, first if first in model.ir.scenarios else None, runs, seed, backend)
    return render_report(model, results, sources=sources, findings=findings,
                         validation=report_validation(model, runs, seed, backend, progress), loops=loops)


REPORT_CHECK_KINDS = ("behaviour", "data", "reality", "lever_response", "units")
"""Kinds the report runs (holdouts calibrate, and the extreme and integration sweeps take longer:
``policylab validate`` runs those)."""


def report_validation(model: Model, runs: int, seed: int, backend: str,
                      progress: Callable[[str], None] | None = None) -> object | None:
    """The report's validation: ``None`` for a model without checks."""
    if not model.ir.checks:
        return None
    from policylab.validation import validate

    if progress is not None:
        progress("validation checks")
    return validate(model, kinds=REPORT_CHECK_KINDS, runs=runs, seed=seed, backend=backend)  # type: ignore[arg-type]


def _validation_rows(validation: object | None) -> dict[str, object] | None:
    """The Validation section's table: one row per check, and the failures' details."""
    if validation is None:
        return None
    rows = []
    for result in validation.results:  # type: ignore[attr-defined]
        row = result.row()
        rows.append({**row, "doc": result.doc, "passed": result.passed, "detail": result.detail,
                     "command": result.counter_example.command if result.counter_example and not result.passed else ""})
    return {"rows": rows, "runs": validation.runs, "seed": validation.seed,  # type: ignore[attr-defined]
            "passed": sum(r["passed"] for r in rows), "failed": sum(not r["passed"] for r in rows)}
