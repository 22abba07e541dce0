"""The outcome keys `label:` and `probability:`: read from YAML, refused when contradictory, kept by XMILE."""

from __future__ import annotations

from pathlib import Path

import pytest

from policylab.errors import ModelFileError
from policylab.formats.xmile import read_xmile_bytes, write_xmile
from policylab.formats.yaml_reader import read_yaml_text

SIR = (Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml").read_text()
MILESTONE = """
  half_recovered:
    variable: recovered
    stat: value
    at: 90
    label: "Half recovered by day 90"
    probability: true
"""


def _with(outcome_yaml: str) -> str:
    return SIR.replace("\noutcomes:\n", "\noutcomes:" + outcome_yaml, 1)


def test_label_and_probability_are_read_and_default_sensibly() -> None:
    model = read_yaml_text(_with(MILESTONE), "m.yaml")
    milestone = model.outcomes["half_recovered"]
    assert milestone.label == "Half recovered by day 90" and milestone.probability
    assert milestone.title == "Half recovered by day 90"
    plain = model.outcomes["peak_infected"]
    assert plain.label == "" and not plain.probability and plain.title == "peak_infected"


def test_a_probability_outcome_with_a_threshold_is_refused_with_the_line() -> None:
    with pytest.raises(ModelFileError, match=r"m\.yaml:\d+.*drop `threshold`"):
        read_yaml_text(_with(MILESTONE + "    threshold: 0.5\n"), "m.yaml")


def test_an_overlong_label_is_refused() -> None:
    with pytest.raises(ModelFileError, match="label"):
        read_yaml_text(_with(MILESTONE.replace("Half recovered by day 90", "x" * 41)), "m.yaml")


def test_label_and_probability_survive_the_xmile_round_trip() -> None:
    model = read_yaml_text(_with(MILESTONE), "m.yaml")
    again = read_xmile_bytes(write_xmile(model).encode("utf-8"), "m.xmile")
    assert again.outcomes["half_recovered"].label == "Half recovered by day 90"
    assert again.outcomes["half_recovered"].probability is True
    assert again.outcomes["peak_infected"].probability is False
