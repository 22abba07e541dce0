"""Sensitivity indices against ground truth: the Ishigami function and linear models.

The Ishigami function (Ishigami & Homma 1990) has closed-form Sobol indices; here it is
written as a PolicyLab model (three judgement constants on [-pi, pi], one auxiliary),
so the test exercises the whole path: YAML -> design -> vectorised ensemble -> SALib.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from policylab.analysis.sensitivity import morris_screening, sobol_design, sobol_indices, sobol_over_time
from policylab.analysis.space import parameter_space
from policylab.api import Model
from policylab.errors import UsageError
from policylab.formats.yaml_reader import read_yaml_text

PI = repr(math.pi)
A, B = 7.0, 0.1

ISHIGAMI = f"""model: ishigami
time: {{start: 0, stop: 1, dt: 1}}
constants:
  a: {A}
  b: {B}
  x1: {{value: 0, range: [-{PI}, {PI}], judgement: true}}
  x2: {{value: 0, range: [-{PI}, {PI}], judgement: true}}
  x3: {{value: 0, range: [-{PI}, {PI}], judgement: true}}
auxiliaries:
  y: {{equation: "SIN(x1) + a * SIN(x2)^2 + b * x3^4 * SIN(x1)"}}
outcomes:
  y_final: {{variable: y, stat: final}}
"""

LINEAR_IN_TIME = """model: shifting-influence
time: {start: 0, stop: 10, dt: 1}
constants:
  x1: {value: 0.5, range: [0, 1], judgement: true}
  x2: {value: 0.5, range: [0, 1], judgement: true}
auxiliaries:
  y: {equation: "x1 * (10 - TIME) + x2 * TIME"}
  fixed: {equation: "3"}
outcomes:
  y_final: {variable: y, stat: final}
"""


def load(text: str) -> Model:
    return Model(read_yaml_text(text, "model.yaml"))


def ishigami_indices(a: float, b: float) -> tuple[list[float], list[float]]:
    """Analytic first-order and total indices (Sobol' & Levitan 1999)."""
    pi = math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    return [v1 / total, v2 / total, 0.0], [(v1 + v13) / total, v2 / total, v13 / total]


def test_ishigami_indices_of_the_yaml_model_match_the_analytic_values_within_the_confidence_interval():
    s1_true, st_true = ishigami_indices(A, B)
    assert s1_true[0] == pytest.approx(0.3139, abs=1e-4) and st_true[2] == pytest.approx(0.2437, abs=1e-4)
    found = sobol_indices(load(ISHIGAMI), ["y_final"], base_samples=1024, seed=0).sel(outcome="y_final")
    for j, name in enumerate(["x1", "x2", "x3"]):
        cell = found.sel(parameter=name)
        assert abs(float(cell.S1) - s1_true[j]) <= float(cell.S1_conf), (name, float(cell.S1), s1_true[j])
        assert abs(float(cell.ST) - st_true[j]) <= float(cell.ST_conf), (name, float(cell.ST), st_true[j])


def test_time_varying_indices_follow_the_shifting_weights_of_a_linear_model():
    found = sobol_over_time(load(LINEAR_IN_TIME), "y", base_samples=256, seed=3)
    t = found["time"].values
    share_x1 = (10 - t) ** 2 / ((10 - t) ** 2 + t**2)  # Var(y) = ((10-t)^2 + t^2) / 12
    np.testing.assert_allclose(found["S1"].sel(parameter="x1").values, share_x1, atol=0.03)
    np.testing.assert_allclose(found["ST"].sel(parameter="x2").values, 1 - share_x1, atol=0.03)
    assert found["variance"].values[5] == pytest.approx(50 / 12, rel=0.05)


def test_time_varying_indices_are_nan_where_the_variable_does_not_vary():
    found = sobol_over_time(load(LINEAR_IN_TIME), "fixed", base_samples=16, max_times=3)
    assert len(found["time"]) == 3
    assert np.isnan(found["S1"].values).all() and (found["variance"].values == 0).all()


def test_morris_ranks_parameters_by_their_linear_effect():
    text = LINEAR_IN_TIME.replace("fixed: {equation: \"3\"}", "z: {equation: \"5 * x1 + x2\"}") + "  z_final: {variable: z, stat: final}\n"
    found = morris_screening(load(text), ["z_final"], trajectories=10, seed=1).sel(outcome="z_final")
    np.testing.assert_allclose(found["mu_star"].values, [5.0, 1.0], rtol=1e-9)
    np.testing.assert_allclose(found["sigma"].values, [0.0, 0.0], atol=1e-9)


def test_the_design_maps_the_unit_cube_onto_each_parameters_range():
    space = parameter_space(load(ISHIGAMI).ir)
    design = sobol_design(space, 8, seed=0)
    assert design.shape == (8 * 5, 3)
    values = space.values(design)
    assert all(-math.pi <= values[n].min() and values[n].max() <= math.pi for n in space.names)


def test_base_samples_must_be_a_power_of_two():
    with pytest.raises(UsageError, match="power of two"):
        sobol_indices(load(ISHIGAMI), base_samples=1000)


def test_an_unknown_parameter_is_named_with_the_valid_ones():
    with pytest.raises(UsageError, match=r"'x4' is not a judgement parameter of ishigami\. Valid: x1, x2, x3"):
        sobol_indices(load(ISHIGAMI), parameters=["x4"], base_samples=8)


def test_an_unknown_outcome_lists_the_declared_ones():
    with pytest.raises(UsageError, match=r"'z' is not an outcome of ishigami.*Declared: y_final"):
        sobol_indices(load(ISHIGAMI), ["z"], base_samples=8)
