"""Vensim subscripts: ranges, subscripted equations and the functions over arrays, against hand-computed values,
and bad input as file:line errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import policylab
from policylab.errors import ModelFileError
from policylab.formats.vensim import VensimReadWarning, read_vensim_bytes
from policylab.formats.vensim.equations import NA_VALUE
from policylab.model.ir import Constant, Flow, Lookup, Stock

CONTROL = """
FINAL TIME = 4 ~ Day ~ |
INITIAL TIME = 0 ~ Day ~ |
SAVEPER = TIME STEP ~ Day ~ |
TIME STEP = 1 ~ Day ~ |
"""
REGION = "Region: north, south, east ~ ~ |\nCoast: north, east ~ ~ |\n"


def _model(text: str) -> policylab.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        return policylab.Model(read_vensim_bytes((text + CONTROL).encode(), "m.mdl"))


def _run(text: str) -> dict[str, np.ndarray]:
    """Every scalar variable's values in one run (constants, which results leave out, as a series)."""
    model = _model(text)
    result = model.run()
    values = {key: np.asarray(result[key].values, dtype=float)[0] for key in result.data_vars
              if result[key].ndim == 2}
    times = len(result["time"])
    values.update({name: np.full(times, var.value) for name, var in model.ir.variables.items()
                   if isinstance(var, Constant)})
    return values


def _final(values: dict[str, np.ndarray], *names: str) -> list[float]:
    return [float(values[name][-1]) for name in names]


# -- ranges ------------------------------------------------------------------------------------
def test_ranges_numeric_ranges_subranges_equivalences_and_mappings_become_dimensions() -> None:
    model = _model(REGION + """
Age: (a1-a3), old ~ ~ |
Place <-> Region ~ ~ |
Src: s1, s2 -> Dst ~ ~ |
Dst: d1, d2 ~ ~ |
Rev: r1, r2 -> (Dst: d2, d1), Src ~ ~ |
x = 1 ~ ~ |
""")
    dims = model.ir.dimensions
    assert dims["age"].elements == ("a1", "a2", "a3", "old")
    assert dims["coast"].parent == "region" and dims["region"].parent == ""
    assert dims["place"].elements == dims["region"].elements
    assert dims["src"].mapping == {"dst": ("d1", "d2")}
    assert dims["rev"].mapping == {"dst": ("d2", "d1"), "src": ("s1", "s2")}
    assert dims["region"].displays == ("north", "south", "east") and dims["region"].display == "Region"
    order = list(dims)  # a mapping's targets come before it (writers declare a dimension before its use)
    assert order.index("dst") < order.index("src") < order.index("rev")


# -- subscripted equations ---------------------------------------------------------------------
def test_an_arrayed_level_grows_element_by_element() -> None:
    values = _run(REGION + """
growth[Region] = 0.1, 0.2, 0.3 ~ 1/Day ~ |
pop[Region] = INTEG(births[Region], init[Region]) ~ people ~ |
births[Region] = pop[Region] * growth[Region] ~ people/Day ~ |
init[north] = 100 ~ ~ |
init[south] = 200 ~ ~ |
init[east] = 300 ~ ~ |
""")
    # Euler with a step of 1: pop = init * (1 + growth)^4
    np.testing.assert_allclose(_final(values, "pop[north]", "pop[south]", "pop[east]"),
                               [100 * 1.1**4, 200 * 1.2**4, 300 * 1.3**4])
    model = _model(REGION + "g[Region] = 1 ~ ~ |\np[Region] = INTEG(f[Region], 0) ~ ~ |\nf[Region] = g[Region] ~ ~ |")
    assert isinstance(model.ir.variables["p[south]"], Stock)
    assert model.ir.variables["p[south]"].inflows == ("f[south]",)
    assert isinstance(model.ir.variables["f[east]"], Flow)
    assert model.ir.arrays["p"].dims == ("region",) and model.ir.arrays["p"].kind == "stock"
    assert model.ir.arrays["g"].kind == "constant" and model.ir.elements_of("g") == ["g[north]", "g[south]", "g[east]"]


