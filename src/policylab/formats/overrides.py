"""Scenario overrides files: a scenario and the values to set in it, as the dashboard exports them.

``policylab run --overrides FILE`` reads one; every value goes through the same guards
as ``--set`` (bounds refuse, sampling ranges warn). The file is untrusted input: parsed
by the strict, counted YAML loader of the model reader and validated by a schema.

    # PolicyLab scenario overrides
    model: iraq-strategic-dialogue   # optional: refused when run with another model
    scenario: historical             # optional: the scenario the values apply to
    runs: 20                         # optional: ensemble size
    seed: 0                          # optional: root random seed
    set:                             # constants, or levers' levels from the policy date
      maximum_pressure: 0
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policylab.errors import ModelFileError
from policylab.files import read_capped
from policylab.limits import MODEL_BYTES

class _OverridesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=False)
    model: str | None = None
    scenario: str | None = None
    runs: int | None = Field(default=None, ge=1)
    seed: int | None = Field(default=None, ge=0)
    set: dict[str, float] = {}


@dataclass(frozen=True)
class Overrides:
    """A scenario and the values to set in it (``set``: name -> value), with the ensemble it was seen with."""

    model: str | None = None
    scenario: str | None = None
    runs: int | None = None
    seed: int | None = None
    set: dict[str, float] = field(default_factory=dict)

    def to_yaml(self) -> str:
        """The file text :func:`read_overrides` reads back (the dashboard writes the same layout)."""
        lines = ["# PolicyLab scenario overrides: policylab run MODEL --overrides THIS_FILE"]
        for key in ("model", "scenario"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"{key}: {_quoted(value)}")
        for key in ("runs", "seed"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"{key}: {value}")
        lines.append("set:" if self.set else "set: {}")
        lines += [f"  {_quoted(name)}: {value!r}" for name, value in self.set.items()]
        return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def read_overrides(path: str | Path) -> Overrides:
    """The overrides in ``path``; ModelFileError naming the file and line when it is not one."""
    file = str(path)
    from policylab.formats.yaml_loader import parse_yaml, validation_message
    from policylab.formats.yaml_reader import _plain

    doc = parse_yaml(read_capped(path, MODEL_BYTES, "overrides file"), file, "overrides file")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ModelFileError(f"{file}:1: an overrides file is a mapping: `scenario: NAME` and `set: {{NAME: VALUE}}`")
    try:
        spec = _OverridesModel.model_validate(_plain(doc, file))
    except ValidationError as err:
        raise ModelFileError(validation_message(err, doc, file, _OverridesModel)) from err
    bad = [name for name, value in spec.set.items() if not math.isfinite(value)]
    if bad:
        raise ModelFileError(f"{file}: set.{bad[0]} is not a finite number; give a number such as 0.5")
    return Overrides(model=spec.model, scenario=spec.scenario, runs=spec.runs, seed=spec.seed, set=dict(spec.set))
