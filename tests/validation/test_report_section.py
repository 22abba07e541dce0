"""The HTML report's Validation section: the model's checks and their verdicts."""

from __future__ import annotations

from policylab.report.build import build_report


def test_a_model_with_checks_gets_a_validation_section_with_every_verdict(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  grows:
    kind: behaviour
    doc: "The level grows."
    expect: 'at(level, "2020-12-31") > at(level, "2020-01-01")'
  shrinks:
    kind: behaviour
    expect: 'at(level, "2020-12-31") < at(level, "2020-01-01")'
""")
    html = build_report(model, runs=8, backend="numpy")
    section = html[html.index('<section id="validation">'):]
    section = section[:section.index("</section>")]
    assert "grows" in section and "The level grows." in section and "shrinks" in section
    assert "2 passed, 1 failed" in section  # grows and units pass; shrinks fails
    assert "<b>FAIL</b>" in section and "--run-index" in section


def test_a_model_without_checks_has_no_validation_section(model_with) -> None:  # type: ignore[no-untyped-def]
    html = build_report(model_with(), runs=4, backend="numpy")
    assert 'id="validation"' not in html
