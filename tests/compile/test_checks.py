"""`policylab check`: evidence must name real inputs, and declared signs must match the equations."""

from policylab.api import Model
from policylab.compile.checks import run_checks
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


SOURCED = (MODEL % "+").replace('sign: "+", assumption: "a fuller stock drains faster"',
                               'sign: "+", source: doc, quote: "a fuller stock drains faster"')
SOURCED = SOURCED.replace("model: t\n", "model: t\nsources: {doc: {title: A report, file: report.txt}}\n")


def test_a_source_file_off_the_sources_path_is_one_grouped_warning_or_an_error_when_strict(tmp_path):
    model = Model(read_yaml_text(SOURCED, "t.yaml"))
    lenient = run_checks(model, [str(tmp_path)])
    assert lenient.ok and lenient.warnings == 1
    missing = [line for line in lenient.lines if "report.txt" in line]
    assert missing == ["warning: source file 'report.txt' (doc) is not on the sources path: 1 quote not verified"]
    assert lenient.lines[-1] == "check passed with 1 warning"
    strict = run_checks(model, [str(tmp_path)], strict=True)
    assert not strict.ok and strict.lines[-1] == "check failed: 1 problem"


def test_a_quote_missing_from_a_source_that_is_found_stays_an_error(tmp_path):
    (tmp_path / "report.txt").write_text("Nothing about stocks here.")
    report = run_checks(Model(read_yaml_text(SOURCED, "t.yaml")), [str(tmp_path)])
    assert not report.ok and any("quote not found verbatim" in line for line in report.lines)
    (tmp_path / "report.txt").write_text("We found that a fuller stock drains faster, as expected.")
    assert run_checks(Model(read_yaml_text(SOURCED, "t.yaml")), [str(tmp_path)], strict=True).ok


def test_check_without_sources_exits_0_with_a_warning_and_1_with_strict(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from policylab.cli import app

    monkeypatch.delenv("POLICYLAB_SOURCES", raising=False)
    path = tmp_path / "t.yaml"
    path.write_text(SOURCED)
    lenient = CliRunner().invoke(app, ["check", str(path)])
    assert lenient.exit_code == 0 and "warning: source file 'report.txt'" in lenient.stderr
    assert CliRunner().invoke(app, ["check", "--strict", str(path)]).exit_code == 1


def test_a_link_through_a_time_function_is_tested_at_the_sampled_times():
    text = """
model: t
time: {start: 0, stop: 10, dt: 0.5}
constants: {k: {value: 2, range: [1, 3], judgement: true}}
auxiliaries:
  effect:
    equation: STEP(k, 3) - RAMP(k, 6)
    evidence: [{from: k, sign: "%s", assumption: "k switches the effect on, then ramps it down"}]
"""
    both = report_for(text % "+")  # +1 from time 3 on, then -(TIME - 6) from time 6: both signs occur
    assert not both.ok and any("opposite sign" in line for line in both.lines), both.lines