def test_subrange_element_and_except_definitions_fill_one_array() -> None:
    values = _run(REGION + """
tax[Coast] = 1 ~ ~ |
tax[south] = 2 ~ ~ |
rate[Region] :EXCEPT: [south] = 10 + tax[Region] ~ ~ |
rate[south] = Time ~ ~ |
""")
    assert _final(values, "tax[north]", "tax[south]", "tax[east]") == [1, 2, 1]
    assert _final(values, "rate[north]", "rate[south]", "rate[east]") == [11, 4, 11]


def test_value_lists_fill_rows_then_columns_and_tabbed_arrays_too() -> None:
    values = _run(REGION + """
Age: (a1-a3) ~ ~ |
m[Region, Age] = 1, 2, 3; 4, 5, 6; 7, 8, 9; ~ ~ |
t[Age] = TABBED ARRAY(4 5 -6) ~ ~ |
col[Region, a1] = 10, 20, 30 ~ ~ |
col[Region, a2] = 0 ~ ~ |
col[Region, a3] = m[Region, a3] ~ ~ |
""")
    assert _final(values, "m[north,a1]", "m[south,a3]", "m[east,a2]") == [1, 6, 8]
    assert _final(values, "t[a1]", "t[a3]") == [4, -6]
    assert _final(values, "col[south,a1]", "col[east,a2]", "col[east,a3]") == [20, 0, 9]


def test_a_variable_defined_over_part_of_a_range_is_an_array_over_those_elements_with_a_warning() -> None:
    text = REGION + "v[north] = 1 ~ ~ |\nv[south] = 3 ~ ~ |\n" + CONTROL
    with pytest.warns(VensimReadWarning, match=r"m\.mdl:3: v\[north\]: no equation defines east of Region"):
        model = policylab.Model(read_vensim_bytes(text.encode(), "m.mdl"))
    assert model.ir.elements_of("v") == ["v[north]", "v[south]"]


def test_mappings_pair_elements_by_position_by_list_and_from_a_subrange() -> None:
    values = _run("""
Src: s1, s2 -> Dst ~ ~ |
Dst: d1, d2 ~ ~ |
Rev: r1, r2 -> (Dst: d2, d1) ~ ~ |
from[Src] = 5, 7 ~ ~ |
to[Dst] = from[Src] * 2 ~ ~ |
back[Src] = to[Dst] ~ ~ |
reversed[Rev] = 1, 2 ~ ~ |
torev[Dst] = reversed[Rev] ~ ~ |
Cohort: young, mid, old ~ ~ |
Older: mid, old ~ ~ |
Previous: young, mid -> Older ~ ~ |
aging[Cohort] = 10, 20, 30 ~ ~ |
entering[Older] = aging[Previous] ~ ~ |
Same <-> Cohort ~ ~ |
copy[Same] = aging[Same] + 1 ~ ~ |
""")
    assert _final(values, "to[d1]", "to[d2]", "back[s2]") == [10, 14, 14]
    assert _final(values, "torev[d1]", "torev[d2]") == [2, 1]
    assert _final(values, "entering[mid]", "entering[old]") == [10, 20]
    assert _final(values, "copy[young]", "copy[old]") == [11, 31]


def test_range_and_element_names_as_values_count_positions_in_the_family() -> None:
    values = _run(REGION + """
pos[Region] = Region ~ ~ |
coast pos[Coast] = Coast ~ ~ |
is east[Region] = IF THEN ELSE(Region = east, 1, 0) ~ ~ |
same[Region, Coast] = IF THEN ELSE(Region = Coast, 1, 0) ~ ~ |
""")
    assert _final(values, "pos[north]", "pos[south]", "pos[east]") == [1, 2, 3]
    assert _final(values, "coast_pos[north]", "coast_pos[east]") == [1, 3]  # east is the third of its family
    assert _final(values, "is_east[south]", "is_east[east]") == [0, 1]
    assert _final(values, "same[east,east]", "same[north,east]", "same[north,north]") == [1, 0, 1]


