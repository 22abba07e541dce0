"""CART as a second view of scenario discovery: a shallow classification tree's leaves as boxes.

A decision tree (Breiman et al. 1984; scikit-learn's ``DecisionTreeClassifier``) splits
the parameter space into boxes too, but by a different rule than PRIM: each split
separates cases of interest from the rest as cleanly as it can (Gini impurity), with no
patience. Where both methods name the same parameters and similar limits, the finding is
robust to the method; where they differ, look closer. Each leaf is reported with
PRIM's statistics (coverage, density, mass) so the two views can be read side by side.

References
----------
Breiman, L., Friedman, J. H., Olshen, R. A. & Stone, C. J. (1984). Classification and
Regression Trees. Wadsworth.
Lempert, R. J., Bryant, B. P. & Bankes, S. C. (2008). Comparing algorithms for scenario
discovery. RAND WR-557-NSF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, export_text

from policylab.errors import UsageError


@dataclass(frozen=True)
class Leaf:
    """A leaf of the tree as a box: ``limits`` per split parameter (``low < x <= high``)."""

    limits: dict[str, tuple[float, float]]
    coverage: float
    density: float
    mass: float
    cases: int
    runs: int


@dataclass(frozen=True)
class CartResult:
    """Leaves sorted by density (highest first) and the tree as indented text rules."""

    leaves: tuple[Leaf, ...]
    rules: str
    accuracy: float
    """Share of runs the tree classifies correctly (on the data it was fitted to)."""


def cart(
    x: pd.DataFrame,
    y: Sequence[bool] | np.ndarray,
    *,
    max_depth: int = 3,
    min_mass: float = 0.05,
    seed: int = 0,
) -> CartResult:
    """Fit a classification tree of ``y`` on ``x`` and describe its leaves as boxes.

    Parameters
    ----------
    max_depth : depth of the tree; 2-4 keeps boxes interpretable.
    min_mass : smallest leaf, as a share of all runs (``min_samples_leaf``).
    seed : for scikit-learn's tie-breaking among equally good splits.
    """
    if max_depth < 1:
        raise UsageError(f"CART max_depth must be at least 1, got {max_depth}")
    if not 0 < min_mass < 0.5:
        raise UsageError(f"CART min_mass must be in (0, 0.5), got {min_mass}")
    flags = np.asarray(y)
    if flags.dtype != bool or flags.shape[0] != len(x):
        raise UsageError("CART needs y as one boolean per row of x")
    if flags.all() or not flags.any():
        raise UsageError("CART needs both cases of interest and other runs; every run falls on one side of the condition")
    names = [str(c) for c in x.columns]
    matrix = x.to_numpy(dtype=float)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(1, int(np.ceil(min_mass * len(flags)))),
                                  random_state=seed)
    tree.fit(matrix, flags)
    leaf_of = tree.apply(matrix)
    total_cases = int(flags.sum())
    leaves = []
    for node, limits in _leaf_limits(tree, names).items():
        members = leaf_of == node
        cases = int(flags[members].sum())
        runs = int(members.sum())
        leaves.append(Leaf(limits, cases / total_cases, cases / runs, runs / len(flags), cases, runs))
    leaves.sort(key=lambda leaf: (-leaf.density, -leaf.coverage))
    rules = export_text(tree, feature_names=names, decimals=4)
    return CartResult(tuple(leaves), rules, float(tree.score(matrix, flags)))


def _leaf_limits(tree: DecisionTreeClassifier, names: list[str]) -> dict[int, dict[str, tuple[float, float]]]:
    """Each leaf's interval per parameter split on its path (a left child holds x <= threshold)."""
    structure = tree.tree_
    found: dict[int, dict[str, tuple[float, float]]] = {}
    stack: list[tuple[int, dict[str, tuple[float, float]]]] = [(0, {})]
    while stack:
        node, limits = stack.pop()
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:  # a leaf
            found[node] = limits
            continue
        name = names[structure.feature[node]]
        cut = float(structure.threshold[node])
        low, high = limits.get(name, (-np.inf, np.inf))
        stack.append((left, {**limits, name: (low, min(high, cut))}))
        stack.append((right, {**limits, name: (max(low, cut), high)}))
    return found
