"""What every check needs: the model, the ensemble settings, and ensembles run once and shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from policylab.api import Backend, Model
from policylab.model.guards import outside_range_expected
from policylab.model.ir import Check, Constant
from policylab.model.ir import Model as ModelIR
from policylab.simulate import judgement_parameters
from policylab.validation.conditions import pointwise_median
from policylab.validation.results import CounterExample, run_command


@dataclass
class Context:
    """A model under validation: ensemble size, seed, backend, and a cache of ensembles.

    Ensembles are keyed by (variant model, scenario, runs, parameters); a scenario's
    variables are declared up front (``need``) so that checks sharing a scenario share
    one ensemble.
    """

    model: Model
    runs: int = 1000
    seed: int = 0
    backend: Backend = "auto"
    needs: dict[tuple[int, str | None], set[str]] = field(default_factory=dict)
    cache: dict[tuple, xr.Dataset] = field(default_factory=dict)
    medians: dict[int, tuple[xr.Dataset, xr.Dataset]] = field(default_factory=dict)

    @property
    def ir(self) -> ModelIR:
        return self.model.ir

    @property
    def path(self) -> str:
        return self.ir.path or self.ir.name

    def runs_of(self, check: Check) -> int:
        return check.runs or self.runs

    def scenario_of(self, check: Check) -> str | None:
        return check.scenario if check.scenario is not None else self.ir.default_scenario

    def need(self, scenario: str | None, names: list[str] | set[str] | frozenset[str], model: Model | None = None) -> None:
        """Declare that ``names`` will be read from ``scenario`` (of ``model``, default the one validated)."""
        self.needs.setdefault((id(model or self.model), scenario), set()).update(names)

    def ensemble(self, scenario: str | None, runs: int, model: Model | None = None,
                 params: dict[str, float] | None = None, names: set[str] | None = None,
                 deterministic: bool = False) -> xr.Dataset:
        """The ensemble of ``scenario`` (sampled judgement parameters, run k from stream k), run once."""
        model = model or self.model
        wanted = set(names or ()) | self.needs.get((id(model), scenario), set())
        key = (id(model), scenario, runs, tuple(sorted((params or {}).items())), deterministic)
        found = self.cache.get(key)
        if found is not None and wanted <= set(found.data_vars) | set(found.coords):
            return found
        saved = sorted(n for n in wanted if n not in _constants(model))
        with outside_range_expected():  # checks set values outside the sampling ranges on purpose
            ds = model.run(scenario, params=params, runs=runs, seed=self.seed, variables=saved or None, sample=True,
                           backend=self.backend, deterministic=deterministic)
        self.cache[key] = ds
        return ds

    def median(self, ds: xr.Dataset) -> xr.Dataset:
        """The pointwise ensemble median of ``ds`` (computed once per ensemble)."""
        found = self.medians.get(id(ds))
        if found is None or found[0] is not ds:
            found = (ds, pointwise_median(ds))
            self.medians[id(ds)] = found
        return found[1]

    def constant(self, name: str, ds: xr.Dataset, scenario: str | None) -> np.ndarray:
        """A constant's value per run: sampled (a run coordinate), else the scenario's or the model's."""
        if name in ds.coords:
            return ds[name].values[:, None]
        if scenario is not None and scenario in self.ir.scenarios:
            for override in self.ir.scenarios[scenario].overrides:
                if override.target == name and override.value is not None:
                    return np.array([[override.value]])
        return np.array([[float(self.ir.variables[name].value)]])  # type: ignore[union-attr]

    def counter_example(self, ds: xr.Dataset, position: int, scenario: str | None, variables: list[str],
                        settings: dict[str, float] | None = None, note: str = "",
                        expressible: bool = True) -> CounterExample:
        """Run ``position`` of ``ds``: its index, sampled parameters and the command that reruns it."""
        run = int(ds["run"].values[position])
        parameters = {n: float(ds[n].values[position]) for n in ds.coords
                      if n in judgement_parameters(self.ir) and ds[n].dims == ("run",)}
        command = run_command(display_path(self.path), scenario, self.seed, run, settings or {}, variables,
                              bool(ds.attrs.get("deterministic", 0))) if expressible else ""
        return CounterExample(run, self.seed, scenario, parameters, dict(settings or {}), command, note)


def where(check: Check, key: str) -> str:
    """``file:line: checks.NAME.KEY``, the prefix of every message about a check."""
    return f"{check.where}: checks.{check.display or check.name}.{key}"


def _constants(model: Model) -> set[str]:
    return set(model.ir.of_kind(Constant))


def display_path(path: str) -> str:
    """The model path as the user gave it, relative to the working folder where it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path
