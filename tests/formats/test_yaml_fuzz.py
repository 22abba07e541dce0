"""Fuzzing the YAML reader and the whole pipeline with damaged model files.

Valid models are damaged line by line (deleted, duplicated, swapped, garbled, re-indented
lines; values of the wrong type, huge numbers, random keys, deep nesting) and byte by
byte (binary junk, truncation). Reading must give a model or a PolicyLabError with a
message; so must compiling and running a short simulation of whatever still loads, and
of models whose equations are generated from every builtin and operator. Any
other exception fails the test; a hang is stopped by pytest-timeout. The default run
tries a few hundred cases per test; ``-m slow`` runs the same checks on many more.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylab import PolicyLabError
from policylab.api import Model
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, UnaryOp, to_text
from policylab.expr.builtins import ALIASES, BUILTINS
from policylab.formats.yaml_reader import read_yaml_text
from policylab.model.ir import Model as ModelIR

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_STEPS = 40  # runs of loaded models are cut to this many steps: the fuzz is about failures, not speed

POLICY = """\
model: policy-fuzz
doc: "Levers, scenarios, judgement parameters, RK4."
time: {start: 0, stop: 20, dt: 0.5, units: year, save_every: 1, method: rk4}
default_scenario: baseline
sources:
  report: {title: "A report", publisher: "Someone", date: 2020-06-16, file: report.txt}
constants:
  population: {value: 1000, units: person, doc: "People"}
  contact_rate: {value: 3, units: 1/year, range: [1, 5], judgement: true, basis: "a guess"}
  recovery_time: {value: 2, units: year, range: [1, 4], judgement: true, distribution: triangular}
  tiny: 3.5
levers:
  distancing:
    baseline: 0
    range: [0, 1]
    path: {5: 0.5, 10: 0.2}
    interpolation: linear
stocks:
  susceptible: {initial: population - 1, out: [infection], non_negative: true}
  infected: {initial: 1, in: [infection], out: [recovery]}
  recovered: {initial: 0, in: [recovery]}
flows:
  infection:
    equation: contact_rate * (1 - distancing) * susceptible * infected / population
    non_negative: true
    evidence:
      - {from: infected, sign: "+", source: report, quote: "more infected, more infections"}
      - {from: distancing, sign: "-", assumption: "avoided contacts do not transmit"}
  recovery: {equation: infected / recovery_time}
auxiliaries:
  prevalence: {equation: infected / population, units: "1"}
scenarios:
  baseline: {doc: "as written"}
  lockdown:
    policy_from: 4
    set:
      contact_rate: 1.5
      distancing: {path: {4: 0.8}}
"""

CALENDAR = """\
model: calendar-fuzz
time: {start: 2020-01-01, stop: 2020-03-01, dt: 1, units: day}
lookups:
  effect: {points: [[0, 1], [50, 0.5], [100, 0]], extrapolation: linear}
  steps: {points: [[0, 0], [10, 1]], extrapolation: discrete}
levers:
  pressure: {baseline: 0, step: {at: 2020-01-15, to: 1}}
  relief: {baseline: 0, ramp: {start: 2020-02-01, end: 2020-02-20, to: 2}}
events:
  shock: {dates: [2020-01-10, 2020-02-05], magnitude: 20}
stocks:
  stock: {initial: 10, in: [gain, shock], out: [loss]}
flows:
  gain: {equation: "SMOOTH(pressure * effect(stock), 5) + POISSON(0.5) + steps(TIME)"}
  loss: {equation: "IF stock > 40 THEN DELAY_FIXED(stock * 0.1, 3, 0) ELSE PREVIOUS(stock * 0.01, 0)"}
auxiliaries:
  trend: {equation: "TREND(stock + 1, 4)"}
  noisy: {equation: "NORMAL(stock, 1) + UNIFORM(0, relief) + SMOOTH3(stock, 2) + DELAY3(gain, 4)"}
  safe: {equation: "XIDZ(stock, trend, 0) + ZIDZ(1, stock - 10) + MIN(stock, 5, MAX(1, 2))"}
scenarios:
  no_shock: {set: {shock: {dates: []}}}
  early: {policy_from: 2020-01-05, set: {pressure: 0.5}}