def test_subscripted_lookups_and_with_lookup_apply_per_element() -> None:
    model = _model(REGION + """
shape[north]( (0,0),(10,10)) ~ ~ |
shape[south]( (0,0),(10,20)) ~ ~ |
shape[east]( (0,0),(10,30)) ~ ~ |
y[Region] = shape[Region](5) ~ ~ |
z = shape[east](5) + shape[north](1) ~ ~ |
g[Region] = 1, 2, 3 ~ ~ |
w[Region] = WITH LOOKUP(g[Region], ((0,0),(5,50))) ~ ~ |
""")
    assert isinstance(model.ir.variables["shape[east]"], Lookup)
    result = model.run()
    assert [float(result[f"y[{r}]"].values[0, -1]) for r in ("north", "south", "east")] == [5, 10, 15]
    assert [float(result[f"w[{r}]"].values[0, -1]) for r in ("north", "east")] == [10, 30]
    assert float(result["z"].values[0, -1]) == 15 + 1


def test_smooths_and_delays_of_arrays_run_per_element() -> None:
    values = _run(REGION + """
x[Region] = 1, 2, 4 ~ ~ |
s[Region] = SMOOTHI(x[Region], 2, 0) ~ ~ |
d[Region] = DELAY1I(x[Region], 1, 0) ~ ~ |
""")
    # s(t+1) = s + (x - s) / 2 from 0: x * (1 - 0.5^t)
    np.testing.assert_allclose(values["s[north]"], [0, 0.5, 0.75, 0.875, 0.9375])
    np.testing.assert_allclose(values["s[east]"], [0, 2, 3, 3.5, 3.75])
    # a first-order delay of 1 step from 0: the input one step later
    np.testing.assert_allclose(values["d[south]"], [0, 2, 2, 2, 2])


# -- functions over arrays ---------------------------------------------------------------------
def test_sum_prod_vmin_vmax_over_ranges_subranges_and_elmcount() -> None:
    values = _run(REGION + """
Age: (a1-a3) ~ ~ |
m[Region, Age] = 1, 2, 3; 4, 5, 6; 7, 8, 9; ~ ~ |
col[Age] = SUM(m[Region!, Age]) ~ ~ |
row max[Region] = VMAX(m[Region, Age!]) ~ ~ |
least = VMIN(m[Region!, Age!]) ~ ~ |
product = PROD(m[north, Age!]) ~ ~ |
coast total = SUM(m[Coast!, a1]) ~ ~ |
count = ELMCOUNT(Region) * 10 + ELMCOUNT(Coast) ~ ~ |
weighted = SUM(m[Region!, a1] * m[Region!, a2]) ~ ~ |
""")
    assert _final(values, "col[a1]", "col[a2]", "col[a3]") == [12, 15, 18]
    assert _final(values, "row_max[north]", "row_max[east]") == [3, 9]
    assert _final(values, "least", "product", "coast_total", "count", "weighted") == [1, 6, 8, 32, 1 * 2 + 4 * 5 + 7 * 8]


def test_vector_select_combines_the_selected_elements_by_action() -> None:
    values = _run(REGION + """
sel[Region] = 1, 0, 1 ~ ~ |
vals[Region] = 2, 3, 4 ~ ~ |
none[Region] = 0 ~ ~ |
weighted sum = VECTOR SELECT(sel[Region!], vals[Region!], -1, 0, 0) ~ ~ |
largest = VECTOR SELECT(sel[Region!], vals[Region!], -1, 9, 0) ~ ~ |
nothing = VECTOR SELECT(none[Region!], vals[Region!], -1, 0, 0) ~ ~ |
by time = VECTOR SELECT(sel[Region!], vals[Region!], -1, Time, 0) ~ ~ |
""")
    assert _final(values, "weighted_sum", "largest", "nothing") == [6, 4, -1]
    # actions 0..4 on 1*2 and 1*4: sum, product, minimum, maximum, mean
    np.testing.assert_array_equal(values["by_time"], [6, 8, 2, 4, 3])


