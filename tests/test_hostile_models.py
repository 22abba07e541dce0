"""Hostile and extreme models: bounded before they are built, walked without recursion, numbers still right.

Inputs are generated here. Memory is bounded by an address-space limit in a child
process, hangs by pytest-timeout; no timing assertions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import policylab
from policylab.compile.checks import run_checks
from policylab.errors import ModelFileError
from policylab.compile.units import check_units
from policylab.formats.xmile import read_xmile_bytes
from policylab.formats.yaml_reader import read_yaml_text
from policylab.limits import FLAT_VARIABLES

SRC = Path(__file__).resolve().parents[1] / "src"
HEAD = ('<?xml version="1.0" encoding="utf-8"?>\n<xmile version="1.0" '
        'xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">\n'
        '<header><vendor>x</vendor><product version="1">x</product></header>\n'
        "<sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>\n")


def fanout(levels: int, width: int) -> str:
    """Each of ``levels`` models places ``width`` copies of the next: width**levels instances."""
    parts = [HEAD, "<model><variables>" + "".join(f'<module name="c{j}" model_name="m1"/>' for j in range(width))
             + "</variables></model>\n"]
    for level in range(1, levels + 1):
        inner = ("".join(f'<module name="c{j}" model_name="m{level + 1}"/>' for j in range(width))
                 if level < levels else '<aux name="x"><eqn>1</eqn></aux>')
        parts.append(f'<model name="m{level}"><variables>{inner}</variables></model>\n')
    return "".join(parts) + "</xmile>\n"


def arrays(count: int, size: int) -> str:
    variables = "".join(f'<aux name="a{i}"><dimensions><dim name="d"/></dimensions><eqn>{i}</eqn></aux>'
                        for i in range(count))
    return (HEAD + f'<dimensions><dim name="d" size="{size}"/></dimensions>\n'
            f"<model><variables>{variables}</variables></model>\n</xmile>\n")


def chain(length: int, first_units: str = "person") -> str:
    """``a{length} = a{length-1} + 1 … a1 = a0 + 1``, written deepest first, units declared on ``a0`` only."""
    lines = ["model: chain", "time: {start: 0, stop: 2, dt: 1}", "constants:",
             f"  a0: {{value: 1, units: {first_units}}}", "auxiliaries:"]
    lines += [f"  a{i}: {{equation: a{i - 1} + a0}}" for i in range(length, 0, -1)]
    return "\n".join(lines) + "\n"


def _in_child(script: str, memory: int = 1 << 30, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a Python child whose address space is capped at ``memory`` bytes."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.timeout(300)
def test_a_3_kb_module_fan_out_is_refused_before_it_is_built_within_1_gib(tmp_path: Path) -> None:
    file = tmp_path / "fanout.xmile"
    file.write_text(fanout(13, 4), encoding="utf-8")
    assert file.stat().st_size < 4000
    done = _in_child(f"""
        from policylab.errors import ModelFileError
        from policylab.formats import read_model
        try:
            read_model({str(file)!r})
        except ModelFileError as error:
            print(error)
    """)
    assert "67,108,864 scalar variables" in done.stdout and FLAT_VARIABLES.variable in done.stdout, done.stderr[-2000:]


def test_a_hundred_arrays_of_a_hundred_thousand_elements_are_refused_from_their_sizes() -> None:
    with pytest.raises(ModelFileError, match=r"a\.xmile:6: laid out, the model has 10,000,000 scalar variables"):
        read_xmile_bytes(arrays(100, 100_000).encode(), "a.xmile")


def test_the_flat_budget_counts_a_fan_out_just_under_and_just_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FLAT_VARIABLES.variable, str(4**4))
    assert len(read_xmile_bytes(fanout(4, 4).encode(), "f.xmile").variables) >= 4**4
    with pytest.raises(ModelFileError, match="1,024 scalar variables"):
        read_xmile_bytes(fanout(5, 4).encode(), "f.xmile")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("length", [150, 1500])
def test_a_deep_auxiliary_chain_checks_and_runs_with_the_right_numbers(length: int) -> None:
    model = policylab.Model(read_yaml_text(chain(length), "chain.yaml"))
    report = run_checks(model, [])
    assert report.ok, report.lines
    result = model.run(variables=[f"a{length}"])
    assert np.allclose(result[f"a{length}"].values, length + 1)


def test_units_inferred_down_a_deep_chain_still_find_a_mismatch_at_its_end() -> None:
    text = chain(400) + "  total: {equation: a400 + 1, units: day}\n"
    issues = check_units(read_yaml_text(text, "chain.yaml"))
    assert [issue.variable for issue in issues] == ["total"]
    assert "person" in issues[0].message


@pytest.mark.parametrize(("settings", "message"), [
    ("value: 1, range: [-1, 2], judgement: true, distribution: loguniform", "a loguniform range must be positive"),
    ("value: 1, range: [0, 2], judgement: true, distribution: loguniform", "a loguniform range must be positive"),
    ("value: 5, range: [0, 2], judgement: true, distribution: triangular", "a triangular distribution peaks at the value 5, which is outside"),
])
def test_a_distribution_that_cannot_be_sampled_is_refused_with_its_line(settings: str, message: str) -> None:
    text = f"model: dist\ntime: {{start: 0, stop: 1, dt: 1}}\nconstants:\n  p: {{{settings}}}\n"
    with pytest.raises(ModelFileError, match=rf"d\.yaml:4: constants\.p: {message}"):
        read_yaml_text(text, "d.yaml")


def test_a_model_built_in_code_with_a_bad_distribution_is_refused_when_sampled() -> None:
    import dataclasses

    from policylab.errors import UsageError

    ir = read_yaml_text("model: dist\ntime: {start: 0, stop: 1, dt: 1}\nconstants:\n"
                        "  p: {value: 1, range: [1, 2], judgement: true, distribution: loguniform}\n", "d.yaml")
    bad = dataclasses.replace(ir.variables["p"], range=(-1.0, 2.0))
    model = policylab.Model(dataclasses.replace(ir, variables={**ir.variables, "p": bad}))
    with pytest.raises(UsageError, match="p: a loguniform range must be positive"):
        model.run(runs=4)


def test_a_lever_given_twice_in_the_grid_is_refused_not_replaced() -> None:
    from policylab.explore import ExploreRequest
    from policylab.explore.errors import DesignError

    with pytest.raises(DesignError, match="lever\\(s\\) distancing appear twice in the grid"):
        ExploreRequest(samples=1, grid=(("distancing", (0.0,)), ("distancing", (0.5,))))