"""

SIR = Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml"
BASES = [POLICY, CALENDAR] + ([SIR.read_text(encoding="utf-8")] if SIR.exists() else [])

REPLACEMENT_VALUES = [
    "fast", "''", "[]", "{}", "[1, 2]", "{a: 1}", "null", "~", "true", "no", "0", "-1", "-0.0", "1e308", "-1e308",
    "1e-320", "9" * 400, ".nan", ".inf", "-.inf", "0x1F", "2020-02-30", "2020-01-01", "12:30:00", "!!binary aGk=",
    "&anchor 3", "*anchor", "'1/(TIME-5)'", "'LN(-1)'", "'SMOOTH(x)'", "'a b c'", "'\"quoted\"'", "x" * 300,
    "[" * 60 + "]" * 60, "{a: " * 60 + "1" + "}" * 60, "|\n  block", ">", "'[1, 2'", "'#'", "'%'", "'@'",
]
KEYS = ["model", "time", "dt", "stop", "start", "initial", "in", "out", "equation", "value", "range", "judgement",
        "path", "points", "set", "scenarios", "stocks", "flows", "constants", "levers", "lookups", "events",
        "evidence", "policy_from", "default_scenario", "save_every", "method", "non_negative", "x", "TIME", "~"]

LineEdit = tuple[int, float, float, str, bytes]
line_edits = st.lists(
    st.tuples(
        st.integers(0, 11),
        st.floats(0, 1),
        st.floats(0, 1),
        st.sampled_from(REPLACEMENT_VALUES) | st.sampled_from(KEYS) | st.text(max_size=30),
        st.binary(max_size=12),
    ),
    min_size=1,
    max_size=4,
)


def damage(text: str, edits: list[LineEdit]) -> bytes:
    """Apply each edit (kind, position, second position, replacement text, junk bytes)."""
    lines = text.splitlines()
    data = b""
    for kind, where, other, value, junk in edits:
        i = min(int(where * len(lines)), max(len(lines) - 1, 0))
        j = min(int(other * len(lines)), max(len(lines) - 1, 0))
        line = lines[i] if lines else ""
        indent = line[: len(line) - len(line.lstrip())]
        if kind == 0:
            del lines[i:i + 1]  # delete a line
        elif kind == 1:
            lines.insert(i, line)  # duplicate it
        elif kind == 2 and lines:
            lines[i], lines[j] = lines[j], lines[i]  # swap two lines
        elif kind == 3:
            lines[i:i + 1] = [value]  # garble a line
        elif kind == 4 and ":" in line:
            lines[i] = line[: line.index(":") + 1] + " " + value  # a value of the wrong type, or huge
        elif kind == 5:
            lines.insert(i, f"{indent}{value}: {REPLACEMENT_VALUES[j % len(REPLACEMENT_VALUES)]}")  # a random key
        elif kind == 6 and lines:
            lines[i] = line[2:] if line.startswith("  ") and other < 0.5 else "  " + line  # re-indent
        elif kind == 7:
            depth = 1 + int(other * 200)
            lines.insert(i, f"{indent}deep: " + "{a: " * depth + "1" + "}" * depth)  # deep nesting
        elif kind == 8:
            lines.insert(i, f"{indent}deep:")
            lines[i + 1:i + 1] = [" " * (2 * k + len(indent) + 2) + "- " for k in range(1 + int(other * 80))]
        elif kind == 9 and lines:
            cut = int(other * len(line))
            lines[i] = line[:cut] + line[cut + 1:] if other < 0.5 else line[:cut] + value[:3] + line[cut:]
        elif kind == 10:
            data = junk  # binary junk, spliced in below
        elif kind == 11 and lines:
            lines = lines[: i + 1]  # truncate
            lines[-1] = lines[-1][: int(other * len(lines[-1]))]
    raw = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if data:
        at = int(edits[0][1] * len(raw))
        raw = raw[:at] + data + raw[at:]
    return raw


def loads_or_fails_cleanly(raw: bytes | str) -> ModelIR | None:
    """The IR, or None after a PolicyLabError with a message; anything else propagates."""
    try:
        return read_yaml_text(raw, "fuzz.yaml")
    except PolicyLabError as err:
        assert str(err).strip(), type(err).__name__
        return None


def short(ir: ModelIR) -> ModelIR:
    """The same model, stopped after at most MAX_STEPS steps."""
    spec = ir.time
    if spec.n_steps <= MAX_STEPS:
        return ir
    return dataclasses.replace(ir, time=dataclasses.replace(spec, stop=spec.start + MAX_STEPS * spec.dt))


def runs_or_fails_cleanly(raw: bytes | str) -> None:
    """Load, compile and run (default scenario, then every other) or fail with a PolicyLabError."""
    ir = loads_or_fails_cleanly(raw)
    if ir is None:
        return
    model = Model(short(ir))
    for scenario in [None, *model.scenarios]:
        try:
            ds = model.run(scenario=scenario, runs=2, seed=1)
        except PolicyLabError as err:
            assert str(err).strip(), type(err).__name__
            return
        assert ds.sizes["run"] == 2


def test_the_undamaged_models_load_and_run() -> None:
    for text in BASES:
        ir = read_yaml_text(text, "fuzz.yaml")
        for scenario in [None, *ir.scenarios]:
            Model(short(ir)).run(scenario=scenario, runs=2)


@FAST
@given(st.sampled_from(BASES), line_edits)
def test_damaged_model_files_load_or_raise_a_policylab_error(base: str, edits: list[LineEdit]) -> None:
    loads_or_fails_cleanly(damage(base, edits))


@FAST
@given(st.sampled_from(BASES), line_edits)
def test_damaged_model_files_load_and_run_or_raise_a_policylab_error(base: str, edits: list[LineEdit]) -> None:
    runs_or_fails_cleanly(damage(base, edits))


@FAST
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_arbitrary_bytes_and_text_raise_a_policylab_error(raw: bytes | str) -> None:
    loads_or_fails_cleanly(raw)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(BASES), line_edits)
def test_many_damaged_model_files_load_and_run_or_raise_a_policylab_error(base: str, edits: list[LineEdit]) -> None:
    runs_or_fails_cleanly(damage(base, edits))


@pytest.mark.slow
@SLOW
@given(st.sampled_from(BASES), line_edits)
def test_many_damaged_model_files_load_or_raise_a_policylab_error(base: str, edits: list[LineEdit]) -> None:
    loads_or_fails_cleanly(damage(base, edits))


@pytest.mark.slow
@SLOW
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_many_arbitrary_inputs_raise_a_policylab_error(raw: bytes | str) -> None:
    loads_or_fails_cleanly(raw)


# --- generated equations in a working model ---------------------------------------------
# Every builtin (and the model's lookups), with any number of arguments, over every kind
# of variable; each equation may read only names that cannot form an algebraic loop, so
# most cases compile and run, and the rest fail for a reason with a message.

EQUATION_MODEL = """\
model: equations-fuzz
time: {start: 0, stop: 3, dt: 0.5, method: %s}
constants:
  c: {value: 2, range: [1, 3], judgement: true}
