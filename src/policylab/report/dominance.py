"""The loop-dominance chart: which loops drive each stretch of the behaviour, over an ensemble.

Top panel, stacked: the share of runs in which each charted loop has the largest |relative
loop score| of its cycle partition at each saved time (the rest of the partition as one grey
band). Bottom panel: each loop's relative score, its median over the runs and the band of the
interval convention (+ reinforcing, − balancing). Each trace carries its loop's identifier
(``legendgroup``) so a click in the report or the dashboard can show that loop in the diagram.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from policylab.report.figures import FONT, THEME, _rgba
from policylab.results.intervals import Interval
from policylab.results.loops.summary import DominanceSeries, dominance_over_time

LOOP_COLOURS = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#17869e", "#a0522d", "#6c757d")
OTHER = "#c8cdd3"
CHART_POINTS = 260  # saved times a report's loop analysis keeps (each the mean over the steps it spans)


def chart_save_every(ir) -> float:  # type: ignore[no-untyped-def]
    """A multiple of dt giving about ``CHART_POINTS`` saved times over the run (means over the steps between)."""
    spec = ir.time
    return max(round(spec.n_steps / CHART_POINTS), 1) * spec.dt


def _x(series: DominanceSeries) -> list[object]:
    if series.dates is not None:
        return [str(np.datetime_as_string(d, unit="D")) if isinstance(d, np.datetime64) else
                (d.isoformat() if isinstance(d, dt.date) else str(d)) for d in series.dates]
    return [float(t) for t in series.times]


def _list(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]


def dominance_figure(ds: xr.Dataset, interval: Interval = Interval()) -> tuple[go.Figure, DominanceSeries]:
    """The stacked dominance shares and the relative scores with their bands, for the most often dominant loops."""
    series = dominance_over_time(ds, interval)
    x = _x(series)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.5, 0.5],
                           subplot_titles=("share of runs in which the loop dominates its partition (stacked)",
                                           f"relative loop score: {interval.label}"))
    for k, loop in enumerate(series.loops):
        c = LOOP_COLOURS[k % len(LOOP_COLOURS)]
        figure.add_trace(go.Scatter(x=x, y=_list(series.share[k]), name=loop, legendgroup=loop, mode="lines",
                                    stackgroup="share", line={"width": 0.6, "color": c}, fillcolor=_rgba(c, 0.55),
                                    hovertemplate="%{y:.0%} of runs<extra>" + loop + "</extra>"), row=1, col=1)
    if series.partition_loops > len(series.loops):
        figure.add_trace(go.Scatter(x=x, y=_list(series.other), name=f"{series.partition_loops - len(series.loops)} other loops",
                                    mode="lines", stackgroup="share", line={"width": 0.4, "color": OTHER},
                                    fillcolor=_rgba(OTHER, 0.7), hovertemplate="%{y:.0%} of runs<extra>other loops</extra>"),
                         row=1, col=1)
    for k, loop in enumerate(series.loops):
        c = LOOP_COLOURS[k % len(LOOP_COLOURS)]
        low, median, high = (series.quantiles[q, k] for q in range(3))
        figure.add_trace(go.Scatter(x=x, y=_list(high), legendgroup=loop, showlegend=False, mode="lines",
                                    line={"width": 0}, hoverinfo="skip"), row=2, col=1)
        figure.add_trace(go.Scatter(x=x, y=_list(low), legendgroup=loop, showlegend=False, mode="lines",
                                    line={"width": 0}, fill="tonexty", fillcolor=_rgba(c, 0.14), hoverinfo="skip"), row=2, col=1)
        figure.add_trace(go.Scatter(x=x, y=_list(median), legendgroup=loop, showlegend=False, mode="lines",
                                    line={"width": 1.6, "color": c},
                                    hovertemplate="%{y:+.2f}<extra>" + loop + "</extra>"), row=2, col=1)
    figure.update_layout(
        font={"family": FONT, "size": 12, "color": "#222"}, template=THEME, height=560,
        margin={"l": 64, "r": 24, "t": 40, "b": 40}, hovermode="closest", paper_bgcolor="white", plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.08, "x": 0, "font": {"size": 11}, "groupclick": "togglegroup"},
    )
    figure.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    figure.update_yaxes(zeroline=True, zerolinecolor="#888", row=2, col=1)
    figure.update_annotations(font_size=12, x=0, xanchor="left")
    return figure, series
