"""The causal-loop diagram: DOT always, SVG through Graphviz, evidence on hover."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policylab.cli import app

SIR = str(Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml")


def test_dot_output_lists_signed_links_and_the_loop_legend():
    result = CliRunner().invoke(app, ["diagram", SIR, "--format", "dot"])
    assert result.exit_code == 0, result.output
    assert '"distancing" -> "infection" [label="-"' in result.stdout
    assert "Feedback loops" in result.stdout and "R[infected]#" in result.stdout
    assert "assumption: avoided contacts do not transmit" in result.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by `make test`")
def test_svg_is_written_to_the_named_file(tmp_path):
    out = tmp_path / "sir.svg"
    result = CliRunner().invoke(app, ["diagram", SIR, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "3 feedback loops (1 reinforcing, 2 balancing)" in result.stderr