levers:
  lv: {baseline: 1, path: {1: 2}}
events:
  ev: {dates: [1]}
lookups:
  f: {points: [[0, 0], [1, 1]]}
  g: {points: [[0, 1], [1, 0]], extrapolation: discrete}
stocks:
  s: {initial: "%s", in: [x]}
flows:
  x: {equation: "%s"}
auxiliaries:
  a: {equation: "%s"}
  b: {equation: "%s"}
"""
FUNCTIONS = sorted({*BUILTINS, *ALIASES, "f", "g"})
READABLE = [["c", "TIME", "lv"], ["x", "s", "c", "lv", "ev", "TIME", "DT", "a", "b"],
            ["s", "c", "lv", "ev", "TIME", "DT"], ["s", "c", "lv", "ev", "TIME", "DT", "a"]]


def equations(names: list[str]) -> st.SearchStrategy[Expr]:
    numbers = st.sampled_from([0.0, 1.0, 2.5, -1.0, 100.0, 1e308, 1e-300]).map(Num)
    return st.recursive(
        numbers | st.sampled_from(names).map(Name),
        lambda inner: st.one_of(
            st.builds(BinOp, st.sampled_from(["+", "-", "*", "/", "^", "mod"]), inner, inner),
            st.builds(Compare, st.sampled_from(["<", "=", "<>"]), inner, inner),
            st.builds(BoolOp, st.sampled_from(["and", "or"]), inner, inner),
            st.builds(Not, inner),
            st.builds(UnaryOp, st.just("-"), inner),
            st.builds(IfThenElse, inner, inner, inner),
            st.builds(Call, st.sampled_from(FUNCTIONS), st.lists(inner, max_size=5).map(tuple)),
        ),
        max_leaves=12,
    )


generated_models = st.builds(
    lambda method, trees: EQUATION_MODEL % (method, *map(to_text, trees)),
    st.sampled_from(["euler", "rk4"]),
    st.tuples(*map(equations, READABLE)),
)


def check_generated_model(text: str, runs: int, deterministic: bool) -> None:
    try:
        Model(read_yaml_text(text, "fuzz.yaml")).run(runs=runs, deterministic=deterministic)
    except PolicyLabError as err:
        assert str(err).strip(), type(err).__name__


@FAST
@given(generated_models, st.integers(1, 3), st.booleans())
def test_models_with_generated_equations_run_or_raise_a_policylab_error(text: str, runs: int, deterministic: bool) -> None:
    check_generated_model(text, runs, deterministic)


@pytest.mark.slow
@SLOW
@given(generated_models, st.integers(1, 3), st.booleans())
def test_many_models_with_generated_equations_run_or_raise_a_policylab_error(text: str, runs: int,
                                                                            deterministic: bool) -> None:
    check_generated_model(text, runs, deterministic)


# --- damage found by hand, kept as regressions --------------------------------------------

HEADER = "model: t\ntime: {start: 0, stop: 10, dt: 0.5}\n"
BILLION_LAUGHS = HEADER + "doc: x\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: t\ntime: {start: 0, stop: 10, dt: .inf}\n", r"time\.dt: Input should be a finite number"),
        ("model: t\ntime: {start: .nan, stop: 10, dt: 1}\n", r"time\.start"),
        ("model: t\ntime: {start: 0, stop: 10, dt: 1, save_every: .inf}\n", r"time\.save_every: .*finite"),
        ("model: t\ntime: {start: 0, stop: 10, dt: 1e-300}\n", r"time\.dt: 1e\+301 steps is too many"),
        (HEADER + "constants:\n  c: 1e999\n", r"constants\.c\.value: Input should be a finite number"),
        (HEADER + "constants:\n  c: {value: 1, range: [-1e308, 1e308], judgement: true}\n", r"too wide to sample"),
        (HEADER + "constants:\n  c: " + "9" * 400 + "\n", r"constants\.c\.value: Input should be a valid number"),
        (HEADER + "auxiliaries:\n  time: {equation: 1}\n", r"fuzz\.yaml:4: 'time' cannot be a variable name"),
        (HEADER + "constants:\n  run: 1\n", r"'run' cannot be a variable name"),
        (HEADER + "constants:\n  'a~b': 1\n", r"'a~b' cannot be a variable name"),
        (HEADER + "doc: &a [*a]\n", r"fuzz\.yaml:3: doc: Input should be a valid string"),  # ruamel: inner *a is None
        (HEADER + "doc: " + "[" * 60 + "]" * 60 + "\n", r"fuzz\.yaml: the model file nests more than 50 levels deep"),
        (BILLION_LAUGHS, r"fuzz\.yaml: the model file holds more than 100,000 values"),
        (HEADER + "auxiliaries:\n  a: {equation: 'DELAY_FIXED(TIME, 0/0)'}\n", r"delay time of DELAY_FIXED inside a is NaN"),
        (HEADER + "auxiliaries:\n  a: {equation: '" + "+".join(["TIME"] * 2000) + "'}\n", r"auxiliaries\.a\.equation"),
        (HEADER + "doc: &d x\nconstants:\n  c: &d 1\n", r"fuzz\.yaml:5: not valid YAML: anchor &d is defined twice"),
    ],
    ids=["infinite-dt", "nan-start", "infinite-save-every", "tiny-dt", "infinite-constant", "overflowing-range",
         "400-digit-constant", "variable-named-time", "variable-named-run", "hidden-marker-in-name", "recursive-alias", "deep-nesting",
         "billion-laughs", "nan-delay", "2000-term-sum", "reused-anchor"],
)
def test_pathological_model_files_fail_with_a_clear_policylab_error(text: str, message: str) -> None:
    with pytest.raises(PolicyLabError, match=message):
        Model(read_yaml_text(text, "fuzz.yaml")).run()


@pytest.mark.parametrize(
    "body",
    [
        "auxiliaries:\n  a: {equation: 'DELAY_FIXED(TIME, 1e12)'}\n",
        "auxiliaries:\n  a: {equation: 'DELAY_FIXED(TIME, 1/0) + DELAY_FIXED(TIME, -1)'}\n",
        "events:\n  e: {dates: [1e308, -1e308, 3]}\nstocks:\n  s: {initial: 0, in: [e]}\n",
        "auxiliaries:\n  a: {equation: '1 / 0 * 0 + 1'}\n",
        "constants:\n  c: {value: 1, range: [1e-300, 1e300], judgement: true, distribution: triangular}\n"
        "auxiliaries:\n  a: {equation: c}\n",
    ],
    ids=["delay-longer-than-the-run", "infinite-and-negative-delays", "events-far-outside-the-run",
         "folded-division-by-zero", "wide-triangular-range"],
)
def test_extreme_but_legal_values_run_or_fail_with_a_policylab_error(body: str) -> None:
    runs_or_fails_cleanly(HEADER + body)


def test_a_delay_longer_than_the_run_never_delivers() -> None:
    ds = Model(read_yaml_text(HEADER + "auxiliaries:\n  a: {equation: 'DELAY_FIXED(TIME + 1, 1e12)'}\n")).run()
    assert ds["a"].values.tolist() == [[1.0] * 21]


def test_events_outside_the_run_are_ignored() -> None:
    body = "events:\n  e: {dates: [1e308, -1e308, 3]}\nstocks:\n  s: {initial: 0, in: [e]}\n"
    ds = Model(read_yaml_text(HEADER + body)).run()
    assert ds["s"].values[0, -1] == 1.0
