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
