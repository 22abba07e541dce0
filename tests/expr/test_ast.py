"""Rebuilding expression trees: map_children reaches every kind of node and leaves leaves alone."""

from __future__ import annotations

import pytest

from policylab.expr.ast import Expr, Name, Num, Subscript, children, map_children
from policylab.expr.parser import parse


def _rename(node: Expr) -> Expr:
    if isinstance(node, Name):
        return Name(node.name + "_x")
    return map_children(node, _rename)


@pytest.mark.parametrize("text", ["-p", "not p", "p + q", "p < q", "p and q", "if p then q else r", "max(p, q, r)",
                                  "p * (q - min(r, -p)) ^ 2"])
def test_map_children_applies_the_change_to_every_child_of_every_kind(text: str) -> None:
    renamed = _rename(parse(text))
    assert type(renamed) is type(parse(text)) and len(children(renamed)) == len(children(parse(text)))
    assert renamed == parse(text.replace("p", "p_x").replace("q", "q_x").replace("r", "r_x"))


@pytest.mark.parametrize("leaf", [Num(1.0), Name("a"), Subscript("a", ("north",))])
def test_a_leaf_comes_back_as_it_is(leaf: Expr) -> None:
    assert map_children(leaf, lambda _: Num(0.0)) is leaf
