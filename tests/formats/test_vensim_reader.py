"""The Vensim reader: each supported construct against hand-computed values, and bad input as file:line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import policylab
from policylab.cli import app
from policylab.errors import ExpressionError, ModelFileError, PolicyLabError, UnreadableFileError
from policylab.formats.vensim import VensimReadWarning, read_vensim, read_vensim_bytes
from policylab.limits import VENSIM_BYTES
from policylab.model.ir import Constant, Flow, Lookup, Method, Stock

HERE = Path(__file__).resolve().parent / "vensim"
CONTROL = """
FINAL TIME = 4 ~ Day ~ |
INITIAL TIME = 0 ~ Day ~ |
SAVEPER = TIME STEP ~ Day ~ |
TIME STEP = 1 ~ Day ~ |
"""


def _run(name: str) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        result = policylab.load(HERE / name).run()
    return {key: np.asarray(result[key].values, dtype=float)[0] for key in result.data_vars}


def _read(text: str, file: str = "m.mdl") -> policylab.Model:
    return policylab.Model(read_vensim_bytes(text.encode("utf-8"), file))


# -- structure ---------------------------------------------------------------------------------
def test_teacup_reads_groups_units_comments_and_the_clock() -> None:
    with pytest.warns(VensimReadWarning, match="teacup.mdl: the sketch .* is ignored"):
        model = read_vensim(HERE / "teacup.mdl")
    assert (model.time.start, model.time.stop, model.time.dt, model.time.save_every) == (0, 30, 0.5, 1.0)
    assert model.time.units == "Minute" and model.time.method == Method.EULER
    cup = model.variables["teacup_temperature"]
    assert isinstance(cup, Stock) and cup.outflows == ("heat_loss_to_room",) and cup.inflows == ()
    assert cup.display == "Teacup Temperature" and cup.units == "Degrees Fahrenheit"
    assert cup.doc == "The temperature of the tea." and cup.sector == "Tea" and cup.where.line == 8
    assert isinstance(model.variables["heat_loss_to_room"], Flow)
    assert isinstance(model.variables["room_temperature"], Constant)
    assert not {"initial_time", "final_time", "time_step", "saveper"} & set(model.variables)


def test_teacup_integrates_with_euler() -> None:
    values = _run("teacup.mdl")
    temperature, expected = 180.0, []
    for step in range(61):
        if step % 2 == 0:
            expected.append(temperature)
        temperature -= 0.5 * (temperature - 70) / 10
    np.testing.assert_allclose(values["teacup_temperature"], expected, rtol=1e-12)


def test_a_rate_that_is_not_a_sum_of_auxiliaries_becomes_one_net_flow() -> None:
    model = _read("s = INTEG(2 * r - 1, 0) ~ ~ | r = 3 ~ ~ |" + CONTROL)
    stock = model.ir.variables["s"]
    assert isinstance(stock, Stock) and stock.inflows == ("s_net_flow",)
    np.testing.assert_allclose(model.run()["s"].values[0], [0, 5, 10, 15, 20])


# -- functions, operators, lookups, delays -----------------------------------------------------
def test_logic_arithmetic_and_math_functions() -> None:
    values = _run("functions.mdl")
    np.testing.assert_array_equal(values["cond"], [10, 0, 1, 1, 1, 10, 0])
    # MIN + 10 MAX + 100 ABS - 2^(3^2)/64: "^" groups from the right as in Vensim (the suite's arithmetics case)
    np.testing.assert_array_equal(values["arith"], [232, 233, 234, 235, 235, 245, 255])
    np.testing.assert_array_equal(values["math"], [20] * 7)  # INTEGER truncates, MODULO keeps the dividend's sign
    np.testing.assert_array_equal(values["zero_division"], [7] * 7)


def test_step_ramp_pulse_and_pulse_train() -> None:
    # STEP(5, 2) + 100 RAMP(1, 1, 3) + 1000 PULSE(3, 1) + 10000 PULSE TRAIN(1, 1, 2, 4)
    np.testing.assert_array_equal(_run("functions.mdl")["inputs"], [0, 10000, 105, 11205, 205, 205, 205])


def test_sample_if_true_holds_its_last_sample() -> None:
    values = _run("functions.mdl")
    np.testing.assert_array_equal(values["held"], [5, 5, 20, 30, 30, 30, 30])
    np.testing.assert_array_equal(values["held_plus_one"], [0, 0, 0, 0, 5, 5, 5])


def test_unchangeable_constant_is_a_constant() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        variable = read_vensim(HERE / "functions.mdl").variables["unchangeable"]
    assert isinstance(variable, Constant) and variable.value == 42


def test_named_inline_and_extrapolated_lookups() -> None:
    values = _run("lookups.mdl")
    np.testing.assert_allclose(values["named"], [0, 1, 2, 2.5, 3])
    np.testing.assert_allclose(values["unranged"], [10, 11, 12, 13, 14])
    np.testing.assert_allclose(values["inline"], [0, 10, 20, 30, 40])
    np.testing.assert_allclose(values["nested"], [2, 4, 6, 6, 6])  # clamped beyond the last point
    np.testing.assert_allclose(values["extrapolated"], [0, 2, 3, 4, 5])  # continues the last segment
    # effect: (0,0), (1,2), (2,3) at x = t / 2 = 0, 0.5, 1, 1.5, 2
    np.testing.assert_allclose(values["backward"], [0, 0, 2, 2, 3])
    np.testing.assert_allclose(values["forward"], [0, 2, 2, 3, 3])
    model = read_vensim(HERE / "lookups.mdl")
    assert isinstance(model.variables["inline"], Lookup) and model.variables["inline"].input is not None


def test_smooth_delay_trend_and_initial_families() -> None:
    values = _run("delays.mdl")
    half = [0, 0, 5, 7.5, 8.75, 9.375, 9.6875, 9.84375, 9.921875]  # x += (10 - x) / 2 from t = 1
    np.testing.assert_allclose(values["smoothed"], half)
    np.testing.assert_allclose(values["delayed"], half)  # DELAY1 and SMOOTH agree for a step under Euler
    np.testing.assert_allclose(values["smoothed_from"], [4, 2, 6, 8, 9, 9.5, 9.75, 9.875, 9.9375])
    third = [0, 0, 0, 0, 10, 10, 10, 10, 10]  # three stages of time 1 with DT 1: one step each
    np.testing.assert_allclose(values["smoothed_thrice"], third)
    np.testing.assert_allclose(values["smoothed_n"], third)
    np.testing.assert_allclose(values["delayed_thrice"], [1, 1, 1, 0, 10, 10, 10, 10, 10])
    np.testing.assert_allclose(values["delayed_n"], values["delayed_thrice"])
    np.testing.assert_allclose(values["pipeline"], [5, 5, 0, 10, 10, 10, 10, 10, 10])
    assert values["trend_of_input"][:2].tolist() == [0, 5]  # (11 - 1) / (1 * 2) once the input steps
    np.testing.assert_allclose(values["first_value"], [3] * 9)


def test_active_initial_starts_a_level_from_its_initial_equation() -> None:
    values = _run("delays.mdl")
    np.testing.assert_allclose(values["started"], 2 * np.arange(9))
    np.testing.assert_allclose(values["level"], 7 + np.concatenate([[0], np.cumsum(2 * np.arange(8))]))


def test_macros_expand_into_one_copy_per_call() -> None:
    values = _run("macros.mdl")
    np.testing.assert_allclose(values["twice"], 2 * np.arange(5) + 3)
    np.testing.assert_allclose(values["total"], 10 + np.arange(5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        model = read_vensim(HERE / "macros.mdl")
    assert {"twice.scaled.half_factor", "twice.scaled2.half_factor"} <= set(model.variables)
    assert isinstance(model.variables["total.accumulate.accumulate"], Stock)


def test_quoted_names_may_hold_operators_and_separators() -> None:
    model = _read('"a|b, c" = 2 ~ ~ | "x*y" = "a|b, c" * 3 ~ ~ |' + CONTROL)
    np.testing.assert_allclose(model.run()["x*y"].values[0], [6] * 5)


# -- bad input: file and line, the variable, what to do ----------------------------------------
@pytest.mark.parametrize(("text", "line", "message"), [
    ("a = 1 ~ ~ |\nb = (a + ~ ~ |" + CONTROL, 2, r"m\.mdl:2: cannot parse the equation: the equation ends too early"),
    ("a = 1 ~ ~ |\n\nb = a ** 2 ~ ~ |" + CONTROL, 3, r"m\.mdl:3: cannot parse the equation: unexpected '\*'"),
    ("a = A FUNCTION OF(Time) ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: A FUNCTION OF is a placeholder"),
    ("a = RANDOM NORMAL(0, 1, 0, 1, 1) ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: unknown function RANDOM NORMAL"),
    ("a = 1 + GET XLS CONSTANTS('x.xlsx', 'a', 'B2') ~ ~ |" + CONTROL, 1,
     r"m\.mdl:1: a: GET XLS CONSTANTS: .* as the whole equation"),
    ("a = GET XLS CONSTANTS('x.xlsx', 'a', 'B2') ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: the model was read from text"),
    ("a = FROBNICATE(1) ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: unknown function FROBNICATE"),
    ("a = 1 + INTEG(1, 0) ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: INTEG must be the whole equation"),
    ("a ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: a definition with no equation is not supported yet"),
    ("a := 1 ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: a data variable"),
    ("x = 1 ~ ~ |\n:MACRO: m(a)\nm = a ~ ~ |\n" + CONTROL, 2, r"m\.mdl:2: the macro m has no :END OF MACRO:"),
    ("x = 1 ~ ~ |\n:MACRO: m(a : b)\nm = a ~ ~ |\n:END OF MACRO:" + CONTROL, 2, r"m\.mdl:2: macro m: extra outputs"),
    (":MACRO: m(a)\nm = m(a) ~ ~ |\n:END OF MACRO:\nx = m(1) ~ ~ |" + CONTROL, 2, r"m\.mdl:2: .*more than 20 deep"),
    (":MACRO: m(a)\nm = a ~ ~ |\n:END OF MACRO:\nx = m(1, 2) ~ ~ |" + CONTROL, 4, r"m\.mdl:4: x: the macro m takes 1"),
    (":MACRO: m(a)\nk = a ~ ~ |\n:END OF MACRO:\nx = m(1) ~ ~ |" + CONTROL, 1, r"m\.mdl:1: macro m: no equation named m"),
    ("a = 1 ~ ~ |\na = 2 ~ ~ |" + CONTROL, 2, r"m\.mdl:2: a: defined twice \(first on line 1\)"),
    ("a = MIN(1) ~ ~ |" + CONTROL, 1, r"m\.mdl:1: a: MIN takes 2 arguments, got 1"),
    ("a = 1 ~ ~ |\nb = 2 ~ ~", 2, r"m\.mdl:2: the last equation does not end with '\|'"),
])
def test_bad_input_names_file_line_and_what_to_do(text: str, line: int, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        read_vensim_bytes(text.encode(), "m.mdl")


def test_lookup_points_out_of_order_are_sorted_by_x_with_a_warning() -> None:
    text = "t((2,0),(1,10),(0,4)) ~ ~ |\ny = t(Time / 2) ~ ~ |" + CONTROL
    with pytest.warns(VensimReadWarning, match=r"m\.mdl:1: t: the lookup's x values \[2.0, 1.0, 0.0\] do not increase"):
        model = policylab.Model(read_vensim_bytes(text.encode(), "m.mdl"))
    # the points (0,4), (1,10), (2,0) at x = 0, 0.5, 1, 1.5, 2
    np.testing.assert_allclose(model.run()["y"].values[0], [4, 7, 10, 5, 0])


def test_reality_checks_are_left_out_of_the_simulation_with_a_warning() -> None:
    text = ("x = 2 ~ ~ |\nzero x:TEST INPUT: x = 0 ~ ~ |\nholds:THE CONDITION: zero x :IMPLIES: x = 0 ~ ~ |"
            + CONTROL)
    with pytest.warns(VensimReadWarning, match=r"a reality check") as caught:
        model = read_vensim_bytes(text.encode(), "m.mdl")
    assert [str(w.message).split(" is left out")[0] for w in caught] == [
        "m.mdl:2: zero x: a reality check (:TEST INPUT:)", "m.mdl:3: holds: a reality check (:THE CONDITION:)"]
    assert set(model.variables) == {"x"}


def test_get_time_value_is_the_current_or_initial_time_plus_offset_and_clock_forms_are_refused() -> None:
    clock = CONTROL.replace("INITIAL TIME = 0", "INITIAL TIME = 10").replace("FINAL TIME = 4", "FINAL TIME = 14")
    model = _read("later = GET TIME VALUE(0, 2.5, 0) ~ ~ | since = GET TIME VALUE(1, Time - 12, 0) ~ ~ |" + clock)
    result = model.run()
    np.testing.assert_array_equal(result["later"].values[0], [12.5, 13.5, 14.5, 15.5, 16.5])
    np.testing.assert_array_equal(result["since"].values[0], [8, 9, 10, 11, 12])  # INITIAL TIME + offset
    refused = {"GET TIME VALUE(2, 0, 1)": r"m\.mdl:1: now: GET TIME VALUE\(2, …\) reads the computer's clock",
               "GET TIME VALUE(0, 0, 3)": r"m\.mdl:1: now: GET TIME VALUE: measure 3 is a calendar measure",
               "GET TIME VALUE(5, 0, 0)": r"relativeto must be 0, 1 or 2, got 5",
               "GET TIME VALUE(Time, 0, 0)": r"give relativeto and measure as numbers"}
    for call, message in refused.items():
        with pytest.raises(ModelFileError, match=message):
            read_vensim_bytes((f"now = {call} ~ ~ |" + CONTROL).encode(), "m.mdl")


def test_a_missing_or_dynamic_time_setting_is_a_clear_error() -> None:
    with pytest.raises(ModelFileError, match=r"m\.mdl: the model does not define TIME STEP"):
        read_vensim_bytes(b"a = 1 ~ ~ |\nFINAL TIME = 1 ~ ~ |\nINITIAL TIME = 0 ~ ~ |", "m.mdl")
    with pytest.raises(ModelFileError, match=r"m\.mdl:2: FINAL TIME: a time setting must be a number"):
        read_vensim_bytes(CONTROL.replace("FINAL TIME = 4", "FINAL TIME = a").encode() + b"a = 1 ~ ~ |", "m.mdl")


def test_a_saveper_between_steps_is_rounded_with_a_warning() -> None:
    with pytest.warns(VensimReadWarning, match=r"m\.mdl: SAVEPER 1.5 is not a multiple of TIME STEP 1; saving every 2"):
        model = read_vensim_bytes(("a = 1 ~ ~ |" + CONTROL.replace("SAVEPER = TIME STEP", "SAVEPER = 1.5")).encode(),
                                  "m.mdl")
    assert model.time.save_every == 2


def test_an_unknown_name_is_an_error_at_compile_time_naming_the_variable() -> None:
    with pytest.raises(PolicyLabError, match="nowhere"):
        _read("a = nowhere + 1 ~ ~ |" + CONTROL).run()


def test_an_order_is_fixed_at_the_initial_time_as_vensim_does() -> None:
    text = "o = 2 + STEP(1, 2) ~ ~ | a = SMOOTH N(Time, 2, 0, o) ~ ~ | b = SMOOTH N(Time, 2, 0, 2) ~ ~ |"
    with pytest.warns(VensimReadWarning, match=r"m\.mdl:1: a: the order of SMOOTH N is taken as 2 from its value"):
        model = _read(text + CONTROL)
    result = model.run()
    np.testing.assert_allclose(result["a"].values, result["b"].values)


def test_a_delay_n_order_is_lowered_when_the_stages_would_be_shorter_than_a_step() -> None:
    text = "x = STEP(1, 1) ~ ~ | a = DELAY N(x, 1, 0, 3) ~ ~ | b = DELAY1(x, 1) ~ ~ |"
    with pytest.warns(VensimReadWarning, match=r"DELAY N is lowered from 3 to 1 because the delay time 1 is less"):
        model = _read(text + CONTROL)
    result = model.run()
    np.testing.assert_allclose(result["a"].values, result["b"].values)


def _discrete_delay_n(inputs: list[float], delays: list[float], initial: float, n: int) -> list[float]:
    """DELAY N by hand, as Vensim's reference describes it: Euler stages, the last one emptying over the previous
    step's delay time (the output depends only on the delay times of earlier steps)."""
    levels = [initial * delays[0] / n] * n
    out = []
    for step, (x, tau) in enumerate(zip(inputs, delays, strict=True)):
        stage_times = [tau / n] * (n - 1) + [delays[max(step - 1, 0)] / n]
        flows = [level / time for level, time in zip(levels, stage_times, strict=True)]
        out.append(flows[-1])
        levels = [level + into - away for level, into, away in zip(levels, [x, *flows[:-1]], flows, strict=True)]
    return out


