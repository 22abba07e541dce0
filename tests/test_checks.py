"""`policylab check`: evidence must name real inputs, and declared signs must match the equations."""

from policylab.api import Model
from policylab.checks import run_checks
from policylab.formats.yaml_reader import read_yaml_text

MODEL = """
model: t
time: {start: 0, stop: 10, dt: 0.5}
constants: {k: {value: 0.5, range: [0.1, 1], judgement: true}}
stocks: {x: {initial: 10, out: [drain], non_negative: true}}
flows:
  drain:
    equation: SMOOTH(k * x, 2)
    evidence:
      - {from: x, sign: "%s", assumption: "a fuller stock drains faster"}
      - {from: k, sign: "+", assumption: "the rate constant scales the drain"}
"""


def report_for(text: str):
    return run_checks(Model(read_yaml_text(text, "t.yaml")), [])


def test_signs_that_agree_with_the_equation_pass():
    report = report_for(MODEL % "+")
    assert report.ok, report.lines


def test_a_sign_contradicted_by_the_partial_derivative_is_reported_with_its_line():
    report = report_for(MODEL % "-")
    assert not report.ok
    assert any("t.yaml:10: link x -> drain is declared '-'" in line for line in report.lines)


def test_evidence_naming_an_input_the_equation_does_not_read_is_an_error():
    report = report_for(MODEL.replace("from: k,", "from: x2,") % "+")
    assert any("names 'x2', but drain's equation does not use it" in line for line in report.lines)


def test_model_check_is_the_python_face_of_policylab_check():
    model = Model(read_yaml_text(MODEL % "-", "t.yaml"))
    report = model.check()
    assert not report.ok and report.errors >= 1


def test_a_random_call_scaled_by_dt_does_not_hide_a_links_sign():
    text = """
model: t
time: {start: 0, stop: 5, dt: 0.5}
constants: {rate: {value: 2, range: [1, 3], judgement: true}}
stocks: {n: {initial: 0, in: [arrivals]}}
flows:
  arrivals:
    equation: POISSON(rate * DT) / DT
    evidence: [{from: rate, sign: "+", assumption: "a higher rate brings more arrivals"}]
"""
    report = report_for(text)
    assert report.ok and report.warnings == 0, report.lines


def test_a_link_acting_only_under_another_lever_level_is_tested_with_levers_over_their_range():
    text = """
model: t
time: {start: 0, stop: 5, dt: 0.5}
levers: {policy: {baseline: 0, range: [0, 1]}}
constants: {k: {value: 2, range: [1, 3], judgement: true}}
auxiliaries:
  effect:
    equation: policy * k
    evidence: [{from: k, sign: "+", assumption: "acts only when the policy is on"}]
"""
    report = report_for(text)
    assert report.ok and report.warnings == 0, report.lines
