"""PRIM (Friedman & Fisher 1999) recovers boxes planted in synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policylab.analysis.cart import cart
from policylab.analysis.prim import prim
from policylab.errors import UsageError


def planted(n: int = 4000, noise: float = 0.01, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Six uniform parameters; cases of interest where 0.2<=p0<=0.6 and 0.5<=p1<=0.9, labels flipped at rate ``noise``."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((n, 6)), columns=[f"p{i}" for i in range(6)])
    y = (x.p0.between(0.2, 0.6) & x.p1.between(0.5, 0.9)).to_numpy()
    return x, y ^ (rng.random(n) < noise)


def test_prim_recovers_a_planted_box_with_coverage_and_density_of_at_least_0_9():
    x, y = planted()
    box = prim(x, y, threshold=0.95)[0].box
    assert box.coverage >= 0.9 and box.density >= 0.9
    assert set(box.limits) == {"p0", "p1"}
    assert box.limits["p0"] == pytest.approx((0.2, 0.6), abs=0.03)
    assert box.limits["p1"] == pytest.approx((0.5, 0.9), abs=0.03)


def test_real_restrictions_have_tiny_quasi_p_values():
    x, y = planted()
    box = prim(x, y, threshold=0.95)[0].box
    assert max(box.quasi_p.values()) < 1e-10


def test_the_peeling_trajectory_trades_coverage_for_density():
    x, y = planted(noise=0.0)
    search = prim(x, y)[0]
    trajectory = search.trajectory
    assert trajectory["coverage"].iloc[0] == 1.0 and trajectory["mass"].iloc[0] == 1.0
    assert trajectory["density"].iloc[0] == pytest.approx(y.mean())
    assert (np.diff(trajectory["coverage"]) <= 1e-12).all()
    assert (np.diff(trajectory["mass"]) < 0).all()
    assert trajectory["mass"].iloc[-1] >= 0.05


def test_pasting_never_lowers_the_density_of_the_chosen_box():
    x, y = planted(noise=0.05, seed=4)
    search = prim(x, y, threshold=0.7)[0]
    assert search.box.density >= search.trajectory["density"].iloc[search.chosen] - 1e-12


def test_covering_finds_a_second_planted_box():
    rng = np.random.default_rng(2)
    x = pd.DataFrame(rng.random((6000, 4)), columns=list("abcd"))
    y = ((x.a < 0.2) & (x.b < 0.3)) | ((x.c > 0.8) & (x.d > 0.7))
    found = prim(x, y.to_numpy(), threshold=0.9, boxes=3)
    assert [set(f.box.limits) for f in found[:2]] in ([{"a", "b"}, {"c", "d"}], [{"c", "d"}, {"a", "b"}])
    assert sum(f.box.coverage for f in found[:2]) >= 0.9


def test_prim_refuses_data_without_cases_of_interest():
    x, _ = planted()
    with pytest.raises(UsageError, match="no run is a case of interest"):
        prim(x, np.zeros(len(x), dtype=bool))


def test_prim_refuses_non_numeric_parameters():
    x, y = planted()
    with pytest.raises(UsageError, match="numeric"):
        prim(x.assign(label="a"), y)


def test_cart_finds_the_same_parameters_as_prim():
    x, y = planted()
    found = cart(x, y, max_depth=4)
    best = found.leaves[0]
    assert set(best.limits) == {"p0", "p1"}
    assert best.density >= 0.9 and best.coverage >= 0.8
    assert "p0 <=" in found.rules and found.accuracy > 0.95


def test_pruning_by_quasi_p_value_keeps_only_the_planted_restrictions():
    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.random((5000, 8)), columns=[f"p{i}" for i in range(8)])
    y = ((x.p0 < 0.3) & (x.p1 > 0.7)).to_numpy() & (rng.random(5000) < 0.5) | (rng.random(5000) < 0.01)
    search = prim(x, y, min_mass=0.01, max_p=0.05)[0]
    unpruned, pruned = search.box, search.pruned
    assert prim(x, y, min_mass=0.01)[0].pruned is None
    assert len(unpruned.limits) > 2 and max(unpruned.quasi_p.values()) > 0.05
    assert set(pruned.limits) == {"p0", "p1"} and max(pruned.quasi_p.values()) < 1e-10
    assert pruned.coverage > unpruned.coverage


def test_a_planted_strong_box_carries_no_warning():
    x, y = planted()
    assert prim(x, y, threshold=0.9, max_p=0.05)[0].warnings == ()


def test_a_planted_weak_box_warns_that_the_density_was_not_reached_and_names_chance_restrictions():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.random((2000, 8)), columns=[f"p{i}" for i in range(8)])
    y = (rng.random(2000) < 0.25 + 0.1 * (x.p0 > 0.5)).to_numpy()  # a weak effect of p0, no box of density 0.8
    search = prim(x, y, threshold=0.8, max_p=0.05)[0]
    assert search.box.density < 0.8
    assert any("below the 0.80 asked" in w for w in search.warnings)
    assert any("chance alone could produce them" in w for w in search.warnings)


def test_discover_prints_the_warnings_on_stderr_and_the_trajectory_on_stdout():
    from pathlib import Path

    from typer.testing import CliRunner

    from policylab.cli import app

    sir = str(Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml")
    result = CliRunner().invoke(app, ["discover", sir, "--where", "peak_infected>=2000", "-n", "200", "-m", "prim",
                                      "-q", "--backend", "numpy"])
    assert result.exit_code == 0, result.output
    assert "warning: PRIM box 1: 1 of 3 restrictions have a quasi-p-value above 0.05" in result.stderr
    assert "PRIM peeling trajectory" in result.stdout