@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_delay_n_whose_delay_time_changes_follows_it_one_step_late_as_vensim_does(order: int) -> None:
    text = (f"d = 4 + STEP(2, 6) - STEP(1, 9) ~ ~ | x = -1 + STEP(5, 2) ~ ~ | a = DELAY N(x, d, 6, {order}) ~ ~ |"
            + CONTROL.replace("FINAL TIME = 4", "FINAL TIME = 14"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", VensimReadWarning)  # nothing to warn about: this is Vensim's behaviour
        result = _read(text).run()
    times = range(15)
    delays = [4 + 2 * (t >= 6) - (t >= 9) for t in times]
    inputs = [-1 + 5 * (t >= 2) for t in times]
    np.testing.assert_allclose(result["a"].values[0], _discrete_delay_n(inputs, delays, 6, order), rtol=1e-12)


def test_a_delay_n_with_a_constant_delay_time_is_the_usual_chain_of_stages() -> None:
    a = _read("d = 2 ~ ~ | a = DELAY N(STEP(1, 1), d, 0, 2) ~ ~ |" + CONTROL).ir.variables["a"]
    assert "previous" not in repr(a.equation)


def test_an_order_that_depends_on_a_level_history_is_refused_by_the_compiler() -> None:
    with pytest.raises(ExpressionError, match="order"):
        _read("s = INTEG(1, 2) ~ ~ | o = DELAY1(s, 2) ~ ~ | a = SMOOTH N(Time, 2, 0, o) ~ ~ |" + CONTROL).run()


def test_a_model_over_the_byte_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VENSIM_BYTES.variable, "64")
    big = tmp_path / "big.mdl"
    big.write_text("a = 1 ~ ~ |" + CONTROL, encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="POLICYLAB_LIMIT_VENSIM_BYTES"):
        policylab.load(big)


def test_an_equation_nested_too_deep_is_refused_not_a_recursion_traceback() -> None:
    model = _read("a = " + "+".join(["Time"] * 200) + " ~ ~ |" + CONTROL)
    np.testing.assert_allclose(model.run()["a"].values[0], 200 * np.arange(5))
    with pytest.raises(ModelFileError, match=r"m\.mdl:1: a: the equation nests operations more than 250 deep"):
        read_vensim_bytes(("a = " + "+".join(["Time"] * 5000) + " ~ ~ |" + CONTROL).encode(), "m.mdl")


def test_latin1_text_is_read() -> None:
    model = read_vensim_bytes(("caf\xe9 = 1 ~ ~ |" + CONTROL).encode("latin-1"), "m.mdl")
    assert model.variables["café"].display == "café"


# -- the command line takes .mdl like any model --------------------------------------------------
@pytest.mark.parametrize("command", [["run"], ["check"], ["diagram", "--format", "dot"], ["validate"], ["explore"]])
def test_cli_verbs_take_an_mdl(command: list[str], tmp_path: Path) -> None:
    args = [*command, str(HERE / "teacup.mdl")]
    if command == ["run"]:
        args += ["--out", str(tmp_path / "out.csv")]
    if command == ["explore"]:
        args += ["-n", "8", "--outcome", "final=teacup_temperature:final", "--store", str(tmp_path / "store")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"


@pytest.mark.skipif(not (SHARED / "rivals.mdl").exists(), reason="shared benchmark models not present")
@pytest.mark.parametrize("name", ["teacup", "rivals"])
def test_mdl_and_xmile_twins_of_the_benchmark_models_give_the_same_results(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vensim = policylab.load(SHARED / f"{name}.mdl").run()
        xmile = policylab.load(SHARED / f"{name}.xmile").run()
    assert set(vensim.data_vars) == set(xmile.data_vars)
    for key in xmile.data_vars:
        np.testing.assert_allclose(vensim[key].values, xmile[key].values, rtol=1e-12, atol=0, err_msg=key)
