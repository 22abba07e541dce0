"""The causal-loop structure derived from equations: known loops of the SIR model."""

from pathlib import Path

import policylab
from policylab.compile.causal import causal_graph

SIR = Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml"


def loops_of(path):
    return {(loop.polarity, frozenset(loop.variables)) for loop in causal_graph(policylab.load(path)).loops}


def test_sir_has_one_reinforcing_and_two_balancing_loops():
    assert loops_of(SIR) == {
        ("R", frozenset({"infection", "infected"})),
        ("B", frozenset({"infection", "susceptible"})),
        ("B", frozenset({"recovery", "infected"})),
    }


def test_link_signs_come_from_evidence_or_the_partial_derivative():
    graph = causal_graph(policylab.load(SIR))
    signs = {(link.source, link.target): (link.sign, link.declared) for link in graph.links}
    assert signs[("distancing", "infection")] == ("-", True)
    assert signs[("susceptible", "infection")] == ("+", False)
    assert signs[("infection", "susceptible")] == ("-", False)
    assert signs[("recovery", "recovered")] == ("+", False)


def test_loop_identifiers_come_from_members_not_rank():
    """Adding a loop elsewhere renames nothing; the same loop in any rotation has one identifier."""
    from policylab.compile.causal import loop_id

    stocks = {"a", "b", "c"}
    assert loop_id(["a", "x", "b"], "R", stocks) == loop_id(["b", "a", "x"], "R", stocks)
    assert loop_id(["a", "x", "b"], "R", stocks).startswith("R[a+b]#")
    assert loop_id(["a", "x", "b"], "R", stocks) != loop_id(["a", "y", "b"], "R", stocks)
    assert loop_id(["a", "b", "c", "x"], "B", stocks).startswith("B[a+b+1]#")
    assert loop_id(["x", "y"], "?", stocks).startswith("U[x+y]#")