def test_vector_elm_map_sort_order_rank_and_reorder() -> None:
    values = _run(REGION + """
vals[Region] = 2, 3, 4 ~ ~ |
offset[Region] = 2, 0, 1 ~ ~ |
mapped[Region] = VECTOR ELM MAP(vals[north], offset[Region]) ~ ~ |
beyond = VECTOR ELM MAP(vals[south], 5) ~ ~ |
v[Region] = 30, 10, 20 ~ ~ |
up[Region] = VECTOR SORT ORDER(v[Region], 1) ~ ~ |
down[Region] = VECTOR SORT ORDER(v[Region], 0) ~ ~ |
rank[Region] = VECTOR RANK(v[Region], 1) ~ ~ |
sorted[Region] = VECTOR REORDER(v[Region], up[Region]) ~ ~ |
""")
    assert _final(values, "mapped[north]", "mapped[south]", "mapped[east]") == [4, 2, 3]
    assert _final(values, "beyond") == [NA_VALUE]
    assert _final(values, "up[north]", "up[south]", "up[east]") == [1, 2, 0]
    assert _final(values, "down[north]", "down[south]", "down[east]") == [0, 2, 1]
    assert _final(values, "rank[north]", "rank[south]", "rank[east]") == [3, 1, 2]
    assert _final(values, "sorted[north]", "sorted[south]", "sorted[east]") == [10, 20, 30]


