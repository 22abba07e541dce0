"""The house style of every PolicyLab figure: one Plotly template and one colour per scenario.

The report, the analyses' ``--plot`` files and the dashboard (which repeats these colours
in its JavaScript) use it, so a scenario has the same colour everywhere.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

SCENARIO_COLOURS = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#17869e", "#6c757d", "#a0522d")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
EVENT_LINE = {"color": "rgba(90,90,90,0.35)", "width": 1, "dash": "dot"}
THEME = go.layout.Template(pio.templates["simple_white"], layout={
    "font": {"family": FONT, "size": 12, "color": "#222"}, "colorway": list(SCENARIO_COLOURS),
    "shapedefaults": {"type": "line", "y0": 0, "y1": 1, "line": EVENT_LINE, "layer": "below"}})
"""The one Plotly template: simple_white, the house font and colours, and the event lines' style as every
shape's default (a fan chart draws ~150 of them); the report writes it once, not per figure."""


def colour(index: int) -> str:
    """The colour of the ``index``-th scenario."""
    return SCENARIO_COLOURS[index % len(SCENARIO_COLOURS)]
