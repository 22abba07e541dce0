"""PolicyLab's XMILE extension namespace (``https://policylab.dev/xmile/1``, prefix ``policylab``).

XMILE permits vendor elements in their own namespace; other tools ignore them. What
XMILE cannot say travels there, so that YAML -> XMILE -> IR loses nothing:

- under ``<xmile>``: ``<policylab:model>`` (name, doc, default scenario, and children
  ``<policylab:scenarios>``, ``<policylab:sources>``, ``<policylab:outcomes>``) and
  ``<policylab:time>`` (calendar start date, days per time unit);
- inside a variable: ``<policylab:constant>`` (range, judgement, distribution, basis),
  ``<policylab:lever>`` (baseline, range, schedule), ``<policylab:event>`` (times,
  magnitude), ``<policylab:generated>`` (a generated event's hazard, record and magnitude; its
  <aux> carries the lowered equation) or ``<policylab:variable>`` (evidence and source of any
  other variable).

The encoding of each record is the generic one of ``codec``.
"""

from __future__ import annotations

from dataclasses import replace

from policylab.errors import ModelFileError
from policylab.formats.xmile._xml import Node
from policylab.formats.xmile.codec import Decoder
from policylab.expr.parser import parse
from policylab.model.ir import AnyVariable, Auxiliary, Constant, Event, GeneratedEvent, Lever, Model, TimeSpec

#: Fields XMILE itself carries (name, units, doc, equations, flows, tables): never in the extension.
STANDARD_FIELDS = frozenset({
    "name", "units", "doc", "display", "where", "equation", "equation_text", "initial", "initial_text",
    "inflows", "outflows", "non_negative", "xs", "ys", "extrapolation", "input", "value", "written",
})
MODEL_SKIP = frozenset({"time", "variables", "path", "extras", "dimensions", "arrays"})  # arrays are standard XMILE
TIME_SKIP = frozenset({"start", "stop", "dt", "save_every", "units", "method"})
KIND_TAGS = {Constant: "constant", Lever: "lever", Event: "event", GeneratedEvent: "generated"}
#: A generated event's hazard travels as its text (``hazard_text``), parsed back on reading.
GENERATED_SKIP = STANDARD_FIELDS | {"hazard"}


class ExtensionReader:
    """Reads ``policylab:`` elements back into IR fields."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.decoder = Decoder(file)

    def variable(self, var: AnyVariable, nodes: list[Node]) -> AnyVariable:
        """Apply a variable's extension element (at most one) to the variable read from XMILE."""
        if len(nodes) > 1:
            raise self.decoder.fail(nodes[1], f"{var.name!r} carries more than one PolicyLab element")
        node = nodes[0]
        common = {"name": var.name, "units": var.units, "doc": var.doc, "display": var.display, "where": var.where}
        if node.tag == "constant":
            if not isinstance(var, Constant):
                raise self.decoder.fail(node, f"{var.name!r} carries constant settings but its <eqn> is not a number")
            constant = replace(var, **self.decoder.fields(node, Constant, STANDARD_FIELDS))
            problem = constant.sampling_problem()
            if problem is not None:
                raise self.decoder.fail(node, f"{var.name!r}: {problem}")
            return constant
        if node.tag in ("lever", "event"):
            cls = Lever if node.tag == "lever" else Event
            return cls(**common, **self.decoder.fields(node, cls, STANDARD_FIELDS))
        if node.tag == "generated":
            if not isinstance(var, Auxiliary):
                raise self.decoder.fail(node, f"{var.name!r} carries a generated event's settings but is not an <aux>")
            fields = self.decoder.fields(node, GeneratedEvent, GENERATED_SKIP)
            hazard = parse(fields.get("hazard_text", "0"), f"{self.file}:{node.line}: {var.name} hazard")
            return GeneratedEvent(**common, equation=var.equation, equation_text=var.equation_text, hazard=hazard,
                                  **fields)
        if node.tag == "variable":
            return replace(var, **self.decoder.fields(node, type(var), STANDARD_FIELDS))
        raise self.decoder.fail(node, "unknown PolicyLab element; this file may come from a newer PolicyLab")

    def apply(self, root: Node, model: Model) -> Model:
        """Apply ``<policylab:model>`` and ``<policylab:time>`` from under ``<xmile>``."""
        for node in root.ext("time"):
            model = replace(model, time=replace(model.time, **self.decoder.fields(node, TimeSpec, TIME_SKIP)))
        for node in root.ext("model"):
            model = replace(model, **self.decoder.fields(node, Model, MODEL_SKIP))
        if model.default_scenario is not None and model.default_scenario not in model.scenarios:
            raise ModelFileError(f"{self.file}: default_scenario {model.default_scenario!r} is not one of the "
                                 f"model's scenarios ({', '.join(model.scenarios) or 'none'})")
        return model
