"""Plotly figures for the report: fan charts per outcome variable, sensitivity bars, PRIM boxes.

Every figure uses one quiet house style (white background, light grid, the same colour
per scenario everywhere) so a report reads as one document. The dashboard draws the
same fan charts in the browser from the same band names (``low``, ``median``, ``high``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from policylab.report.fan import EventMark, Fan, format_x
from policylab.results.style import EVENT_LINE, FONT, SCENARIO_COLOURS, THEME, colour  # noqa: F401 (re-exported)

BAND = 0.2


@lru_cache(maxsize=1)
def _theme() -> dict[str, object]:
    return THEME.to_plotly_json()  # type: ignore[no-any-return]


def figure_json(figure: go.Figure) -> str:
    """The figure as JSON with the house template, an x shared by its traces and a repeated y written once.

    The page restores them (``theme``, ``x``, ``ysame``: the index of the trace with the same y).

    A fan chart's ~27 traces share one axis of ~400 dates, and Plotly writes its template
    (60 kB) into every figure: written out each time they were most of the report's weight.
    """
    spec = figure.to_plotly_json()
    layout = spec["layout"]
    if layout.get("template") == _theme():
        layout["template"] = None
        spec["theme"] = True
    xs = [trace.get("x") for trace in spec["data"]]
    if len(xs) > 1 and xs[0] is not None and all(x is not None and list(x) == list(xs[0]) for x in xs):
        spec["x"] = xs[0]
        for trace in spec["data"]:
            del trace["x"]
    seen: dict[tuple[object, ...], int] = {}
    for i, trace in enumerate(spec["data"]):  # a repeated series (the reference median in every panel) once
        y = trace.get("y")
        if y is None or len(y) < 2:
            continue
        key = tuple(y)
        if key in seen:
            del trace["y"]
            trace["ysame"] = seen[key]
        else:
            seen[key] = i
    return pio.json.to_json_plotly(spec).replace("</", "<\\/")


def theme_json() -> str:
    return pio.json.to_json_plotly(_theme()).replace("</", "<\\/")


def human_label(name: str) -> str:
    """A chart's heading for a variable: an identifier as words (``attacks_per_month`` -> "attacks per month").

    The case is kept as written (``us_iran_tension`` must not become "Us iran tension").
    """
    return name if " " in name else " ".join(name.replace("_", " ").split()) or name


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(title: str, height: int) -> dict[str, object]:
    return {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": {"family": FONT, "size": 12, "color": "#222"},
        "template": THEME,
        "height": height,
        "margin": {"l": 64, "r": 24, "t": 56, "b": 48},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
    }


def fan_panels(title: str, y_title: str, x: Sequence[str] | Sequence[float], fans: Mapping[str, Fan],
               events: Sequence[EventMark] = (), policy_dates: Mapping[str, str | float] | None = None,
               columns: int = 3, colours: Mapping[str, str] | None = None) -> go.Figure:
    """Small multiples: one fan per scenario on shared axes, the first scenario's median repeated as a grey reference.

    ``colours`` gives each scenario its colour (default: by position), so a scenario keeps it in every figure.
    """
    names = list(fans)
    cols = max(1, min(columns, len(names)))
    rows = -(-len(names) // cols)
    figure = make_subplots(rows=rows, cols=cols, shared_xaxes="all", shared_yaxes="all", subplot_titles=names,
                           horizontal_spacing=0.04, vertical_spacing=0.12 if rows > 1 else 0.05)
    reference = names[0]
    policies = policy_dates or {}
    for i, name in enumerate(names):
        row, col = divmod(i, cols)
        c = (colours or {}).get(name) or colour(i)
        fan = fans[name]
        figure.add_trace(go.Scatter(x=list(x), y=fan.bands["high"], mode="lines", line={"width": 0}, showlegend=False,
                                    hoverinfo="skip"), row=row + 1, col=col + 1)
        figure.add_trace(go.Scatter(x=list(x), y=fan.bands["low"], mode="lines", line={"width": 0}, fill="tonexty",
                                    fillcolor=_rgba(c, BAND), showlegend=False, hoverinfo="skip"),
                         row=row + 1, col=col + 1)
        if name != reference:
            figure.add_trace(go.Scatter(x=list(x), y=fans[reference].bands["median"], mode="lines", showlegend=False,
                                        line={"width": 1.2, "color": "#888", "dash": "dot"},
                                        hovertemplate=f"{reference}: %{{y:.3g}}<extra></extra>"), row=row + 1, col=col + 1)
        figure.add_trace(go.Scatter(x=list(x), y=fan.bands["median"], mode="lines", line={"width": 2, "color": c}, name=name,
                                    showlegend=False, hovertemplate=f"{name}: %{{y:.3g}}<extra></extra>"),
                         row=row + 1, col=col + 1)
        axis = "" if i == 0 else str(i + 1)
        shapes, notes = _marks(events, {name: policies[name]} if name in policies else {}, axis, top=i == 0)
        for shape in shapes:
            figure.add_shape(shape)
        for note in notes:
            figure.add_annotation(note)
    layout = _layout(title, 90 + 230 * rows)
    layout["hovermode"] = "x"
    layout["margin"] = {"l": 64, "r": 16, "t": 76, "b": 36}
    figure.update_layout(**layout)
    figure.update_xaxes(showgrid=True, gridcolor="#eee")
    figure.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    figure.update_yaxes(title_text=y_title, col=1)
    for note in figure.layout.annotations:  # subplot titles to the left, clear of the event marks (▾)
        if note.text in names:
            axis = figure.layout[f"xaxis{'' if names.index(note.text) == 0 else names.index(note.text) + 1}"]
            note.update(x=axis.domain[0], xanchor="left", font={"size": 12, "color": "#333"})
    return figure


def _marks(events: Sequence[EventMark], policy_dates: Mapping[str, str | float], axis: str = "",
           top: bool = True) -> tuple[list[dict], list[dict]]:
    """Dotted lines (and ▾ with the event on hover) for events; dashed lines for policy dates; on axes x{axis}/y{axis}."""
    shapes: list[dict] = []
    notes: list[dict] = []
    xref, yref = f"x{axis}", f"y{axis} domain"
    for mark in events:
        shapes.append({"xref": xref, "yref": yref, "x0": mark.x, "x1": mark.x})  # a full-height line: THEME's default
        if top:
            notes.append({"x": mark.x, "xref": xref, "y": 1.0, "yref": yref, "yanchor": "bottom", "text": "▾",
                          "showarrow": False, "font": {"size": 11, "color": "#777"},
                          "hovertext": f"<b>{mark.name}</b> ({format_x(mark.x)})<br>{_wrap(mark.doc)}"})
    by_date: dict[str | float, list[str]] = {}
    for scenario, when in policy_dates.items():
        by_date.setdefault(when, []).append(scenario)
    for when, names in by_date.items():
        shapes.append({"type": "line", "xref": xref, "yref": yref, "x0": when, "x1": when, "y0": 0, "y1": 1,
                       "line": {"color": "rgba(31,95,168,0.55)", "width": 1.2, "dash": "dash"}, "layer": "above"})
        notes.append({"x": when, "xref": xref, "y": 0.98, "yref": yref, "xanchor": "left", "yanchor": "top",
                      "text": " policy from", "showarrow": False, "font": {"size": 10, "color": "#1f5fa8"},
                      "hovertext": f"policy from {format_x(when)}: {', '.join(names)}"})
    return shapes, notes


def _wrap(text: str, width: int = 70) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "<br>".join(lines[:6])


def bars_figure(frame: pd.DataFrame, title: str, x_title: str) -> go.Figure:
    """Horizontal bars of ``value`` per ``parameter``, largest on top (one panel of a sensitivity analysis)."""
    ordered = frame.sort_values("value", key=lambda s: s.abs())
    has_ci = {"low", "high"} <= set(ordered.columns)
    noise = (ordered["low"] <= 0) & (ordered["high"] >= 0) if has_ci else pd.Series(False, index=ordered.index)
    colours = ["#bbbbbb" if n else "#1f5fa8" if v >= 0 else "#c0392b" for v, n in zip(ordered["value"], noise)]
    error = ({"type": "data", "symmetric": False, "array": ordered["high"] - ordered["value"],
              "arrayminus": ordered["value"] - ordered["low"], "color": "#555", "thickness": 1} if has_ci else None)
    figure = go.Figure(go.Bar(x=ordered["value"], y=ordered["parameter"], orientation="h", marker_color=colours,
                              error_x=error, hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    layout = _layout(title, 120 + 22 * len(ordered))
    layout["xaxis"] = {"title": {"text": x_title}, "showgrid": True, "gridcolor": "#eee", "zeroline": True}
    layout["margin"] = {"l": 200, "r": 24, "t": 48, "b": 48}
    figure.update_layout(**layout)
    return figure


def box_figure(limits: Mapping[str, tuple[float, float]], ranges: Mapping[str, tuple[float, float]], title: str) -> go.Figure:
    """A PRIM box: each restricted parameter's interval drawn inside its full sampled range (0–100 %)."""
    names = list(limits)
    starts, widths, texts = [], [], []
    for name in names:
        low, high = limits[name]
        lo, hi = ranges.get(name, (low, high))
        span = (hi - lo) or 1.0
        starts.append(100 * (low - lo) / span)
        widths.append(100 * (high - low) / span)
        texts.append(f"{low:.4g} – {high:.4g} (of {lo:.4g} – {hi:.4g})")
    figure = go.Figure()
    figure.add_trace(go.Bar(y=names, x=[100] * len(names), orientation="h", marker_color="#eef2f7", hoverinfo="skip",
                            showlegend=False))
    figure.add_trace(go.Bar(y=names, x=widths, base=starts, orientation="h", marker_color="#d68910", text=texts,
                            textposition="inside", insidetextanchor="middle", showlegend=False,
                            hovertemplate="%{y}: %{text}<extra></extra>"))
    layout = _layout(title, 120 + 36 * len(names))
    layout["barmode"] = "overlay"
    layout["xaxis"] = {"title": {"text": "position in the sampled range (%)"}, "range": [0, 100], "showgrid": True,
                       "gridcolor": "#eee"}
    layout["margin"] = {"l": 200, "r": 24, "t": 48, "b": 48}
    figure.update_layout(**layout)
    return figure
