"""PolicyLab's XMILE extension namespace (``https://policylab.dev/xmile/1``, prefix ``policylab``).

XMILE permits vendor elements in their own namespace; other tools ignore them. What
XMILE cannot say travels there, so that YAML -> XMILE -> IR loses nothing:

- on ``<xmile>``: ``<policylab:model doc= default_scenario= calendar_start= days_per_unit=>``,
  ``<policylab:sources>`` (``<policylab:source id= title= .../>``) and
  ``<policylab:scenarios>`` (``<policylab:scenario name= doc= policy_from=>`` holding
  ``<policylab:override target= value=|times=>`` or an override with a
  ``<policylab:schedule>``);
- in a variable: ``<policylab:constant>`` (range, judgement, distribution, basis),
  ``<policylab:lever>`` (baseline, range, ``<policylab:schedule interpolation=>`` of
  ``<policylab:point time= value=/>``), ``<policylab:event magnitude= times=>``, and one
  ``<policylab:evidence>`` per evidence item.

Numbers are written with ``repr`` so they read back bit for bit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from policylab.errors import Location, ModelFileError
from policylab.expr.names import canonical
from policylab.formats.xmile._xml import Node
from policylab.formats.xmile.elements import Reader
from policylab.model.ir import (
    AnyVariable,
    Constant,
    Event,
    Evidence,
    Lever,
    Model,
    Override,
    Scenario,
    Schedule,
    Source,
)

DISTRIBUTIONS = ("uniform", "loguniform", "triangular")
INTERPOLATIONS = ("hold", "linear")
SIGNS = ("+", "-")
KINDS = ("source", "assumption")


class ExtensionReader:
    """Reads ``policylab:`` elements back into IR fields."""

    def __init__(self, file: str, reader: Reader) -> None:
        self.file = file
        self.reader = reader

    def _fail(self, node: Node, message: str) -> ModelFileError:
        return ModelFileError(f"{self.file}:{node.line}: <policylab:{node.tag}>: {message}")

    def _float(self, node: Node, key: str, default: float | None = None) -> float:
        raw = node.attrs.get(key)
        if raw is None:
            if default is None:
                raise self._fail(node, f"needs the attribute {key}")
            return default
        try:
            return float(raw)
        except ValueError:
            raise self._fail(node, f'{key}="{raw}" is not a number') from None

    def _floats(self, node: Node, key: str) -> tuple[float, ...]:
        raw = node.attrs.get(key, "")
        try:
            return tuple(float(x) for x in raw.split())
        except ValueError:
            raise self._fail(node, f'{key}="{raw[:60]}" is not a list of numbers separated by spaces') from None

    def _choice(self, node: Node, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = node.attrs.get(key, default)
        if value not in allowed:
            raise self._fail(node, f'{key}="{value}" must be one of {", ".join(allowed)}')
        return value

    def _range(self, node: Node) -> tuple[float, float] | None:
        if "range_min" not in node.attrs and "range_max" not in node.attrs:
            return None
        return (self._float(node, "range_min"), self._float(node, "range_max"))

    def _where(self, node: Node) -> Location:
        if "file" in node.attrs:
            try:
                return Location(node.attrs["file"], int(node.attrs.get("line", "0")))
            except ValueError:
                raise self._fail(node, f'line="{node.attrs.get("line")}" is not a whole number') from None
        return Location(self.file, node.line)

    # -- variables -----------------------------------------------------------------------------
    def variable(self, var: AnyVariable, nodes: list[Node]) -> AnyVariable:
        """Apply a variable's extension elements (levers, events, constant ranges, evidence)."""
        evidence = tuple(self._evidence(n) for n in nodes if n.tag == "evidence")
        for node in nodes:
            if node.tag == "constant":
                var = self._constant(var, node)
            elif node.tag == "lever":
                var = Lever(name=var.name, units=var.units, doc=var.doc, display=var.display, where=var.where,
                            baseline=self._float(node, "baseline"), range=self._range(node),
                            schedule=self._schedule(node))
            elif node.tag == "event":
                var = Event(name=var.name, units=var.units, doc=var.doc, display=var.display, where=var.where,
                            times=self._floats(node, "times"), magnitude=self._float(node, "magnitude", 1.0))
            elif node.tag != "evidence":
                raise self._fail(node, "unknown PolicyLab element; this file may come from a newer PolicyLab")
        return replace(var, evidence=evidence) if evidence else var

    def _constant(self, var: AnyVariable, node: Node) -> Constant:
        if not isinstance(var, Constant):
            raise self._fail(node, f"{var.name!r} carries constant settings but its equation is not a number")
        return replace(var, range=self._range(node), judgement=node.attrs.get("judgement") == "true",
                       distribution=self._choice(node, "distribution", DISTRIBUTIONS, "uniform"),  # type: ignore[arg-type]
                       basis=node.attrs.get("basis", ""))

    def _schedule(self, node: Node) -> Schedule | None:
        found = [c for c in node.children if c.tag == "schedule"]
        if not found:
            return None
        block = found[0]
        points = [c for c in block.children if c.tag == "point"]
        return Schedule(tuple(self._float(p, "time") for p in points), tuple(self._float(p, "value") for p in points),
                        self._choice(block, "interpolation", INTERPOLATIONS, "hold"))  # type: ignore[arg-type]

    def _evidence(self, node: Node) -> Evidence:
        return Evidence(
            from_=canonical(node.attrs.get("from", "")), sign=self._choice(node, "sign", SIGNS, "+"),  # type: ignore[arg-type]
            source=node.attrs.get("source", ""), quote=node.attrs.get("quote", ""),
            kind=self._choice(node, "kind", KINDS, "source"),  # type: ignore[arg-type]
            reason=node.attrs.get("reason", ""), where=self._where(node),
        )

    # -- model level ---------------------------------------------------------------------------
    def apply(self, root: Node, model: Model) -> Model:
        """Apply ``<policylab:model>``, ``<policylab:sources>`` and ``<policylab:scenarios>``."""
        changes: dict[str, object] = {}
        for node in root.ext("model"):
            changes["doc"] = node.attrs.get("doc", "")
            if node.attrs.get("name"):
                changes["name"] = node.attrs["name"]
            if node.attrs.get("default_scenario"):
                changes["default_scenario"] = node.attrs["default_scenario"]
            if node.attrs.get("calendar_start"):
                try:
                    start = dt.date.fromisoformat(node.attrs["calendar_start"])
                except ValueError:
                    raise self._fail(node, f'calendar_start="{node.attrs["calendar_start"]}" is not an ISO date') from None
                changes["time"] = replace(model.time, calendar_start=start,
                                          days_per_unit=self._float(node, "days_per_unit", 1.0))
        sources = {}
        for block in root.ext("sources"):
            for node in block.children:
                source = Source(**{k: node.attrs.get(k, "") for k in ("id", "title", "publisher", "date", "file", "url")})
                sources[source.id] = source
        if sources:
            changes["sources"] = sources
        scenarios = {}
        for block in root.ext("scenarios"):
            for node in block.children:
                scenario = self._scenario(node)
                scenarios[scenario.name] = scenario
        if scenarios:
            changes["scenarios"] = scenarios
        model = replace(model, **changes) if changes else model  # type: ignore[arg-type]
        if model.default_scenario is not None and model.default_scenario not in model.scenarios:
            raise ModelFileError(f"{self.file}: default_scenario {model.default_scenario!r} is not a scenario of the model")
        return model

    def _scenario(self, node: Node) -> Scenario:
        overrides = []
        for child in node.children:
            schedule = self._schedule(child)
            times = self._floats(child, "times") if "times" in child.attrs else None
            value = self._float(child, "value") if "value" in child.attrs else None
            overrides.append(Override(canonical(child.attrs.get("target", "")), value=value, schedule=schedule,
                                      times=times, where=self._where(child)))
        policy_from = self._float(node, "policy_from") if "policy_from" in node.attrs else None
        return Scenario(node.attrs.get("name", ""), doc=node.attrs.get("doc", ""), overrides=tuple(overrides),
                        policy_from=policy_from, where=self._where(node))
