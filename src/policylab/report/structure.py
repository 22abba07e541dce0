"""The report's causal structure: readable diagram views and, from a loop analysis, the loop-dominance chart.

The section opens on a readable view — the loops that dominate most often when the loop
analysis ran, else the largest sector, else the stock-and-flow core — and every other view
(each sector, the core, each charted loop with its neighbours, the whole graph) is one click away.
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from policylab.compile.causal import CausalGraph, Loop
from policylab.report.diagram import DiagramError, view_svg
from policylab.report.dominance import dominance_figure
from policylab.report.figures import figure_json
from policylab.report.views import View, readable_views, view_of
from policylab.results.intervals import Interval

DOMINANT_IN_VIEW = 3  # loops the opening "dominant loops" view draws


@dataclass(frozen=True)
class DrawnView:
    """One view as the page holds it: its key, button label, caption, SVG and whether it has a button."""

    key: str
    name: str
    caption: str
    svg: str
    button: bool = True
    loops: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """Which row of buttons: loops, sectors, or the overviews (core, whole graph)."""
        return {"loop": "loops", "loops": "loops", "sector": "sectors"}.get(self.key.partition(":")[0], "overview")


def analysed_loops(ds: xr.Dataset) -> list[Loop]:
    """The loops a loop analysis scored, as diagram loops (some are longer than the diagram's own list)."""
    return [Loop(str(i), tuple(str(m).split(" -> ")[:-1]), str(p))
            for i, m, p in zip(ds.loop.values, ds.members.values, ds.polarity.values)]


def _drawn(view: View, name: str, model_name: str, button: bool = True) -> DrawnView:
    return DrawnView(view.key, name, f"{model_name}: {view.title}", view_svg(view, name), button,
                     tuple(loop.label for loop in view.loops))


def structure(model, graph: CausalGraph, loops: xr.Dataset | None,  # type: ignore[no-untyped-def]
              interval: Interval = Interval()) -> dict[str, object]:
    """The views (the first is the one the page opens on) and the dominance chart, for the template."""
    ir = model.ir
    chart = None
    views: list[DrawnView] = []
    try:
        if loops is not None:
            figure, series = dominance_figure(loops, interval)
            known = analysed_loops(loops)
            top = list(series.loops[:DOMINANT_IN_VIEW])
            if top:
                views.append(_drawn(view_of(graph, ir, "loops:" + ",".join(top), known), "dominant loops", ir.name))
            for loop in series.loops:
                views.append(_drawn(view_of(graph, ir, f"loop:{loop}", known), loop, ir.name, button=False))
            chart = {
                "json": figure_json(figure), "scenario": loops.attrs.get("scenario") or ir.name,
                "runs": int(loops.sizes["run"]), "mode": loops.attrs.get("loop_mode", ""),
                "scored": int(loops.sizes["loop"]), "partition_loops": series.partition_loops,
                "loops": [{"id": i, "polarity": p, "members": m.split(" -> ")}
                          for i, p, m in zip(series.loops, series.polarity, series.members)],
            }
        for view in readable_views(graph, ir):
            views.append(_drawn(view, view.name, ir.name))
    except DiagramError:
        return {"views": [], "dominance": chart}
    return {"views": views, "dominance": chart}
