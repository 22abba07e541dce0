"""The models a server serves, loaded once at start, and what the API says about them.

Descriptions, causal graphs and diagrams are computed on first use and cached; a model
that fails to load at start is left out (and its error kept for the log), so one broken
file does not take the dashboard down.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from policylab.api import Model, load
from policylab.compile import resolve_inputs
from policylab.compile.causal import CausalGraph, causal_graph
from policylab.compile.desugar import is_hidden
from policylab.errors import PolicyLabError
from policylab.model.ir import Auxiliary, Constant, Event, Flow, Lever, Lookup, Stock
from policylab.report.diagram import DiagramError, render_svg, to_dot
from policylab.report.fan import key_variables, model_x
from policylab.report.sources import find_source_file, locate_quote, read_source
from policylab.server import schemas as s
from policylab.server.config import ServerConfig
from policylab.simulate import judgement_parameters

log = logging.getLogger("policylab.server")
VIEW_CACHE = 64  # readable views kept per model
KINDS = ((Stock, "stock"), (Flow, "flow"), (Auxiliary, "auxiliary"), (Constant, "constant"), (Lever, "lever"),
         (Event, "event"), (Lookup, "lookup"))


def _kind(var: object) -> str:
    return next((name for cls, name in KINDS if isinstance(var, cls)), "variable")


@dataclass
class Entry:
    """One served model and its caches."""

    id: str
    path: Path
    model: Model
    lock: threading.Lock = field(default_factory=threading.Lock)
    graph: CausalGraph | None = None
    svg: str | None = None
    views: dict[str, str] = field(default_factory=dict)  # view key -> SVG of the readable views drawn so far
    known_loops: dict[str, object] = field(default_factory=dict)  # loops a loop analysis scored, by identifier
    description: s.ModelDescription | None = None


class Catalogue:
    """The registered models, by id."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.entries: dict[str, Entry] = {}
        self.failures: dict[str, str] = {}
        for key, path in config.models.items():
            try:
                model = load(path)
                _ = model.compiled
            except (PolicyLabError, OSError) as error:
                self.failures[key] = str(error)
                log.warning("model %r (%s) is not served: %s", key, path, error)
                continue
            self.entries[key] = Entry(key, path, model)

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def summary(self, entry: Entry) -> s.ModelSummary:
        ir = entry.model.ir
        return s.ModelSummary(id=entry.id, name=ir.name, doc=ir.doc.strip(), scenarios=list(ir.scenarios),
                              default_scenario=ir.default_scenario, calendar=ir.time.calendar_start is not None)

    def graph(self, entry: Entry) -> CausalGraph:
        with entry.lock:
            if entry.graph is None:
                entry.graph = causal_graph(entry.model)
            return entry.graph

    def diagram(self, entry: Entry) -> str:
        """The causal-loop diagram as SVG, without Graphviz's loop legend (the dashboard lists the loops).

        Raises DiagramError without Graphviz.
        """
        graph = self.graph(entry)
        with entry.lock:
            if entry.svg is None:
                svg = render_svg(to_dot(replace(graph, loops=[]), f"{entry.model.name}: causal-loop diagram"))
                entry.svg = svg[svg.find("<svg"):]
            return entry.svg

    def view_svg(self, entry: Entry, key: str) -> str:
        """One readable view (``report.views.view_of``) as SVG; UsageError for an unknown view, DiagramError without Graphviz."""
        if key == "all":
            return self.diagram(entry)
        from policylab.report.diagram import view_svg
        from policylab.report.views import view_of

        graph = self.graph(entry)
        with entry.lock:
            if key not in entry.views:
                if len(entry.views) >= VIEW_CACHE:
                    entry.views.pop(next(iter(entry.views)))
                view = view_of(graph, entry.model.ir, key, entry.known_loops.values())  # type: ignore[arg-type]
                entry.views[key] = view_svg(view, view.name)
            return entry.views[key]

    def view_list(self, entry: Entry) -> list[s.DiagramView]:
        """The readable views a dashboard offers: each sector, the core, the whole graph."""
        from policylab.report.structure import DrawnView
        from policylab.report.views import readable_views

        graph = self.graph(entry)
        listed = []
        for view in readable_views(graph, entry.model.ir):
            group = DrawnView(view.key, view.name, "", "").group
            listed.append(s.DiagramView(key=view.key, name=view.name, group=group, caption=f"{entry.model.name}: {view.title}",
                                        nodes=len(view.graph.nodes)))
        return listed

    def describe(self, entry: Entry) -> s.ModelDescription:
        graph = self.graph(entry)
        with entry.lock:
            if entry.description is None:
                entry.description = self._describe(entry, graph)
            return entry.description

    def _describe(self, entry: Entry, graph: CausalGraph) -> s.ModelDescription:
        ir = entry.model.ir
        spec = ir.time
        cfg = self.config
        return s.ModelDescription(
            **self.summary(entry).model_dump(),
            time=s.TimeAxis(start=spec.start, stop=spec.stop, dt=spec.dt, save_every=spec.save_every, units=spec.units,
                            calendar_start=spec.calendar_start.isoformat() if spec.calendar_start else None,
                            n_steps=spec.n_steps, method=spec.method.value),
            variables=[s.VariableInfo(name=n, display=ir.display_name(n), kind=_kind(v), units=v.units, doc=v.doc)
                       for n, v in ir.variables.items() if not is_hidden(n)],
            levers=self._levers(entry),
            judgements=[s.JudgementInfo(name=n, display=ir.display_name(n), units=c.units, doc=c.doc, value=c.value,
                                        range=c.range, basis=c.basis, sector=c.sector)  # type: ignore[arg-type]
                        for n, c in judgement_parameters(ir).items()],
            scenario_details=[s.ScenarioInfo(name=n, doc=sc.doc.strip(), policy_from=sc.policy_from,
                                             policy_date=_date(model_x(ir, sc.policy_from)) if sc.policy_from is not None else None)
                              for n, sc in ir.scenarios.items()],
            events=[s.EventInfo(name=n, display=ir.display_name(n), doc=e.doc, x=[model_x(ir, t) for t in e.times])  # type: ignore[union-attr]
                    for n, e in ir.of_kind(Event).items()],
            outcomes=[s.OutcomeInfo(name=n, variable=o.variable, stat=o.stat, doc=o.doc) for n, o in ir.outcomes.items()],
            key_variables=key_variables(ir),
            links=[s.LinkInfo(source=link.source, target=link.target, sign=link.sign, declared=link.declared,
                              evidence=[s.EvidenceInfo(kind=ev.kind, sign=ev.sign, source=ev.source, quote=ev.quote,
                                                       reason=ev.reason) for ev in link.evidence])
                   for link in graph.links],
            loops=[s.LoopInfo(label=loop.label, polarity=loop.polarity, variables=list(loop.variables)) for loop in graph.loops],
            sources=[self._source_info(entry, key) for key in ir.sources],
            limits=s.Limits(max_runs=cfg.max_runs, max_work=cfg.max_work, dashboard_runs=min(cfg.dashboard_runs, cfg.max_runs),
                            max_samples=cfg.max_samples),
        )

    def _levers(self, entry: Entry) -> list[s.LeverInfo]:
        ir = entry.model.ir
        per_scenario = {name: resolve_inputs(ir, name) for name in ir.scenarios}
        if not per_scenario:
            per_scenario = {"": resolve_inputs(ir, None)}
        levers = []
        for name, lever in ir.of_kind(Lever).items():
            level = {}
            for scenario, inputs in per_scenario.items():
                when = inputs.policy_from if inputs.policy_from is not None else ir.time.stop
                level[scenario] = float(inputs.levers[name].at(when))  # type: ignore[arg-type]
            levers.append(s.LeverInfo(name=name, display=ir.display_name(name), units=lever.units, doc=lever.doc,
                                      baseline=lever.baseline, range=lever.range, sector=lever.sector, level=level))  # type: ignore[union-attr]
        return levers

    def _source_info(self, entry: Entry, key: str) -> s.SourceInfo:
        src = entry.model.ir.sources[key]
        available = find_source_file(entry.model.ir, key, list(self.config.sources)) is not None
        return s.SourceInfo(id=src.id, title=src.title, publisher=src.publisher, date=src.date, url=src.url,
                            available=available)

    def evidence(self, entry: Entry, source: str, target: str) -> s.LinkEvidence | None:
        """A link's evidence with each quote located in its source's text (read now, from the sources path)."""
        link = next((lk for lk in self.graph(entry).links if lk.source == source and lk.target == target), None)
        if link is None:
            return None
        ir = entry.model.ir
        items = []
        for ev in link.evidence:
            doc = read_source(ir, ev.source, list(self.config.sources)) if ev.kind == "source" else None
            span = locate_quote(doc.text, ev.quote) if doc is not None and doc.text is not None else None
            info = self._source_info(entry, ev.source) if ev.kind == "source" and ev.source in ir.sources else None
            items.append(s.EvidenceText(kind=ev.kind, sign=ev.sign, quote=ev.quote, reason=ev.reason, source=info,
                                        text=doc.text if doc is not None else None, span=span))
        return s.LinkEvidence(source=link.source, target=link.target, sign=link.sign, declared=link.declared, items=items)


def _date(value: str | float) -> str | None:
    return value if isinstance(value, str) else None


__all__ = ["Catalogue", "DiagramError", "Entry"]
