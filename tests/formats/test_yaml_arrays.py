"""Arrays in the native format: dimensions, arrayed variables, results over dimensions, errors with file:line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import policylab as pl
from policylab.errors import ModelFileError
from policylab.formats.xmile import read_xmile_bytes
from policylab.formats.xmile.writer import write_xmile
from policylab.formats.yaml_reader import read_yaml_text
from policylab.formats.yaml_writer import write_yaml
from policylab.model.arrays import apply_to_all, model_expander
from policylab.model.ir import element_name

REGIONS = Path(__file__).resolve().parents[2] / "models" / "sir_regions" / "model.yaml"

GRID = """
model: grid
time: {start: 0, stop: 2, dt: 1}
dimensions:
  region: [a, b, c]
  zone: {elements: [z1, z2, z3], maps_to: {region: [c, a, b]}}
  ages: {range: [1, 3]}
  inner: {subrange_of: region, elements: [b, c]}
constants:
  x: {dims: [region], values: [1, 2, 3]}
  grid: {dims: [region, ages], values: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
auxiliaries:
  y: {dims: [zone], equation: "x[zone] * 10"}
  rowsum: {dims: [region], equation: "SUM(grid[region, *])"}
  colmean: {dims: [ages], equation: "MEAN(grid[*, ages])"}
  position: {dims: [ages], equation: ages}
  flipped: {dims: [ages, region], equation: "grid[region, ages]"}
  inner_total: {equation: "SUM(x[inner])"}
  stepped: {dims: [region], equation: "x", elements: {inner: "x * 100"}}
  spread: {equation: "STDDEV(x[*])"}
  biggest: {equation: "MAX(grid[*, *])"}
"""


def _final(ds, name: str) -> float:
    return float(ds[name].isel(run=0, time=-1))


def test_dimensions_subranges_mappings_and_reductions_give_the_numbers_by_hand() -> None:
    model = pl.Model(read_yaml_text(GRID, "grid.yaml"))
    ds = model.run(deterministic=True)
    assert [_final(ds, f"y[{z}]") for z in ("z1", "z2", "z3")] == [30.0, 10.0, 20.0]  # the mapping
    assert [_final(ds, f"rowsum[{r}]") for r in "abc"] == [6.0, 15.0, 24.0]
    assert [_final(ds, f"colmean[{a}]") for a in "123"] == [4.0, 5.0, 6.0]
    assert [_final(ds, f"position[{a}]") for a in "123"] == [1.0, 2.0, 3.0]
    assert _final(ds, "flipped[2,c]") == 8.0  # transposition: flipped[ages, region] = grid[region, ages]
    assert _final(ds, "inner_total") == 5.0  # a subrange in a reduction
    assert [_final(ds, f"stepped[{r}]") for r in "abc"] == [1.0, 200.0, 300.0]  # an equation over a subrange
    assert _final(ds, "spread") == pytest.approx(np.std([1, 2, 3]))
    assert _final(ds, "biggest") == 9.0


def test_the_ir_keeps_each_array_with_its_dimensions_and_apply_to_all_equation() -> None:
    ir = pl.load(REGIONS).ir
    assert ir.dimensions["coastal"].parent == "region"
    assert ir.arrays["infected"].dims == ("region",)
    assert ir.elements_of("infected") == [element_name("infected", (r,)) for r in ("north", "south", "east", "west")]
    assert ir.arrays["infection"].equation is not None  # apply-to-all
    assert ir.arrays["mixed_prevalence"].equation is not None  # as written; the coastal subrange has its own:
    assert apply_to_all(ir, model_expander(ir), "mixed_prevalence") == {("north",), ("west",)}
    assert "max" in repr(ir.variables["mixed_prevalence[south]"].equation).lower()
    assert "max" not in repr(ir.variables["mixed_prevalence[north]"].equation).lower()


def test_results_keep_their_dimensions_and_elements_stay_columns() -> None:
    model = pl.load(REGIONS)
    ds = model.run(runs=4, seed=3)
    assert ds["infected"].dims == ("run", "time", "region")
    assert list(ds["region"].values) == ["north", "south", "east", "west"]
    np.testing.assert_allclose(ds["infected"].sum("region"), ds["total_infected"], rtol=1e-12)
    np.testing.assert_array_equal(ds["infected"].sel(region="east"), ds["infected[east]"])
    # judgement parameters sampled per element: the regions' contact rates differ within a run
    rates = [float(ds[f"contact_rate[{r}]"].values[0]) for r in ("north", "south", "east", "west")]
    assert len(set(rates)) == 4


def test_csv_keeps_one_column_per_element() -> None:
    from typer.testing import CliRunner

    from policylab.cli import app

    done = CliRunner().invoke(app, ["run", str(REGIONS), "--runs", "2", "--format", "csv", "--quiet"])
    assert done.exit_code == 0, done.output
    header = done.stdout.splitlines()[0].split(",")
    assert "infected[north]" in header and "infected" not in header


def test_an_arrayed_yaml_model_round_trips_through_xmile() -> None:
    model = pl.load(REGIONS)
    text = write_xmile(model.ir)
    assert "<dimensions>" in text
    infection = text.split('<flow name="infection">')[1].split("</flow>")[0]
    assert "<element" not in infection and infection.count("<eqn>") == 1  # one apply-to-all equation, not 4
    back = pl.Model(read_xmile_bytes(text.encode(), "regions.xmile"))
    assert back.ir.arrays["infected"].dims == ("region",)
    a = model.run(deterministic=True)
    b = back.run(deterministic=True)
    for name in model.ir.variables:
        if name in a.data_vars and name in b.data_vars:
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-12, err_msg=name)


BAD = [
    ("auxiliaries:\n  y: {dims: [region], equation: 'x[d]'}\n", r"grid.yaml:\d+: .*'d', which is not an element of region"),
    ("auxiliaries:\n  y: {dims: [ages], equation: 'x[ages]'}\n", r"grid.yaml:\d+: .*dimension ages does not match region"),
    ("auxiliaries:\n  y: {dims: [region], equation: 'x', elements: {b: '1'}}\n  z: {dims: [nope], equation: '1'}\n",
     r"grid.yaml:\d+: auxiliaries.z.dims: dimension 'nope' is not declared"),
    ("auxiliaries:\n  y: {dims: [region], elements: {a: '1', b: '2'}}\n", r"grid.yaml:\d+: auxiliaries.y: has no definition for element \[c\]"),
    ("auxiliaries:\n  y: {equation: 'x + 1'}\n", r"grid.yaml:\d+: .*x ranges over a whole dimension"),
]


@pytest.mark.parametrize(("tail", "message"), BAD, ids=["not-an-element", "dimension-mismatch", "unknown-dimension",
                                                      "missing-element", "unreduced-range"])
def test_bad_array_input_is_a_clear_error_with_file_and_line(tail: str, message: str) -> None:
    head = ("model: m\ntime: {start: 0, stop: 1, dt: 1}\ndimensions:\n  region: [a, b, c]\n  ages: {range: [1, 2]}\n"
            "constants:\n  x: {dims: [region], value: 1}\n")
    with pytest.raises(ModelFileError, match=message):
        read_yaml_text(head + tail, "grid.yaml")


def test_a_mapping_that_does_not_cover_its_dimension_is_refused() -> None:
    text = ("model: m\ntime: {start: 0, stop: 1, dt: 1}\ndimensions:\n  region: [a, b, c]\n"
            "  zone: {elements: [z1, z2], maps_to: {region: [a]}}\n")
    with pytest.raises(ModelFileError, match=r"grid.yaml:5: dimensions.zone.maps_to: the mapping onto region gives 1"):
        read_yaml_text(text, "grid.yaml")


def test_a_constant_list_of_the_wrong_length_is_refused() -> None:
    text = ("model: m\ntime: {start: 0, stop: 1, dt: 1}\ndimensions:\n  region: [a, b, c]\n"
            "constants:\n  x: {dims: [region], values: [1, 2]}\n")
    with pytest.raises(ModelFileError, match=r"lists 2 value\(s\) for 3 element"):
        read_yaml_text(text, "grid.yaml")


def test_a_shared_judgement_array_takes_one_quantile_for_every_element() -> None:
    text = ("model: m\ntime: {start: 0, stop: 1, dt: 1}\ndimensions:\n  region: [a, b]\nconstants:\n"
            "  k: {dims: [region], value: 1, range: [0, 1], judgement: true, sample: shared}\n"
            "  j: {dims: [region], value: 1, range: [0, 1], judgement: true}\n")
    ds = pl.Model(read_yaml_text(text, "m.yaml")).run(runs=20, seed=2)
    np.testing.assert_array_equal(ds["k[a]"].values, ds["k[b]"].values)
    assert not np.array_equal(ds["j[a]"].values, ds["j[b]"].values)


def test_the_diagram_draws_one_node_per_array_with_its_dimension() -> None:
    from policylab.compile.causal import by_array, causal_graph

    model = pl.load(REGIONS)
    graph = by_array(causal_graph(model), model.ir)
    assert "infected[region]" in graph.nodes and "infected[north]" not in graph.nodes
    assert any(link.source == "infected[region]" and link.target == "national_prevalence" for link in graph.links)
    cycles = [loop.variables for loop in graph.loops]
    assert len(cycles) == len(set(cycles)) and ("infected[region]", "recovery[region]") in cycles


def test_outcomes_over_an_array_aggregate_it_and_may_list_its_elements() -> None:
    text = REGIONS.read_text().replace(
        "  peak_infected_north:", "  peak_by_region: {variable: infected, stat: max, by_element: true}\n"
        "  mean_prevalence: {variable: prevalence, stat: final, aggregate: mean}\n  peak_infected_north:")
    model = pl.Model(read_yaml_text(text, "regions.yaml"))
    assert model.ir.outcomes["peak_by_region"].variable == "sum(infected)"
    assert model.ir.outcomes["peak_by_region[north]"].variable == "infected[north]"
    ds = model.run(deterministic=True)
    np.testing.assert_allclose(ds["sum(infected)"], ds["total_infected"], rtol=1e-12)
    np.testing.assert_allclose(ds["mean(prevalence)"], ds["prevalence"].mean("region"), rtol=1e-12)


def test_a_scenario_sets_every_element_of_an_array_or_one_element() -> None:
    text = REGIONS.read_text().replace(
        "    set: {distancing: 0.5}", "    set: {distancing: 0.5, contact_rate: 3, \"Seed cases[South]\": 7}")
    model = pl.Model(read_yaml_text(text, "regions.yaml"))
    ds = model.run("distancing", deterministic=True)
    base = pl.Model(read_yaml_text(REGIONS.read_text(), "regions.yaml")).run("distancing", deterministic=True)
    assert float(ds["infected[south]"].isel(time=0).values[0]) == 7.0
    assert float(base["infected[south]"].isel(time=0).values[0]) == 0.0
    halved = pl.Model(read_yaml_text(REGIONS.read_text().replace(
        "    set: {distancing: 0.5}", "    set: {distancing: 0.5, contact_rate: 3}"), "regions.yaml"))
    rates = halved.run("distancing", deterministic=True)["infection"].isel(run=0, time=0).values
    # at time 0 only the contact rate differs (6 -> 3 in every region): every infection rate halves
    np.testing.assert_allclose(rates, 0.5 * base["infection"].isel(run=0, time=0).values, rtol=1e-12)


def test_arrayed_lookups_and_levers_take_each_element_its_own() -> None:
    text = ("model: m\ntime: {start: 0, stop: 2, dt: 1}\ndimensions:\n  region: [a, b]\n"
            "levers:\n  push: {dims: [region], baseline: 1, elements: {b: 2}, range: [0, 3]}\n"
            "lookups:\n  effect: {dims: [region], points: [[0, 0], [10, 10]], elements: {b: [[0, 0], [10, 100]]}}\n"
            "auxiliaries:\n  y: {dims: [region], equation: effect(push * 2)}\n  bad_scalar: {equation: 1}\n")
    model = pl.Model(read_yaml_text(text, "m.yaml"))
    ds = model.run(deterministic=True)
    assert [_final(ds, "y[a]"), _final(ds, "y[b]")] == [2.0, 40.0]
    with pytest.raises(ModelFileError, match=r"m.yaml:\d+: .*effect\(\) is an arrayed lookup over region"):
        read_yaml_text(text.replace("bad_scalar: {equation: 1}", "bad_scalar: {equation: effect(1)}"), "m.yaml")


COPIES = """
model: copies
time: {start: 0, stop: 2, dt: 1}
dimensions:
  cats: [c1, c2, c3]
  dummy: {elements: [d1, d2, d3], maps_to: cats}
  cats2: {elements: [c1, c2, c3], maps_to: {dummy: [d3, d1, d2]}}
constants:
  rate: {dims: [dummy], values: [1, 2, 3]}
flows:
  gain: {dims: [dummy], equation: "rate"}
  loss: {dims: [cats], equation: "0.5"}
stocks:
  pool: {dims: [cats], initial: 0, in: ["gain[cats]"], out: [loss]}
"""


def test_a_stock_takes_the_elements_a_subscripted_flow_picks_and_mappings_may_point_down_the_file() -> None:
    model = pl.Model(read_yaml_text(COPIES, "copies.yaml"))
    assert model.ir.dimensions["cats2"].mapping == {"dummy": ("d3", "d1", "d2")}  # declared after its target
    assert model.ir.variables["pool[c2]"].inflows == ("gain[d2]",)  # cats maps onto dummy position by position
    ds = model.run(deterministic=True)
    assert [_final(ds, f"pool[{c}]") for c in ("c1", "c2", "c3")] == [1.0, 3.0, 5.0]
    again = read_yaml_text(write_yaml(model.ir), "again.yaml")
    assert again.variables["pool[c3]"].inflows == ("gain[d3]",)
    back = read_xmile_bytes(write_xmile(again).encode(), "copies.xmile")
    assert back.variables["pool[c3]"].inflows == ("gain[d3]",) and back.dimensions["cats2"].mapping
    assert "<inflow>gain[cats]</inflow>" in write_xmile(again)


@pytest.mark.parametrize(("flows", "message"), [
    ('["gain"]', r"copies.yaml:\d+: stocks.pool: flow 'gain' is arrayed over dummy, which the stock is not; .*"
                 r"subscript the flow"),
    ('["rate_flow[cats]"]', r"flow 'rate_flow\[cats\]' subscripts 'rate_flow', which is not an array"),
])
def test_a_flow_the_stock_cannot_take_element_by_element_is_refused(flows: str, message: str) -> None:
    text = COPIES.replace('in: ["gain[cats]"]', f"in: {flows}").replace(
        '  loss: {dims: [cats], equation: "0.5"}', '  loss: {dims: [cats], equation: "0.5"}\n  rate_flow: {equation: "1"}')
    with pytest.raises(ModelFileError, match=message):
        read_yaml_text(text, "copies.yaml")


OWN = """
model: own
time: {start: 0, stop: 2, dt: 1}
dimensions:
  region: [a, b, c]
flows:
  gain: {dims: [region], equation: "1"}
  extra: {equation: "10"}
stocks:
  pool:
    dims: [region]
    initial: 0
    in: [gain]
    elements: {c: {initial: 5, in: [gain, extra]}}
auxiliaries:
  mixed:
    dims: [region]
    equation: pool * 2
    elements:
      a: {value: 7}
      b: {points: [[0, 0], [10, 100]], input: Time}
"""


def test_an_element_may_have_its_own_kind_and_a_stock_element_its_own_flows() -> None:
    ir = read_yaml_text(OWN, "own.yaml")
    assert [type(ir.variables[f"mixed[{r}]"]).__name__ for r in "abc"] == ["Constant", "Lookup", "Auxiliary"]
    assert ir.variables["pool[c]"].inflows == ("gain[c]", "extra") and ir.variables["pool[a]"].inflows == ("gain[a]",)
    ds = pl.Model(ir).run(deterministic=True)
    assert [_final(ds, f"pool[{r}]") for r in "abc"] == [2.0, 2.0, 27.0]
    assert [_final(ds, f"mixed[{r}]") for r in "bc"] == [20.0, 54.0]
    text = write_yaml(ir)
    assert "      c:\n        initial: '5'\n        in: ['gain[c]', extra]\n" in text and "a: {value: 7}" in text
    for copy in (read_yaml_text(text, "again.yaml"),
                 read_xmile_bytes(write_xmile(read_yaml_text(text, "again.yaml")).encode(), "own.xmile")):
        assert [type(copy.variables[f"mixed[{r}]"]) for r in "abc"] == [type(ir.variables[f"mixed[{r}]"]) for r in "abc"]
        assert copy.variables["pool[c]"].inflows == ("gain[c]", "extra")
        again = pl.Model(copy).run(deterministic=True)
        assert [_final(again, f"pool[{r}]") for r in "abc"] == [2.0, 2.0, 27.0]


@pytest.mark.parametrize(("element", "message"), [
    ("{value: 1, equation: '2'}", r"exactly one of `value`, `points`, `equation` or `initial` \(got value, equation\)"),
    ("{initial: 1}", r"own.yaml:\d+: auxiliaries.mixed.elements: `initial` defines an element of a stock; this is not a stock"),
    ("{equation: '1', in: [gain]}", r"`in` and `out` belong to a stock's element"),
])
def test_an_element_s_own_definition_that_cannot_be_read_is_refused(element: str, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        read_yaml_text(OWN.replace("a: {value: 7}", f"a: {element}"), "own.yaml")


PAIRS = """
model: pairs
time: {start: 0, stop: 1, dt: 1}
dimensions:
  dim: [a, b]
constants:
  matrix: {dims: [dim, dim], elements: {"a, a": 1, "a, b": 10, "b, a": 5, "b, b": 40}}
auxiliaries:
  doubled: {dims: [dim, dim], equation: "2", elements: {"a, b": "matrix[a, b] * 2"}}
  b2a: {equation: "matrix[b, a]"}
"""


def test_a_dimension_listed_twice_holds_pairs_of_its_elements_named_explicitly() -> None:
    model = pl.Model(read_yaml_text(PAIRS, "pairs.yaml"))
    assert model.ir.arrays["matrix"].dims == ("dim", "dim")
    ds = model.run(deterministic=True)
    assert _final(ds, "b2a") == 5.0 and _final(ds, "doubled[a,b]") == 20.0 and _final(ds, "doubled[b,b]") == 2.0
    with pytest.raises(ModelFileError, match=r"pairs.yaml:\d+: auxiliaries.twice.*matrix ranges over a whole dimension"):
        read_yaml_text(PAIRS + '  twice: {dims: [dim, dim], equation: "matrix * 2"}\n', "pairs.yaml")