def test_invert_matrix_inverts_constant_and_changing_matrices() -> None:
    values = _run("""
Row: r1, r2 ~ ~ |
Col: c1, c2 ~ ~ |
Row3: (a1-a3) ~ ~ |
Col3: (b1-b3) ~ ~ |
m[Row, Col] = 4, 7; 2, 6; ~ ~ |
inv[Row, Col] = INVERT MATRIX(m[Row, Col], 2) ~ ~ |
moving[r1, c1] = Time + 1 ~ ~ |
moving[r1, c2] = 0 ~ ~ |
moving[r2, Col] = 0, 2 ~ ~ |
inv moving[Row, Col] = INVERT MATRIX(moving[Row, Col], 2) ~ ~ |
m3[Row3, Col3] = 2, 0, 0; 0, 4, 0; 1, 0, 1; ~ ~ |
inv3[Row3, Col3] = INVERT MATRIX(m3[Row3, Col3], 3) ~ ~ |
""")
    # [[4, 7], [2, 6]]^-1 = [[6, -7], [-2, 4]] / 10
    np.testing.assert_allclose(_final(values, "inv[r1,c1]", "inv[r1,c2]", "inv[r2,c1]", "inv[r2,c2]"),
                               [0.6, -0.7, -0.2, 0.4])
    np.testing.assert_allclose(values["inv_moving[r1,c1]"], [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    np.testing.assert_allclose(_final(values, "inv_moving[r2,c2]", "inv_moving[r1,c2]"), [0.5, 0])
    np.testing.assert_allclose(_final(values, "inv3[a1,b1]", "inv3[a2,b2]", "inv3[a3,b1]", "inv3[a3,b3]",
                                      "inv3[a1,b3]"), [0.5, 0.25, -0.5, 1, 0], atol=1e-12)


def test_a_model_with_arrays_is_constant_where_it_should_be() -> None:
    model = _model(REGION + "g[Region] = 1, 2, 3 ~ ~ |\nh[Region] = g[Region] * 2 ~ ~ |")
    assert isinstance(model.ir.variables["g[east]"], Constant)
    assert model.ir.arrays["h"].equation_text == "g[Region] * 2"
    assert model.ir.arrays["g"].equation_text == "1, 2, 3"


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    (REGION + "x[Region] = 1 ~ ~ |\ny = x[west] ~ ~ |", r"m\.mdl:4: y: x\[...\] uses 'west', which is not an element "
     r"of Region"),
    (REGION + "x[west] = 1 ~ ~ |", r"m\.mdl:3: x\[west\]: 'west' is neither a subscript range nor an element"),
    (REGION + "Other: p, q ~ ~ |\nx[Region] = 1 ~ ~ |\ny[Other] = x[Other] ~ ~ |",
     r"m\.mdl:5: y\[p\]: x\[Other\]: dimension Other does not match Region"),
    (REGION + "x[Region] = 1 ~ ~ |\ny = x[north, south] ~ ~ |", r"m\.mdl:4: y: .*gives 2 subscript\(s\); 'x' has 1"),
    (REGION + "x[Region] = 1 ~ ~ |\ny = x[Region] ~ ~ |", r"m\.mdl:4: y: x\[region\] ranges over a whole dimension"),
    ("Src: s1, s2, s3 -> Dst ~ ~ |\nDst: d1, d2 ~ ~ |\nx = 1 ~ ~ |",
     r"m\.mdl:1: Src: the mapping onto Dst pairs 3 element\(s\) with 2"),
    ("Src: s1, s2 -> (Dst: d1, zz) ~ ~ |\nDst: d1, d2 ~ ~ |\nx = 1 ~ ~ |",
     r"m\.mdl:1: Src: the mapping onto Dst names zz"),
    ("Src: s1, s2 -> Nowhere ~ ~ |\nx = 1 ~ ~ |", r"m\.mdl:1: Src: maps onto 'Nowhere', which is not a defined range"),
    ("Age: (a3-a1) ~ ~ |\nx = 1 ~ ~ |", r"m\.mdl:1: Age: '\(a3-a1\)' counts from 3 to 1"),
    ("A <-> B ~ ~ |\nx = 1 ~ ~ |", r"m\.mdl:1: A: the equivalent range 'B' is not defined"),
    (REGION + "x[Region] = 1, 2 ~ ~ |", r"m\.mdl:3: x\[region\]: lists 2 value\(s\) for 3 element\(s\)"),
    (REGION + "x[north] = 1 ~ ~ |\nx[Region] = 2 ~ ~ |", r"m\.mdl:4: x\[region\]: defines element \[north\] again "
     r"\(also on line 3\)"),
    (REGION + "x[Region] :EXCEPT: [north, south] = 1 ~ ~ |", r"m\.mdl:3: x\[region\]: :EXCEPT: \[north, south\] gives 2"),
    (REGION + "x[Region] = 1 ~ ~ |\nx = 2 ~ ~ |", r"m\.mdl:\d: x.*defined both with and without subscripts"),
    (REGION + "x[Region] = 1 ~ ~ |\ny = SUM(x[Foo!]) ~ ~ |", r"m\.mdl:4: y: x\[foo!\]: 'foo' is not a dimension"),
    (REGION + "y = ELMCOUNT(y) ~ ~ |", r"m\.mdl:3: y: ELMCOUNT takes the name of one subscript range"),
    (REGION + "x[Region] = 1 ~ ~ |\ny = VMIN(x[Region!], 2) ~ ~ |", r"m\.mdl:4: y: VMIN takes one argument"),
    (REGION + "a = 1 ~ ~ |\ny = a[north] ~ ~ |", r"m\.mdl:4: y: a\[north\] subscripts 'a', which is not an array"),
    (REGION + "Region: a, b ~ ~ |\nx = 1 ~ ~ |", r"m\.mdl:3: Region: the range is defined twice \(first on line 1\)"),
    (REGION + "x = 1, 2 ~ ~ |", r"m\.mdl:3: x: a list of values needs subscripts"),
    ("Row: r1, r2 ~ ~ |\nCol: c1, c2, c3 ~ ~ |\nm[Row, Col] = 1 ~ ~ |\ni[Row, Col] = INVERT MATRIX(m[Row, Col], 2) ~ ~ |",
     r"m\.mdl:4: i\[r1,c1\]: INVERT MATRIX needs a square matrix"),
    (REGION + "x[Region] = 1 ~ ~ |\ny[Region] = ALLOCATE AVAILABLE(x[Region], x[Region], 5) ~ ~ |",
     r"m\.mdl:4: y\[north\]: ALLOCATE AVAILABLE is not supported yet"),
    (REGION + "x[Region] = 1 ~ ~ |\ny = ALLOCATE BY PRIORITY(x, x, 3, 1, 5) ~ ~ |",
     r"m\.mdl:4: y: ALLOCATE BY PRIORITY takes an array over a subscript range"),
])
def test_bad_subscripts_name_file_line_and_what_to_do(text: str, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        read_vensim_bytes((text + CONTROL).encode(), "m.mdl")


def test_allocate_by_priority_serves_higher_priorities_first_within_the_width() -> None:
    # requests 3, 6, 2.5, 2 at priorities 10, 9, 7, 2, width 3. Supply 5: the first two share it at the level
    # q = 9 - 4/3 (1 + 3 (9 - q) = 5), so 3 (10 - q) / 3 and 6 (9 - q) / 3. Supply 9: at q = 7 the first is full
    # (3) and the second has 4; then the second and third take 2 + 2.5/3 a unit: q = 7 - 2 / (2 + 2.5/3).
    # Supply 20 covers every request.
    values = _run("""
Who: a, b, c, d ~ ~ |
request[Who] = 3, 6, 2.5, 2 ~ ~ |
priority[Who] = 10, 9, 7, 2 ~ ~ |
five[Who] = ALLOCATE BY PRIORITY(request[Who], priority[Who], ELMCOUNT(Who), 3, 5) ~ ~ |
nine[Who] = ALLOCATE BY PRIORITY(request[Who], priority[Who], ELMCOUNT(Who), 3, 8 + Time + 1 - Time) ~ ~ |
plenty[Who] = ALLOCATE BY PRIORITY(request[Who], priority[Who], ELMCOUNT(Who), 3, 20) ~ ~ |
""")
    q5, q9 = 9 - 4 / 3, 7 - 2 / (2 + 2.5 / 3)
    np.testing.assert_allclose(_final(values, *(f"five[{e}]" for e in "abcd")), [10 - q5, 2 * (9 - q5), 0, 0],
                               atol=1e-12)
    np.testing.assert_allclose(_final(values, *(f"nine[{e}]" for e in "abcd")),
                               [3, 2 * (9 - q9), 2.5 * (7 - q9) / 3, 0], atol=1e-12)
    assert _final(values, *(f"plenty[{e}]" for e in "abcd")) == [3, 6, 2.5, 2]


def test_allocate_by_priority_refuses_a_width_that_is_not_positive() -> None:
    with pytest.raises(ModelFileError, match=r"m\.mdl:3: give\[a\]: ALLOCATE BY PRIORITY: the width must be greater"):
        _model("Who: a, b ~ ~ |\nr[Who] = 1, 2 ~ ~ |\ngive[Who] = ALLOCATE BY PRIORITY(r[Who], r[Who], 2, 0, 1) ~ ~ |\n")


def test_calls_of_one_elements_lookup_survive_mdl_to_yaml_to_xmile() -> None:
    from policylab.formats.xmile.reader import read_xmile_bytes
    from policylab.formats.xmile.writer import write_xmile
    from policylab.formats.yaml_reader import read_yaml_text
    from policylab.formats.yaml_writer import write_yaml

    model = _model(REGION + "t[north]((0, 0), (10, 10)) ~ ~ | t[south]((0, 0), (10, 20)) ~ ~ |"
                   "t[east]((0, 0), (10, 30)) ~ ~ | own[Region] = t[Region](Time) ~ ~ | "
                   "fixed[Region] = t[south](Time + 1) ~ ~ |")
    as_yaml = read_yaml_text(write_yaml(model.ir), "copy.yaml")  # writes t[south](time + 1): read back as the call
    as_xmile = read_xmile_bytes(write_xmile(as_yaml).encode(), "copy.xmile")  # a <gf> array, points per <element>
    expected = model.run()
    np.testing.assert_allclose(expected["fixed[north]"].values[0], [2, 4, 6, 8, 10])
    np.testing.assert_allclose(expected["own[east]"].values[0], [0, 3, 6, 9, 12])
    for copy in (as_yaml, as_xmile):
        result = policylab.Model(copy).run()
        for name in ("own[north]", "own[south]", "own[east]", "fixed[north]", "fixed[east]"):
            np.testing.assert_allclose(result[name].values, expected[name].values, err_msg=name)


def test_net_flows_and_sample_states_made_for_each_element_are_arrays_over_its_dimensions() -> None:
    model = _model(REGION + "rate[Region] = 1, 2, 3 ~ ~ |\n"
                   "pool[Region] = INTEG(rate[Region] * 2, 0) ~ ~ |\n"
                   "kept[Region] = SAMPLE IF TRUE(Time > 1, pool[Region], 0) ~ ~ |\n")
    ir = model.ir
    assert ir.arrays["pool_net_flow"].dims == ("region",) and ir.arrays["pool_net_flow"].kind == "flow"
    assert ir.variables["pool[south]"].inflows == ("pool_net_flow[south]",)
    assert ir.arrays["kept_sample"].dims == ("region",)
    assert model.run()["pool"].isel(run=0, time=-1).values.tolist() == [8.0, 16.0, 24.0]
