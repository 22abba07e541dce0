"""The model IR: frozen, typed dataclasses that every reader produces and the compiler consumes."""

from policylab.model.ir import (
    Auxiliary,
    Constant,
    Event,
    Evidence,
    Flow,
    Lever,
    Lookup,
    Method,
    Model,
    Override,
    Scenario,
    Schedule,
    Source,
    Stock,
    TimeSpec,
    Variable,
)

__all__ = [
    "Auxiliary",
    "Constant",
    "Event",
    "Evidence",
    "Flow",
    "Lever",
    "Lookup",
    "Method",
    "Model",
    "Override",
    "Scenario",
    "Schedule",
    "Source",
    "Stock",
    "TimeSpec",
    "Variable",
]
