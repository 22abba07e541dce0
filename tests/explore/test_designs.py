"""Designs: samplers over the judgement parameters, lever grids, policies crossed or paired."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policylab.explore import (
    DesignError,
    DesignSource,
    design_hash,
    lever_grid,
    make_design,
    model_uncertainties,
    parameter_columns,
    sample_uncertainties,
)


def test_uncertainties_are_the_judgement_parameters_sorted_by_name(model):
    found = model_uncertainties(model.ir)
    assert [u.name for u in found] == ["capacity", "growth", "noise"]
    assert [u.distribution for u in found] == ["loguniform", "uniform", "triangular"]
    assert (found[1].low, found[1].high) == (0.01, 0.1)


def test_levers_join_the_uncertainties_when_asked(model):
    assert [u.name for u in model_uncertainties(model.ir, levers=True)][-1] == "relief"
    assert [u.kind for u in model_uncertainties(model.ir, levers=["all"])][-1] == "lever"
    with pytest.raises(DesignError, match="not a lever with a range.*relief"):
        model_uncertainties(model.ir, levers=["nope"])


def test_restricting_to_unknown_parameters_lists_the_choices(model):
    with pytest.raises(DesignError, match="choose from: capacity, growth, noise"):
        model_uncertainties(model.ir, only=["growht"])


def test_monte_carlo_design_is_exactly_what_model_run_samples(model):
    samples = sample_uncertainties(model_uncertainties(model.ir), 64, "mc", seed=3)
    ds = model.run(runs=64, seed=3, variables=["level"])
    for name in samples.columns:
        np.testing.assert_array_equal(samples[name].to_numpy(), ds.coords[name].values)


def test_monte_carlo_sample_k_does_not_depend_on_the_design_size(model):
    small = sample_uncertainties(model_uncertainties(model.ir), 10, "mc", seed=1)
    large = sample_uncertainties(model_uncertainties(model.ir), 100, "mc", seed=1)
    pd.testing.assert_frame_equal(small, large.iloc[:10])


def test_latin_hypercube_puts_one_point_in_every_stratum_of_every_dimension(model):
    n = 50
    growth = [u for u in model_uncertainties(model.ir) if u.name == "growth"]
    samples = sample_uncertainties(growth, n, "lhs", seed=0)
    unit = (samples["growth"].to_numpy() - 0.01) / 0.09
    assert sorted(np.floor(unit * n).astype(int)) == list(range(n))


def test_sobol_sizes_that_are_not_powers_of_two_raise_no_warning(model):
    samples = sample_uncertainties(model_uncertainties(model.ir), 100, "sobol", seed=0)
    assert len(samples) == 100 and samples.notna().all().all()
    first = sample_uncertainties(model_uncertainties(model.ir), 128, "sobol", seed=0)
    pd.testing.assert_frame_equal(samples, first.iloc[:100])


def test_samples_stay_in_range_and_follow_their_distributions(model):
    uncertainties = model_uncertainties(model.ir)
    for sampler in ("mc", "lhs", "sobol"):
        samples = sample_uncertainties(uncertainties, 4096, sampler, seed=2)
        for u in uncertainties:
            assert samples[u.name].between(u.low, u.high).all()
    capacity = sample_uncertainties(uncertainties, 4096, "lhs", seed=2)["capacity"]
    assert abs(np.median(capacity) - np.sqrt(50 * 200)) < 2  # log-uniform: the geometric mean is the median


def test_the_same_seed_gives_the_same_design_and_another_seed_another(model):
    uncertainties = model_uncertainties(model.ir)
    a = sample_uncertainties(uncertainties, 20, "lhs", seed=5)
    assert design_hash(a) == design_hash(sample_uncertainties(uncertainties, 20, "lhs", seed=5))
    assert design_hash(a) != design_hash(sample_uncertainties(uncertainties, 20, "lhs", seed=6))


def test_unknown_samplers_and_bad_sizes_are_refused_with_the_choices(model):
    with pytest.raises(DesignError, match="sampler must be one of mc, lhs, sobol, not 'halton'"):
        sample_uncertainties(model_uncertainties(model.ir), 10, "halton")  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="at least one sample"):
        sample_uncertainties(model_uncertainties(model.ir), 0)


def test_lever_grid_is_a_full_factorial_with_even_levels_from_a_count(model):
    grid = lever_grid(model.ir, {"relief": 3})
    assert grid["relief"].tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(DesignError, match="not a lever.*choose from: relief"):
        lever_grid(model.ir, {"growth": [1, 2]})


def test_crossed_design_runs_every_sample_under_every_policy_with_common_streams(model):
    samples = sample_uncertainties(model_uncertainties(model.ir), 10, "lhs", seed=0)
    design = make_design(samples, ["base", "relief"], lever_grid(model.ir, {"relief": [0, 1]}))
    assert len(design) == 40 and design.index.name == "run" and list(design.index) == list(range(40))
    assert design["policy"].unique().tolist() == ["base | relief=0", "base | relief=1", "relief | relief=0", "relief | relief=1"]
    for _, group in design.groupby("policy"):
        assert group["sample"].tolist() == list(range(10))
        np.testing.assert_array_equal(group["growth"].to_numpy(), samples["growth"].to_numpy())
    assert parameter_columns(design) == ["capacity", "growth", "noise", "relief"]


def test_paired_design_pairs_sample_i_with_policy_i_and_needs_equal_counts(model):
    samples = sample_uncertainties(model_uncertainties(model.ir), 3, "mc", seed=0)
    design = make_design(samples, ["base"], lever_grid(model.ir, {"relief": [0, 0.5, 1]}), "paired")
    assert design["relief"].tolist() == [0, 0.5, 1] and design["sample"].tolist() == [0, 1, 2]
    with pytest.raises(DesignError, match="as many policies as samples: 2 policies .* but 3 samples"):
        make_design(samples, ["base", "relief"], None, "paired")


def test_a_lever_cannot_be_both_sampled_and_on_the_grid(model):
    samples = sample_uncertainties(model_uncertainties(model.ir, levers=True), 3, "mc")
    with pytest.raises(DesignError, match=r"\['relief'\] appear both"):
        make_design(samples, ["base"], lever_grid(model.ir, {"relief": [0, 1]}))


@pytest.mark.parametrize("sampler", ["mc", "lhs", "sobol"])
@pytest.mark.parametrize("combine, n", [("crossed", 37), ("paired", 4)])
def test_a_design_source_builds_any_range_of_rows_exactly_as_the_whole_design(model, sampler, combine, n):
    uncertainties = model_uncertainties(model.ir)
    scenarios, grid = ["base", "relief"], lever_grid(model.ir, {"relief": [0, 1]})
    whole = make_design(sample_uncertainties(uncertainties, n, sampler, seed=9), scenarios, grid, combine)
    source = DesignSource(uncertainties, n, sampler, 9, scenarios, grid, combine)
    assert len(source) == len(whole) and source.columns == list(whole.columns)
    pd.testing.assert_frame_equal(source.frame(), whole)
    for start, stop in ((0, 1), (3, 40), (35, 80), (len(whole) - 2, len(whole) + 5)):
        pd.testing.assert_frame_equal(source.rows(start, stop), whole.iloc[start:stop])
    assert source.fingerprint() == DesignSource(uncertainties, n, sampler, 9, scenarios, grid, combine).fingerprint()
    assert source.fingerprint() != DesignSource(uncertainties, n, sampler, 8, scenarios, grid, combine).fingerprint()
