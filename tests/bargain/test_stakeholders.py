"""The stakeholder format: the bundled Iraq case, validation messages and sampling."""

from pathlib import Path

import numpy as np
import pytest

from policylab.bargain import check_case_quotes, read_case, sample_case
from policylab.bargain.stakeholders import read_case_text
from policylab.errors import ModelFileError, UsageError

ROOT = Path(__file__).resolve().parents[2]
IRAQ = ROOT / "models" / "iraq_dialogue" / "stakeholders.yaml"
SHARED = ROOT.parent / "shared"

MINIMAL = """\
case: test
issues:
  forces:
    question: "How many forces stay"
    scale: [0, 100]
    labels: {0: "none", 100: "all"}
actors:
  a:
    name: A
    capability: {value: 1, range: [0.5, 2], basis: "test value"}
    position: {forces: {value: 10, range: [0, 20], basis: "test value"}}
    salience: {forces: {value: 50, range: [40, 60], basis: "test value"}}
  b:
    name: B
    capability: {value: 1, range: [1, 1], basis: "test value"}
    position: {forces: {value: 90, range: [80, 100], basis: "test value"}}
    salience: {forces: {value: 50, range: [50, 50], basis: "test value"}}
"""


@pytest.fixture(scope="module")
def iraq():
    return read_case(IRAQ)


def test_the_iraq_case_has_the_actors_and_issues_the_dialogue_needs(iraq):
    assert {"us_administration", "iraqi_pm", "fatah", "sadrists", "kurdish_parties", "sunni_parties", "iran",
            "kataib_hizbollah", "protest_movement"} <= set(iraq.actors)
    forces = iraq.issues["force_presence"]
    assert (forces.low, forces.high) == (0, 100)
    labels = dict(forces.labels)
    assert "all foreign forces out" in labels[0] and "pre-2020 presence" in labels[100]
    assert set(forces.disagreement) == {"us_administration", "iraqi_pm"}
    assert len(iraq.issues) >= 2


def test_every_iraq_judgement_has_a_range_and_a_basis_and_sources_are_listed(iraq):
    for path, j in iraq.judgements().items():
        assert j.low <= j.value <= j.high, path
        assert len(j.basis) > 10, path
        assert j.source is None or j.source in iraq.sources, path


@pytest.mark.skipif(not (SHARED / "seed").is_dir(), reason="shared seed and data not present")
def test_every_quote_in_the_iraq_case_appears_in_its_source(iraq):
    results = check_case_quotes(iraq, [str(SHARED / "seed"), str(SHARED / "data" / "iraq")])
    assert results, "the case quotes its sources"
    assert [r.message for r in results if r.status != "verified"] == []


def test_a_missing_source_file_is_reported_not_passed(iraq, monkeypatch):
    monkeypatch.delenv("POLICYLAB_SOURCES", raising=False)
    results = check_case_quotes(iraq, [])
    assert results and all(r.status == "source_missing" for r in results)
    assert "sources path" in results[0].message


@pytest.mark.parametrize(("change", "message"), [
    (("value: 10, range: [0, 20]", "value: 30, range: [0, 20]"), r"file.yaml:11: actors.a.position.forces: value 30 lies outside"),
    (("basis: \"test value\"}}\n  b:", "basis: \"test value\", source: nowhere}}\n  b:"), r"'nowhere' is not listed under `sources:`"),
    (("range: [80, 100]", "range: [80, 120]"), r"actors.b.position.forces: range \[80, 120\] leaves \[0, 100\]"),
    (("    name: A\n", "    name: A\n    colour: red\n"), r"file.yaml:10: unknown key 'actors.a.colour'"),
    (("labels: {0: \"none\", 100: \"all\"}", "labels: {0: \"none\"}"), r"label both ends of the scale: 100"),
    (("    salience: {forces: {value: 50, range: [50, 50], basis: \"test value\"}}", "    salience: {}"), r"actors.b.salience: no value for issue 'forces'"),
])
def test_errors_name_the_file_line_and_key(change, message):
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ModelFileError, match=message):
        read_case_text(MINIMAL.replace(old, new, 1), "file.yaml")


def test_a_disagreement_utility_above_one_half_is_refused():
    text = MINIMAL.replace('    labels: {0: "none", 100: "all"}\n', '    labels: {0: "none", 100: "all"}\n'
                           '    nash:\n      disagreement:\n'
                           '        a: {value: 0.6, range: [0.5, 0.7], basis: "test value"}\n'
                           '        b: {value: 0.1, range: [0, 0.2], basis: "test value"}\n')
    with pytest.raises(ModelFileError, match=r"disagreement utility range must lie in \[-1, 0.5\]"):
        read_case_text(text, "file.yaml")


def test_one_run_takes_the_nominal_values():
    sample = sample_case(read_case_text(MINIMAL))
    assert sample["position"].sel(issue="forces").values.tolist() == [[10.0, 90.0]]
    assert sample["capability"].values.tolist() == [[1.0, 1.0]]


def test_samples_stay_in_their_ranges_and_fixed_judgements_stay_fixed():
    sample = sample_case(read_case_text(MINIMAL), runs=500, seed=3)
    a = sample["position"].sel(issue="forces", actor="a").values
    assert a.min() >= 0 and a.max() <= 20 and a.std() > 3
    assert np.all(sample["capability"].sel(actor="b").values == 1.0)


def test_run_k_is_the_same_alone_or_in_an_ensemble():
    case = read_case_text(MINIMAL)
    ensemble = sample_case(case, runs=10, seed=7)
    alone = sample_case(case, runs=1, seed=7, first_run=6, sample=True)
    np.testing.assert_array_equal(alone["position"].values[0], ensemble["position"].values[6])
    assert not np.array_equal(sample_case(case, runs=10, seed=8)["position"].values, ensemble["position"].values)


def test_runs_must_be_positive():
    with pytest.raises(UsageError, match="runs"):
        sample_case(read_case_text(MINIMAL), runs=0)


def test_every_yaml_input_refuses_a_reused_anchor_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A second ``&name`` silently rebinds later aliases; all three side readers say so, at file:line, as the model reader does."""
    from policylab.analysis.observations import read_mapping
    from policylab.bargain.coupling import read_coupling
    from policylab.bargain.stakeholders import read_case_text
    from policylab.errors import PolicyLabError

    text = "case: &a x\nissues: &a y\n"
    with pytest.raises(PolicyLabError, match=r"^s\.yaml:2: not valid YAML: anchor &a is defined twice"):
        read_case_text(text, "s.yaml")
    for reader in (read_coupling, read_mapping):
        path = tmp_path / "f.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(PolicyLabError, match=r"f\.yaml:2: not valid YAML: anchor &a is defined twice"):
            reader(path)
