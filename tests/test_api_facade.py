"""api.Model is a facade: it checks a call once (a typed Call) and delegates to an engine's prepared Runner."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

from policylab import api
from policylab.api import Call, Model
from policylab.errors import UsageError
from policylab.formats.yaml_reader import read_yaml_text
from policylab.simulate.engines import ENGINES, Engine, Runner

MODEL = """
model: facade
time: {start: 0, stop: 4, dt: 1}
constants:
  k: {value: 0.5, range: [0.1, 1], judgement: true}
stocks:
  s: {initial: 1, in: [f]}
flows:
  f: {equation: 'k * s'}
"""


def model() -> Model:
    return Model(read_yaml_text(MODEL, "facade.yaml"))


def test_a_checked_call_is_a_typed_record() -> None:
    call = model().prepare_call(params={"k": 0.2}, runs=3, seed=4)
    assert isinstance(call, Call)
    assert call.runs == 3 and call.run_indices.tolist() == [0, 1, 2]
    assert call.parameters["k"] == 0.2 and call.inputs.constants["k"] == 0.2


def test_bad_arguments_are_refused_before_any_engine_is_prepared() -> None:
    m = model()
    with pytest.raises(UsageError, match="runs must be"):
        m.run(runs=0)
    assert not m._runners


def test_every_engine_follows_the_protocol() -> None:
    wanted = list(inspect.signature(Engine.prepare).parameters)
    for name, engine in ENGINES.items():
        assert list(inspect.signature(type(engine).prepare).parameters) == wanted, name
    runner = ENGINES["numpy"].prepare(model().compiled, model().prepare_call().inputs, 1, False, ())
    assert runner.backend == "numpy"
    assert list(inspect.signature(type(runner).run).parameters) == list(inspect.signature(Runner.run).parameters)


def test_a_runner_is_prepared_once_per_backend_scenario_size_mode_and_parameter_names() -> None:
    m = model()
    first = m.runner("numpy", m.prepare_call(params={"k": 0.2}), False)
    assert m.runner("numpy", m.prepare_call(params={"k": 0.9}), False) is first
    assert m.runner("numpy", m.prepare_call(), False) is not first


def test_the_simulator_calls_only_public_methods_of_the_model() -> None:
    tree = ast.parse(inspect.getsource(api.Simulator))
    private = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and isinstance(node.value, (ast.Name, ast.Attribute)) and node.attr.startswith("_")
               and ast.unparse(node.value) in ("model", "self.model")]
    assert not private, private


def test_the_simulator_gives_what_run_gives_on_the_numpy_engine() -> None:
    m = model()
    sim = m.simulator(parameters=["k"], runs=2, backend="numpy")
    expected = m.run(params={"k": 0.3}, runs=2, sample=False)["s"].values
    np.testing.assert_array_equal(sim.run(k=0.3)["s"], expected)


def test_datasets_carry_doc_lines_and_units_on_variables_and_parameter_coordinates() -> None:
    """CF-style attributes: ``long_name`` is the doc's first sentence, ``units`` on each sampled parameter too."""
    from pathlib import Path

    import policylab

    model = policylab.load(Path(__file__).resolve().parents[1] / "models" / "sir" / "model.yaml")
    ds = model.run("baseline", runs=3)
    for name in [*ds.data_vars, *(c for c in ds.coords if c not in ("run", "time", "date"))]:
        var = model.ir.variables[name]
        assert ds[name].attrs["units"] == var.units, name
        if var.doc.strip():
            assert ds[name].attrs["long_name"] != name and ds[name].attrs["long_name"] in " ".join(var.doc.split()), name
    assert {"contact_rate", "infectivity", "recovery_time"} <= set(ds.coords)


def test_a_misspelt_scenario_gets_a_suggestion() -> None:
    from pathlib import Path

    import pytest

    import policylab
    from policylab.errors import UsageError

    model = policylab.load(Path(__file__).resolve().parents[1] / "models" / "sir" / "model.yaml")
    with pytest.raises(UsageError, match=r"choose one of: baseline, distancing\. Did you mean 'baseline'\?"):
        model.run("baselin", runs=2)


SAMPLED = MODEL.replace("stocks:", """  j: {value: 2, range: [1, 3], judgement: true}
levers:
  push: {baseline: 0, range: [0, 1]}
stocks:""").replace("'k * s'", "'k * s + push / j'")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_sampling_simulator_draws_the_judgements_once_and_gives_what_run_gives(backend: str) -> None:
    m = Model(read_yaml_text(SAMPLED, "sampled.yaml"))
    sim = m.simulator(parameters=["push", "k"], runs=4, seed=9, backend=backend, sample=None)  # None: sample, as run
    assert set(sim.sampled) == {"k", "j"} and sim.engine == backend
    for push, k in ((0.2, 0.3), (0.9, 0.3), (0.5, 0.8)):
        expected = m.run(params={"push": push, "k": k}, runs=4, seed=9, backend=backend)
        got = sim.run(push=push, k=k)
        np.testing.assert_array_equal(got["s"], expected["s"].values)
        assert sim.parameters(push=push, k=k)["k"] == k
        np.testing.assert_array_equal(sim.parameters(push=push, k=k)["j"], expected["j"].values)
    unsampled = m.simulator(parameters=["push"], runs=4, backend=backend)  # the default: no draws
    assert unsampled.sampled == {}
    np.testing.assert_array_equal(unsampled.run(push=0.5)["s"],
                                  m.run(params={"push": 0.5}, runs=4, backend=backend, sample=False)["s"].values)
