"""The limits that keep untrusted input from exhausting memory or time, each raisable by one variable.

Every limit has a default that a legitimate model stays far below; an operator who
needs more sets ``POLICYLAB_LIMIT_<NAME>`` (for example ``POLICYLAB_LIMIT_MODEL_BYTES=20000000``).
docs/security.md lists them; tests/test_limits.py checks that list against this one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from policylab.errors import UsageError


@dataclass(frozen=True)
class Limit:
    """One named bound: its default, the variable that overrides it and what it bounds."""

    name: str
    default: int
    what: str

    @property
    def variable(self) -> str:
        return f"POLICYLAB_LIMIT_{self.name.upper()}"

    def value(self) -> int:
        """The limit in force: the environment's override when set, else the default."""
        raw = os.environ.get(self.variable)
        if raw is None or not raw.strip():
            return self.default
        try:
            number = int(raw.replace("_", ""))
        except ValueError:
            number = 0
        if number <= 0:
            raise UsageError(f"{self.variable}={raw!r}: give a positive whole number (default {self.default:,})")
        return number

    def hint(self) -> str:
        """The sentence error messages end with: how to raise this limit."""
        return f"set {self.variable} to raise the limit of {self.value():,} (docs/security.md)"


MODEL_BYTES = Limit("model_bytes", 5_000_000, "bytes of a YAML model, stakeholder, coupling or mapping file")
XMILE_BYTES = Limit("xmile_bytes", 50_000_000, "bytes of an XMILE model file")
VENSIM_BYTES = Limit("vensim_bytes", 50_000_000, "bytes of a Vensim .mdl model file")
SOURCE_BYTES = Limit("source_bytes", 20_000_000, "bytes of one source document read to verify quotes")
YAML_VALUES = Limit("yaml_values", 100_000, "values in a YAML file once its aliases are expanded")
FLAT_VARIABLES = Limit("flat_variables", 50_000,
                       "scalar variables of a model once XMILE modules and arrays are laid out")
EXPLORE_RUNS = Limit("explore_runs", 10_000_000, "runs in one explore design")
HEADER_SECONDS = Limit("header_seconds", 10, "seconds the server waits for a request's headers and body")
IDLE_SECONDS = Limit("idle_seconds", 5, "seconds the server keeps an idle keep-alive connection")
CONNECTIONS = Limit("connections", 1000, "connections the server holds at once (more are refused with 503); "
                    "far above what the dashboard needs, so that clients holding half-sent requests (each closed "
                    "after header_seconds) cannot take every connection")

REFUSALS = Limit("refusals", 10, "refused requests (answers of 400 or more) the server answers per second at once; "
                 "beyond that each waits its turn, up to a second (waiting costs no CPU), so a client looping on "
                 "refused requests cannot take the CPU the dashboard's simulations need")

ALL: tuple[Limit, ...] = (MODEL_BYTES, XMILE_BYTES, VENSIM_BYTES, SOURCE_BYTES, YAML_VALUES, FLAT_VARIABLES, EXPLORE_RUNS,
                          HEADER_SECONDS, IDLE_SECONDS, CONNECTIONS, REFUSALS)
