"""A report's exploration section says how far to trust it: intervals on correlations, why a box is absent or weak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policylab.report.explored import findings_from_frame, resolvable, spearman_interval


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((n, 10)), columns=[f"p{i}" for i in range(10)])
    frame["y"] = 3 * frame["p0"] + rng.normal(0, 1, n)  # p0 matters; p1..p9 are noise
    return frame


def test_noise_parameters_get_intervals_that_include_zero_and_the_real_one_does_not() -> None:
    findings = findings_from_frame(_frame(400), "r1", [f"p{i}" for i in range(10)], ["y"])
    (panel,) = findings.sensitivity
    low, high = panel.intervals["p0"]
    assert low > 0.3
    noise = [p for p in panel.values if p != "p0"]
    assert sum(panel.intervals[p][0] <= 0 <= panel.intervals[p][1] for p in noise) >= len(noise) - 1


def test_the_resolvable_correlation_shrinks_with_runs_and_is_stated() -> None:
    assert resolvable(200, 83)[1] > 0.2 > resolvable(5000, 83)[1]
    findings = findings_from_frame(_frame(200), "r1", [f"p{i}" for i in range(10)], ["y"])
    assert any("resolve rank correlations of at least ±" in n for n in findings.notes)


def test_spearman_interval_is_centred_on_fisher_z() -> None:
    low, high = spearman_interval(0.0, 1003, 1.96)
    assert low == pytest.approx(-high) and high == pytest.approx(np.tanh(1.96 * np.sqrt(1.06 / 1000)))


def test_the_report_says_why_there_is_no_prim_box() -> None:
    findings = findings_from_frame(_frame(300), "r1", [f"p{i}" for i in range(10)], ["y"])
    assert any(n.startswith("No PRIM boxes: no declared outcome has a numeric threshold") for n in findings.notes)
    findings = findings_from_frame(_frame(300), "r1", [f"p{i}" for i in range(10)], ["y"], condition="y>=100")
    assert any("no run has y >= 100" in n for n in findings.notes)
