"""Plotly figures of the analyses, written as self-contained HTML files.

Each function takes an analysis result and returns a ``plotly.graph_objects.Figure``;
``write_html`` saves one. Every figure uses the house template (``results.style.THEME``)
and gives each scenario its colour. plotly.js is written once per folder, next to the
figures (``plotly.min.js``): the files open offline, and ten plots do not carry ten 4.8 MB
copies of the library.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from policylab.analysis.prim import BoxSearch
from policylab.errors import UsageError
from policylab.results.style import THEME, colour

TOP_PARAMETERS = 8


def write_html(figure: go.Figure, path: str | Path) -> Path:
    """Save ``figure`` as a self-contained HTML file (the only format: no browser engine needed)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"plots are written as HTML; give a path ending in .html, not {path.name!r}")
    figure.update_layout(template=THEME)
    figure.write_html(path, include_plotlyjs="directory", full_html=True)  # plotly.min.js beside it, once per folder
    return path


def sobol_figure(indices: xr.Dataset) -> go.Figure:
    """First-order and total indices with confidence intervals, one panel per outcome."""
    outcomes = [str(o) for o in indices["outcome"].values]
    figure = make_subplots(rows=len(outcomes), cols=1, subplot_titles=outcomes, shared_xaxes=False)
    for row, outcome in enumerate(outcomes, start=1):
        cell = indices.sel(outcome=outcome)
        order = np.argsort(-np.nan_to_num(cell["ST"].values))
        names = [str(p) for p in cell["parameter"].values[order]]
        for key, colour in (("S1", "#4c78a8"), ("ST", "#f58518")):
            figure.add_trace(go.Bar(x=names, y=cell[key].values[order], name=key, marker_color=colour, showlegend=row == 1,
                                    error_y={"type": "data", "array": cell[f"{key}_conf"].values[order]}), row=row, col=1)
    figure.update_layout(barmode="group", title=f"{indices.attrs.get('model', '')}: Sobol indices "
                         f"({indices.attrs.get('runs', '?')} runs)", height=320 * len(outcomes) + 80, template=THEME)
    return figure


def sobol_time_figure(indices: xr.Dataset, key: str = "ST") -> go.Figure:
    """An index over time for the parameters with the largest peak index, with the variable's spread."""
    axis = indices["date"].values if "date" in indices.coords else indices["time"].values
    peak = np.nan_to_num(indices[key].values).max(axis=0)
    top = np.argsort(-peak)[:TOP_PARAMETERS]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                           subplot_titles=(f"{key} of {indices.attrs.get('variable', '')}", "standard deviation across the design"))
    for j in top:
        name = str(indices["parameter"].values[j])
        figure.add_trace(go.Scatter(x=axis, y=indices[key].values[:, j], mode="lines", name=name), row=1, col=1)
    figure.add_trace(go.Scatter(x=axis, y=np.sqrt(indices["variance"].values), mode="lines", name="std",
                                line={"color": "grey"}, showlegend=False), row=2, col=1)
    figure.update_yaxes(range=[0, 1.05], row=1, col=1)
    figure.update_layout(title=f"{indices.attrs.get('model', '')}: time-varying Sobol indices", height=640, template=THEME)
    return figure


def trajectory_figure(search: BoxSearch, title: str = "") -> go.Figure:
    """PRIM's peeling trajectory: coverage against density, coloured by restricted parameters."""
    t = search.trajectory
    figure = go.Figure(go.Scatter(x=t["coverage"], y=t["density"], mode="markers+lines",
                                  marker={"color": t["restricted"], "colorscale": "Viridis", "showscale": True,
                                          "colorbar": {"title": "restricted"}},
                                  text=[f"step {i}: mass {m:.3f}" for i, m in enumerate(t["mass"])], name="peeling"))
    figure.add_trace(go.Scatter(x=[search.box.coverage], y=[search.box.density], mode="markers", name="chosen box (pasted)",
                                marker={"symbol": "star", "size": 16, "color": "crimson"}))
    figure.update_layout(title=title or "PRIM peeling trajectory", xaxis_title="coverage", yaxis_title="density",
                         xaxis_range=[0, 1.02], yaxis_range=[0, 1.02], template=THEME)
    return figure


def robustness_figure(result: xr.Dataset) -> go.Figure:
    """Outcome distributions per scenario (box plots with thresholds) and satisficing shares; a colour per scenario."""
    outcomes = [str(o) for o in result["outcome"].values]
    scenarios = [str(s) for s in result["scenario"].values]
    has_shares = result.sizes.get("condition", 0) > 0
    rows = len(outcomes) + int(has_shares)
    titles = outcomes + (["satisficing share"] if has_shares else [])
    figure = make_subplots(rows=rows, cols=1, subplot_titles=titles)
    for row, outcome in enumerate(outcomes, start=1):
        for i, scenario in enumerate(scenarios):
            figure.add_trace(go.Box(y=result["value"].sel(outcome=outcome, scenario=scenario).values, name=scenario,
                                    boxpoints=False, showlegend=False, marker_color=colour(i), line_color=colour(i)),
                             row=row, col=1)
        for label in result["condition"].values if has_shares else []:
            text = str(label)
            if text != "all" and text.startswith(outcome):
                value = float(text[len(outcome):].lstrip("<>="))
                figure.add_hline(y=value, line_dash="dash", line_color="crimson", annotation_text=text, row=row, col=1)
    if has_shares:
        patterns = ["", "/", ".", "x", "\\", "+", "-", "|"]
        for k, label in enumerate(result["condition"].values):  # bars in their scenario's colour; conditions by pattern
            figure.add_trace(go.Bar(x=scenarios, y=result["satisficing"].sel(condition=label).values, name=str(label),
                                    marker={"color": [colour(i) for i in range(len(scenarios))],
                                            "pattern": {"shape": patterns[k % len(patterns)]}}),
                             row=rows, col=1)
        figure.update_yaxes(range=[0, 1], row=rows, col=1)
    figure.update_layout(title=f"{result.attrs.get('model', '')}: {result.attrs.get('runs', '?')} runs per scenario "
                         "(common random numbers)", height=300 * rows + 80, barmode="group", template=THEME)
    return figure


def calibration_figure(table: pd.DataFrame, trajectories: dict[str, pd.DataFrame], title: str = "") -> go.Figure:
    """Observed points against the fitted model, one panel per series.

    ``trajectories`` maps a series name to a frame with columns ``x`` and ``y`` (the fitted
    run over the model's time, already offset for baselines).
    """
    names = list(dict.fromkeys(table["series"]))
    figure = make_subplots(rows=len(names), cols=1, subplot_titles=names)
    for row, name in enumerate(names, start=1):
        rows = table[table["series"] == name]
        if name in trajectories:
            line = trajectories[name]
            figure.add_trace(go.Scatter(x=line["x"], y=line["y"], mode="lines", name="fitted", line={"color": "#4c78a8"},
                                        showlegend=row == 1), row=row, col=1)
        figure.add_trace(go.Scatter(x=rows["x"] if "x" in rows else rows["time"], y=rows["observed"], mode="markers",
                                    name="observed", marker={"color": "crimson"}, showlegend=row == 1), row=row, col=1)
    figure.update_layout(title=title or "calibration: observed and fitted", height=280 * len(names) + 80, template=THEME)
    return figure
