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


def test_readable_views_keep_a_loop_with_its_neighbours_or_the_stock_and_lever_core():
    from policylab.api import load
    from policylab.compile.causal import causal_graph
    from policylab.report.views import READABLE_NODES, core_view, loops_view

    graph = causal_graph(load(SIR))
    core = core_view(graph)
    assert set(core.nodes) == {"susceptible", "infected", "recovered", "distancing"}
    signs = {(link.source, link.target): link.sign for link in core.links}
    assert signs[("infected", "susceptible")] == "-" and signs[("distancing", "infected")] == "-"
    reinforcing = next(loop for loop in graph.loops if loop.polarity == "R")
    view = loops_view(graph, [reinforcing.label], neighbours=True)
    assert set(reinforcing.variables) < set(view.nodes) and len(view.nodes) <= READABLE_NODES
    assert [loop.label for loop in view.loops] == [reinforcing.label]
    alone = loops_view(graph, [reinforcing.label])
    assert set(alone.nodes) == set(reinforcing.variables)
    result = CliRunner().invoke(app, ["diagram", SIR, "--format", "dot", "--view", f"loop:{reinforcing.label}"])
    assert result.exit_code == 0 and '"infected" -> "infection"' in result.stdout
    bad = CliRunner().invoke(app, ["diagram", SIR, "--format", "dot", "--view", "loop:R[nothing]#0000"])
    assert bad.exit_code == 2 and "no loop" in bad.output


def test_a_loop_view_finds_loops_beyond_the_diagrams_length_bound(tmp_path):
    """Loop analysis scores loops of any length; the loop view draws them though the diagram lists only short ones."""
    from policylab.compile.causal import causal_graph, loop_id
    from policylab.report.views import loops_view

    chain = "\n".join(f"  a{k}: {{equation: a{k - 1} * 0.5, units: '1'}}" for k in range(1, 14))
    path = tmp_path / "ring.yaml"
    path.write_text(f"""
model: ring
time: {{start: 0, stop: 4, dt: 1, units: day}}
stocks:
  s: {{initial: 1, units: "1", in: [f]}}
flows:
  f: {{equation: a13 - s, units: 1/day}}
auxiliaries:
  a0: {{equation: s, units: '1'}}
{chain}
""", encoding="utf-8")
    from policylab.api import load

    graph = causal_graph(load(path))
    cycle = ["s", *[f"a{k}" for k in range(14)], "f"]
    wanted = loop_id(cycle, "R", {"s"})
    assert all(loop.label != wanted for loop in graph.loops)  # 16 links: beyond the diagram's bound
    view = loops_view(graph, [wanted])
    assert set(view.nodes) == set(cycle)
