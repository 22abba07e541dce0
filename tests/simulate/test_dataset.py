"""Model.run's Dataset is assembled from its variables and indexes directly: it must be the public constructor's."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from policylab.api import load
from policylab.simulate.results import to_dataset

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize(("name", "scenario", "runs"), [
    ("sir", "baseline", 3),  # sampled judgement parameters as run coordinates
    ("sir_regions", None, 2),  # arrays: a dimension coordinate, blocks over (run, time, region)
    ("iraq_dialogue", None, 1),  # a calendar: a date coordinate beside time
])
def test_the_directly_assembled_dataset_is_the_one_the_public_constructor_builds(name: str, scenario: str | None,
                                                                                  runs: int) -> None:
    model = load(MODELS / name / "model.yaml")
    call = model.prepare_call(scenario, runs=runs, seed=3)
    spec, save = model.time_spec(), model.save_list()
    trajectory = model.runner("numpy", call, False).run(call.inputs, call.parameters, call.streams, spec, save)
    attrs = {"model": model.name, "runs": runs, "absent": None}
    direct = to_dataset(model.ir, trajectory, call.run_indices, call.parameters, attrs)
    public = to_dataset(model.ir, trajectory, call.run_indices, call.parameters, attrs, direct=False)
    xr.testing.assert_identical(direct, public)
    assert list(direct.variables) == list(public.variables) and list(direct.coords) == list(public.coords)
    assert list(direct.xindexes) == list(public.xindexes) and dict(direct.sizes) == dict(public.sizes)
    for key, variable in public.variables.items():
        assert direct[key].dtype == variable.dtype and direct[key].attrs == variable.attrs, key
    if runs > 1:
        assert set(call.parameters) <= set(direct.coords)
