"""The flagship model (issue 4): behaviour, data consistency and extreme-condition tests.

Behaviour patterns R1-R8 of the historical scenario must hold in the pointwise ensemble
median *and* in at least 80 % of the runs of a 1,000-run ensemble that samples every
judgement parameter over its range (Sterman 2000, ch. 21: behaviour-reproduction and
extreme-condition tests). Patterns about attacks use the expected tempo
``attacks_per_month``, not the noisy count. Data checks go through
``models/iraq_dialogue/data_mapping.yaml`` with the tolerances in ``TOLERANCES`` below.
The seed's policy conclusion (rebalancing beats the twin pillars) is reported by the
model, never asserted here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from ruamel.yaml import YAML

import policylab

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "iraq_dialogue"
MODEL = MODEL_DIR / "model.yaml"
MAPPING = MODEL_DIR / "data_mapping.yaml"
SEED_DIR = ROOT.parent / "shared" / "seed"

RUNS = 1_000
SEED = 0
SHARE = 0.8  # patterns must hold in at least this share of runs
SEED_DATE = "2020-06-16"  # data stop at the seed's date

INDICES = ("us_influence", "iranian_influence", "militia_legitimacy", "protest_strength",
           "withdrawal_pressure", "state_capacity", "dialogue_sustainability")
COUNTS = ("attacks_per_month", "attacks", "us_troops", "us_bases", "us_diplomatic_staff")
SAVED = COUNTS + INDICES + ("bases_handed_over",)

# Tolerances of the data checks: (kind, tolerance, why).
#   relative: |median - observed| <= tol * observed
#   lower_bound: median >= (1 - tol) * observed (the source gives a lower bound or a narrower count)
#   absolute: |median - observed| <= tol
TOLERANCES = {
    "attacks_us_targets_iraq_cum_since_oct2019_AFP": (
        "relative", 0.35,
        "tallies of the same attacks differ by about a third with their definition (MECRA: 10 "
        "rocket attacks by 28 Dec 2019; WaPo: at least 9 in the six weeks to 9 Dec), and a "
        "Poisson count of ~25 has a standard deviation of ~5 (20 %)"),
    "attacks_us_targets_iraq_cum_since_oct2019_other": (
        "lower_bound", 0.25,
        "narrower definitions (rockets only; 'targeting US personnel') or explicit lower bounds "
        "('more than two dozen'), so the model, which counts every attack on US targets, should "
        "not fall far below them"),
    "us_troops_iraq_reported": (
        "relative", 0.20,
        "within December 2019 three sources gave 5,000, 5,200 and 6,000 troops (series.csv), "
        "a spread of 20 %"),
    "coalition_base_transfers_2020_cum": (
        "absolute", 3.0,
        "the model's base count is a judgement (no total in the data), coalition and US-held "
        "sites differ (the sixth was a French-run compound), and the model spreads the "
        "hand-over programme over weeks around its mean date"),
    "us_mission_iraq_staff": (
        "relative", 0.12,
        "486 is the State Department's December 2019 baseline; 349 is a plan for end-May 2020 "
        "that the March 2020 ordered departure may have overtaken"),
}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def model() -> policylab.Model:
    return policylab.load(MODEL)


@pytest.fixture(scope="module")
def historical(model: policylab.Model) -> xr.Dataset:
    return model.run(scenario="historical", runs=RUNS, seed=SEED, variables=list(SAVED))


@pytest.fixture(scope="module")
def no_assassination(model: policylab.Model) -> xr.Dataset:
    return model.run(scenario="no_assassination", runs=RUNS, seed=SEED, variables=list(SAVED))


# --------------------------------------------------------------------------- helpers
def _index(ds: xr.Dataset, date: str) -> int:
    dates = ds["date"].values.astype("datetime64[D]")
    i = int(np.searchsorted(dates, np.datetime64(date, "D")))
    assert dates[i] == np.datetime64(date, "D"), f"{date} is not a saved date"
    return i


def _at(ds: xr.Dataset, var: str, date: str) -> np.ndarray:
    return ds[var].values[:, _index(ds, date)]


def _window(ds: xr.Dataset, var: str, start: str, end: str) -> np.ndarray:
    return ds[var].values[:, _index(ds, start):_index(ds, end) + 1]


_MEDIANS: dict[int, xr.Dataset] = {}


def _median(ds: xr.Dataset) -> xr.Dataset:
    """The pointwise ensemble median as a one-run Dataset (computed once per ensemble)."""
    if id(ds) not in _MEDIANS:
        med = ds[list(ds.data_vars)].median("run").expand_dims(run=[0])
        _MEDIANS[id(ds)] = med.assign_coords(date=ds["date"])
    return _MEDIANS[id(ds)]


def _assert_pattern(pattern, *datasets: xr.Dataset) -> None:  # type: ignore[no-untyped-def]
    per_run = pattern(*datasets)
    in_median = pattern(*(_median(ds) for ds in datasets))
    share = float(np.mean(per_run))
    assert bool(in_median[0]), f"{pattern.__name__} fails in the ensemble median"
    assert share >= SHARE, f"{pattern.__name__} holds in only {share:.1%} of runs (needs {SHARE:.0%})"


# --------------------------------------------------------------------------- patterns
def r1_attacks_rise_through_2019_and_peak_in_dec_or_jan(ds: xr.Dataset) -> np.ndarray:
    quarters = [("2019-01-01", "2019-03-31"), ("2019-04-01", "2019-06-30"),
                ("2019-07-01", "2019-09-30"), ("2019-10-01", "2019-12-31")]
    q = [_window(ds, "attacks_per_month", a, b).mean(axis=1) for a, b in quarters]
    rising = (q[0] < q[1]) & (q[1] < q[2]) & (q[2] < q[3])
    span = _window(ds, "attacks_per_month", "2019-01-01", "2020-06-30")
    peak_day = np.argmax(span, axis=1) + _index(ds, "2019-01-01")
    return rising & (peak_day >= _index(ds, "2019-12-01")) & (peak_day <= _index(ds, "2020-01-31"))


def r2_attacks_continue_at_lower_tempo_through_june_2020(ds: xr.Dataset) -> np.ndarray:
    peak = _window(ds, "attacks_per_month", "2019-01-01", "2020-06-30").max(axis=1)
    after = _window(ds, "attacks_per_month", "2020-01-04", "2020-06-30")
    later = _window(ds, "attacks_per_month", "2020-02-01", "2020-06-30")
    return (after.min(axis=1) > 1.0) & (later.max(axis=1) < peak) & (later.mean(axis=1) < 0.85 * peak)


def r3_diplomatic_staff_falls_by_at_least_28_percent(ds: xr.Dataset) -> np.ndarray:
    def staff(d: str) -> np.ndarray:
        return _at(ds, "us_diplomatic_staff", d)
    falls = (staff("2018-12-31") < staff("2018-01-01")) & (staff("2019-12-05") < staff("2018-12-31")) \
        & (staff("2020-06-30") < staff("2019-12-05"))
    return falls & (staff("2020-05-31") <= (1 - 0.28) * staff("2019-12-06"))


def r4_iranian_influence_rises_steadily(ds: xr.Dataset) -> np.ndarray:
    dates = ["2018-01-01", "2018-07-01", "2019-01-01", "2019-07-01", "2020-01-01", "2020-07-01", "2020-12-31"]
    values = [_at(ds, "iranian_influence", d) for d in dates]
    return np.all([b > a + 0.005 for a, b in zip(values, values[1:])], axis=0)


def r5_militia_legitimacy_falls_with_protests_and_recovers(ds: xr.Dataset) -> np.ndarray:
    def legit(d: str) -> np.ndarray:
        return _at(ds, "militia_legitimacy", d)
    return (legit("2019-12-27") < legit("2019-09-30") - 0.03) & (legit("2020-06-30") > legit("2020-01-02") + 0.03)


def r6_protests_rise_then_fall_below_no_assassination(ds: xr.Dataset, counterfactual: xr.Dataset) -> np.ndarray:
    def protest(d: str) -> np.ndarray:
        return _at(ds, "protest_strength", d)
    rises = (protest("2019-10-15") > protest("2019-09-30") + 0.05) & (protest("2019-11-30") > protest("2019-10-15"))
    lower = np.all(_window(ds, "protest_strength", "2020-01-05", "2020-06-30")
                   < _window(counterfactual, "protest_strength", "2020-01-05", "2020-06-30"), axis=1)
    return rises & lower


def r7_withdrawal_pressure_jumps_in_january_2020(ds: xr.Dataset) -> np.ndarray:
    jump = _at(ds, "withdrawal_pressure", "2020-01-31") - _at(ds, "withdrawal_pressure", "2019-12-31")
    y2019 = _window(ds, "withdrawal_pressure", "2019-01-01", "2019-12-26")
    largest_month_2019 = (y2019[:, 31:] - y2019[:, :-31]).max(axis=1)
    return (jump >= 0.15) & (jump > 3 * largest_month_2019)


def r8_fewer_bases_by_mid_2020(ds: xr.Dataset) -> np.ndarray:
    return _at(ds, "us_bases", "2020-06-30") < _at(ds, "us_bases", "2020-01-01") - 0.5


# --------------------------------------------------------------------------- behaviour
def test_r1_attacks_rise_through_2019_and_peak_in_december_or_january(historical: xr.Dataset) -> None:
    _assert_pattern(r1_attacks_rise_through_2019_and_peak_in_dec_or_jan, historical)


def test_r2_attacks_continue_after_the_assassinations_at_a_lower_tempo(historical: xr.Dataset) -> None:
    _assert_pattern(r2_attacks_continue_at_lower_tempo_through_june_2020, historical)


def test_r3_diplomatic_staff_falls_by_at_least_the_planned_28_percent(historical: xr.Dataset) -> None:
    _assert_pattern(r3_diplomatic_staff_falls_by_at_least_28_percent, historical)


def test_r4_iranian_influence_rises_steadily_2018_2020(historical: xr.Dataset) -> None:
    _assert_pattern(r4_iranian_influence_rises_steadily, historical)


def test_r5_militia_legitimacy_falls_in_the_protests_and_recovers_after_january(historical: xr.Dataset) -> None:
    _assert_pattern(r5_militia_legitimacy_falls_with_protests_and_recovers, historical)


def test_r6_protests_rise_from_october_and_are_weaker_than_without_the_assassinations(
        historical: xr.Dataset, no_assassination: xr.Dataset) -> None:
    _assert_pattern(r6_protests_rise_then_fall_below_no_assassination, historical, no_assassination)


def test_r7_withdrawal_pressure_jumps_in_january_2020(historical: xr.Dataset) -> None:
    _assert_pattern(r7_withdrawal_pressure_jumps_in_january_2020, historical)


def test_r8_us_forces_hold_fewer_bases_by_mid_2020(historical: xr.Dataset) -> None:
    _assert_pattern(r8_fewer_bases_by_mid_2020, historical)


# --------------------------------------------------------------------------- data
def _observations() -> tuple[dict, pd.DataFrame]:
    mapping = YAML(typ="safe").load(MAPPING.read_text(encoding="utf-8"))
    data = pd.read_csv(MAPPING.parent / mapping["data"], dtype={"date": str})
    return mapping, data


def _mapped_series() -> list[str]:
    return list(YAML(typ="safe").load(MAPPING.read_text(encoding="utf-8"))["series"])


def _as_date(text: str) -> str:
    """Series dates may be YYYY-MM (read as the 15th) or YYYY-MM-DD."""
    text = text.strip()
    return f"{text}-15" if len(text) == 7 else text[:10]


def test_every_series_in_the_mapping_has_a_tolerance_and_data() -> None:
    mapping, data = _observations()
    for name, entry in mapping["series"].items():
        assert name in TOLERANCES, f"{name}: no tolerance stated"
        assert (data["series"] == name).any(), f"{name}: not in {mapping['data']}"
        assert set(entry) <= {"variable", "baseline", "weight", "scale"}


@pytest.mark.parametrize("series", _mapped_series())
def test_historical_ensemble_is_consistent_with_the_data(historical: xr.Dataset, series: str) -> None:
    mapping, data = _observations()
    entry = mapping["series"][series]
    kind, tol, _why = TOLERANCES[series]
    rows = data[data["series"] == series]
    compared = 0
    for _, row in rows.iterrows():
        date = _as_date(row["date"])
        if not "2018-01-01" <= date <= SEED_DATE:
            continue
        values = _at(historical, entry["variable"], date)
        if "baseline" in entry:
            values = values - _at(historical, entry["variable"], str(entry["baseline"]))
        median, observed = float(np.median(values)), float(row["value"])
        where = f"{series} on {date}: model median {median:.1f}, observed {observed:g}"
        if kind == "relative":
            assert abs(median - observed) <= tol * observed, where
        elif kind == "absolute":
            assert abs(median - observed) <= tol, where
        else:
            assert median >= (1 - tol) * observed, where
        compared += 1
    assert compared > 0


# --------------------------------------------------------------------------- extreme conditions
def test_nothing_escalates_without_maximum_pressure_and_attack_capability(model: policylab.Model) -> None:
    names = ["attacks_per_month", "attacks", "us_iran_tension", "anti_us_outrage", "us_threat_perception",
             "us_bases", "withdrawal_pressure"]
    ds = model.run(scenario="no_maximum_pressure", params={"militia_attack_capability_scale": 0, "maximum_pressure": 0},
                   runs=100, seed=SEED, variables=names)
    assert float(ds["attacks_per_month"].max()) == 0.0
    assert float(ds["attacks"].max()) == 0.0
    for name in ("us_iran_tension", "anti_us_outrage", "us_threat_perception", "us_bases"):
        steps = ds[name].diff("time")
        assert float(steps.max()) <= 1e-12, f"{name} rises"
    # withdrawal pressure may drift with Iran's slowly growing influence, but never jumps
    pressure = ds["withdrawal_pressure"].values
    assert float((pressure[:, 31:] - pressure[:, :-31]).max()) < 0.01, "withdrawal pressure jumps"


def _corner_params(model: policylab.Model, runs: int, seed: int) -> dict[str, np.ndarray]:
    """Every judgement parameter at the low or the high end of its range, at random per run."""
    rng = np.random.default_rng(seed)
    spec = YAML(typ="safe").load(MODEL.read_text(encoding="utf-8"))["constants"]
    params = {}
    for name, const in spec.items():
        if isinstance(const, dict) and const.get("judgement"):
            low, high = const["range"]
            params[name] = np.where(rng.random(runs) < 0.5, float(low), float(high))
    return params


@pytest.mark.parametrize("scenario", ["historical", "rebalance", "rebalance_ease_pressure", "no_assassination",
                                      "no_maximum_pressure", "full_withdrawal"])
def test_no_stock_leaves_its_physical_range_at_the_corners_of_the_parameter_space(
        model: policylab.Model, scenario: str) -> None:
    runs = 32
    ds = model.run(scenario=scenario, params=_corner_params(model, runs, seed=7), runs=runs, seed=SEED,
                   variables=list(SAVED))
    for name in INDICES:
        values = ds[name].values
        assert np.all(values >= 0) and np.all(values <= 1), f"{name} leaves [0, 1] in {scenario}"
    for name in COUNTS + ("bases_handed_over",):
        assert np.all(ds[name].values >= -1e-9), f"{name} goes negative in {scenario}"


# --------------------------------------------------------------------------- integration error
def _reported_figures(ds: xr.Dataset) -> dict[str, float]:
    """The figures `policylab run` reports for the flagship (deterministic single run)."""
    def window_mean(var: str, year: int) -> float:
        dates = ds["date"].values.astype("datetime64[D]")
        mask = (dates >= np.datetime64(f"{year}-01-01")) & (dates <= np.datetime64(f"{year}-12-31"))
        return float(ds[var].values[0, mask].mean())

    def end_2021(var: str) -> float:
        dates = ds["date"].values.astype("datetime64[D]")
        return float(ds[var].values[0, int(np.searchsorted(dates, np.datetime64("2021-12-31")))])

    figures = {f"attacks_per_month {y}": window_mean("attacks_per_month", y) for y in (2019, 2020, 2021)}
    figures |= {f"{v} end-2021": end_2021(v) for v in
                ("us_influence", "iranian_influence", "militia_legitimacy", "protest_strength",
                 "dialogue_sustainability")}
    return figures


def test_halving_dt_changes_no_reported_figure_by_more_than_2_percent(tmp_path: Path) -> None:
    text = MODEL.read_text(encoding="utf-8")
    assert "\n  dt: 1\n" in text
    half = tmp_path / "model.yaml"
    half.write_text(text.replace("\n  dt: 1\n", "\n  dt: 0.5\n  save_every: 1\n"), encoding="utf-8")
    names = ["attacks_per_month", "us_influence", "iranian_influence", "militia_legitimacy", "protest_strength",
             "dialogue_sustainability"]
    full = _reported_figures(policylab.load(MODEL).run(scenario="historical", deterministic=True, variables=names))
    halved = _reported_figures(policylab.load(half).run(scenario="historical", deterministic=True, variables=names))
    for key, value in full.items():
        # relative change, with a floor of 0.01 for indices that end near zero
        assert abs(halved[key] - value) <= 0.02 * max(abs(value), 0.01), f"{key}: {value:.4f} vs {halved[key]:.4f}"


# --------------------------------------------------------------------------- the file itself
def test_the_model_checks_clean_with_its_source(model: policylab.Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYLAB_SOURCES", str(SEED_DIR))
    report = model.check(strict=True)  # every source found, every quote verified
    assert report.ok, "\n".join(str(line) for line in getattr(report, "lines", []))


def test_outcome_variables_carry_the_names_other_tools_read(model: policylab.Model) -> None:
    assert set(SAVED) <= set(model.variables)
    assert "sustainability_threshold" in model.ir.variables
    assert model.ir.default_scenario == "historical"
    assert {"historical", "generative", "rebalance", "rebalance_ease_pressure", "no_assassination",
            "no_maximum_pressure", "full_withdrawal"} == set(model.scenarios)


def test_the_december_and_january_records_fall_in_distinct_ordered_steps(model: policylab.Model) -> None:
    spec = YAML(typ="safe").load(MODEL.read_text(encoding="utf-8"))
    assert spec["time"]["units"] == "day" and float(spec["time"]["dt"]) <= 1
    events = spec["events"]
    dates = [events[name]["record"][0] for name in ("lethal_attack", "us_strike", "decapitation_strike",
                                                     "withdrawal_resolution")]
    assert dates == [dt.date(2019, 12, 27), dt.date(2019, 12, 29), dt.date(2020, 1, 3), dt.date(2020, 1, 5)]
    ds = model.run(scenario="historical", deterministic=True, variables=["anti_us_outrage", "withdrawal_pressure"])
    outrage = ds["anti_us_outrage"].values[0]
    jumps = np.diff(outrage)
    assert jumps[_index(ds, "2019-12-29")] > 0.1 and jumps[_index(ds, "2020-01-03")] > 0.2
    assert jumps[_index(ds, "2019-12-28")] < 0.01 and jumps[_index(ds, "2020-01-02")] < 0.01


# --------------------------------------------------------------------------- generative structure (issue 13)
GENERATED = ("lethal_attack", "us_strike", "decapitation_strike", "embassy_siege", "iran_retaliation",
             "withdrawal_resolution", "staff_cut_plan", "base_handover", "forces_agreement_reached", "sfa_updated")


def test_every_event_is_exogenous_with_a_reason_or_generated_with_a_hazard(model: policylab.Model) -> None:
    spec = YAML(typ="safe").load(MODEL.read_text(encoding="utf-8"))
    for name, event in spec["events"].items():
        assert bool(event.get("hazard")) != bool(event.get("exogenous")), f"{name}: exogenous (why) or generated (hazard)"
    assert set(GENERATED) == {n for n, e in spec["events"].items() if e.get("hazard")}
    # the outcomes the seed explains are generated, not dated inputs
    assert not {"k1_attack", "assassinations", "parliament_resolution", "embassy_storming"} & set(spec["events"])


def test_historical_follows_the_record_to_the_seed_date_and_generative_pins_nothing(model: policylab.Model) -> None:
    names = ["decapitation_strike", "lethal_attack"]
    hist = model.run(scenario="historical", runs=200, seed=SEED, variables=names)
    gen = model.run(scenario="generative", runs=200, seed=SEED, variables=names)
    seed_day = _index(hist, SEED_DATE)
    decap_hist = hist["decapitation_strike"].values[:, :seed_day]
    assert np.all((decap_hist > 0).sum(axis=1) == 1) and np.all(decap_hist[:, _index(hist, "2020-01-03")] > 0)
    decap_gen = gen["decapitation_strike"].values[:, :seed_day]
    days = np.argmax(decap_gen > 0, axis=1)[(decap_gen > 0).any(axis=1)]
    assert len(set(days.tolist())) > 10, "generative decapitations should fall on many different days"


def test_random_streams_change_the_us_posture() -> None:
    """Same parameters, different streams: troops, bases or staff end >5 % apart in a quarter of pairs."""
    m = policylab.load(MODEL)
    ds = m.run(scenario="generative", runs=400, seed=SEED, sample=False,
               variables=["us_troops", "us_bases", "us_diplomatic_staff"])
    end = _index(ds, "2021-12-31")
    differs = np.zeros(200, dtype=bool)
    for name in ("us_troops", "us_bases", "us_diplomatic_staff"):
        v = ds[name].values[:, end]
        a, b = v[0::2], v[1::2]
        differs |= np.abs(a - b) > 0.05 * np.maximum(np.abs(a), np.abs(b))
    assert differs.mean() >= 0.25, f"only {differs.mean():.0%} of pairs differ"


def test_a_decapitation_is_possible_but_not_certain_at_nominal_parameters(model: policylab.Model) -> None:
    ds = model.run(scenario="generative", runs=1000, seed=SEED, sample=False, variables=["decapitation_strike"])
    end = _index(ds, "2021-12-31")
    p = float(((ds["decapitation_strike"].values[:, :end + 1] > 0).any(axis=1)).mean())
    assert 0.02 < p < 0.98, p


def test_withdrawal_pressure_never_exceeds_the_pro_withdrawal_seat_share(model: policylab.Model) -> None:
    ds = model.run(scenario="generative", runs=300, seed=SEED, variables=["withdrawal_pressure", "pro_withdrawal_seat_share"])
    assert np.all(ds["withdrawal_pressure"].values <= ds["pro_withdrawal_seat_share"].values + 1e-9)


def test_with_no_us_troops_the_demand_for_withdrawal_is_no_obstacle(model: policylab.Model) -> None:
    names = ["dialogue_obstacles", "troop_presence", "withdrawal_pressure", "maximum_pressure", "america_first",
             "indicated_threat"]
    ds = model.run(scenario="full_withdrawal", runs=100, seed=SEED, variables=names)
    late = slice(_index(ds, "2021-06-30"), None)
    assert float(ds["troop_presence"].values[:, late].max()) < 0.01
    w = ds["pillar_weight"].values[:, None]
    without_pressure = (w * (ds["maximum_pressure"].values + ds["america_first"].values) / 2
                       + ds["indicated_threat"].values) / (w + 2)
    assert np.allclose(ds["dialogue_obstacles"].values[:, late], without_pressure[:, late], atol=0.005)


def test_rebalance_moves_effort_from_troops_to_diplomacy_and_engagement(model: policylab.Model) -> None:
    names = ["us_troops", "us_diplomatic_staff", "engagement"]
    hist = model.run(scenario="historical", runs=200, seed=SEED, variables=names)
    reb = model.run(scenario="rebalance", runs=200, seed=SEED, variables=names)
    end = _index(hist, "2021-12-31")
    assert np.all(reb["engagement"].values[:, end] > hist["engagement"].values[:, end])
    assert np.mean(reb["us_troops"].values[:, end] < hist["us_troops"].values[:, end]) >= 0.95
    assert np.mean(reb["us_diplomatic_staff"].values[:, end] > hist["us_diplomatic_staff"].values[:, end]) >= 0.9


@pytest.mark.parametrize("lever, variable, sign", [("america_first", "us_diplomatic_staff", -1),
                                                   ("military_drawdown", "us_troops", -1),
                                                   ("engagement", "us_diplomatic_staff", 1)])
def test_levers_act_on_levels_from_the_start(model: policylab.Model, lever: str, variable: str, sign: int) -> None:
    """A lever held at its maximum from 2018 moves the posture against the same runs at its minimum."""
    low = model.run(scenario="generative", runs=100, seed=SEED, params={lever: 0.0}, variables=[variable])
    high = model.run(scenario="generative", runs=100, seed=SEED, params={lever: 1.0}, variables=[variable])
    end = _index(low, "2021-12-31")
    moved = sign * (high[variable].values[:, end] - low[variable].values[:, end])
    assert np.mean(moved > 0) >= 0.9, f"{lever} -> {variable}: moves as its evidence says in {np.mean(moved > 0):.0%}"


def test_every_judgement_range_spans_half_its_centre_or_cites_the_data_that_narrows_it() -> None:
    spec = YAML(typ="safe").load(MODEL.read_text(encoding="utf-8"))
    for name, const in spec["constants"].items():
        if not const.get("judgement"):
            continue
        value, (low, high) = float(const["value"]), map(float, const["range"])
        bounds = const.get("bounds") or [None, None]
        phys_low = 0.0 if bounds[0] is None else float(bounds[0])
        phys_high = np.inf if bounds[1] is None else float(bounds[1])
        wide = low <= max(0.5 * value, phys_low) + 1e-12 and high >= min(1.5 * value, phys_high) - 1e-12
        assert wide or str(const["basis"]).startswith("Narrowed by data"), f"{name}: range {low, high} around {value}"


def test_facts_carry_sources_and_judgements_carry_ranges_and_bases() -> None:
    spec = YAML(typ="safe").load(MODEL.read_text(encoding="utf-8"))
    definitions = {"days_per_month", "sustainability_threshold", "seed_date", "majority_share"}
    for name, const in spec["constants"].items():
        if const.get("judgement"):
            low, high = const["range"]
            assert low <= const["value"] <= high and const.get("basis"), name
        elif name not in definitions:
            assert const.get("source") in spec["sources"], f"{name}: a fact without a source"
