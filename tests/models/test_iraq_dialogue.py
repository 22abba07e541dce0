"""The flagship model (issues 4 and 13): its checks, its generative structure and its file.

The behaviour patterns (RM1-RM8 under `historical`, the same restated under `generative`),
the data, reality and lever-response checks live in the model file's `checks:` section and run
with `policylab validate`; `test_the_flagship_validates` runs them all here, so nothing they
assert is lost. The tests below add what a check cannot express: the structure of the events
and scenarios, the role of the random draws, the honesty of the ranges, the file itself. The
seed's policy conclusion is reported by the model (its card), never asserted here.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from ruamel.yaml import YAML

import policylab
from policylab.validation import validate

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "iraq_dialogue"
MODEL = MODEL_DIR / "model.yaml"
MAPPING = MODEL_DIR / "data_mapping.yaml"
SEED_DIR = ROOT.parent / "shared" / "seed"

RUNS = 1_000
SEED = 0
SEED_DATE = "2020-06-16"  # data stop at the seed's date

INDICES = ("us_influence", "iranian_influence", "militia_legitimacy", "protest_strength",
           "withdrawal_pressure", "state_capacity", "dialogue_sustainability")
COUNTS = ("attacks_per_month", "attacks", "us_troops", "us_bases", "us_diplomatic_staff")
SAVED = COUNTS + INDICES + ("bases_handed_over",)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def model() -> policylab.Model:
    return policylab.load(MODEL)


def _index(ds: xr.Dataset, date: str) -> int:
    dates = ds["date"].values.astype("datetime64[D]")
    i = int(np.searchsorted(dates, np.datetime64(date, "D")))
    assert dates[i] == np.datetime64(date, "D"), f"{date} is not a saved date"
    return i


# --------------------------------------------------------------------------- the model's own checks
def test_the_flagship_validates(model: policylab.Model) -> None:
    """Every check of the model file (holdout aside: it fits parameters) and the automatic ones hold."""
    kinds = ["behaviour", "data", "reality", "lever_response", "extreme", "integration", "units"]
    # 300 runs keep the default suite short; the card's figures (card/results.json) are the 1,000-run record
    report = validate(model, kinds=kinds, runs=300, seed=SEED, backend="auto")
    failed = [f"{r.name}: {r.detail or r.row()['share']}" for r in report.failed]
    assert not failed, "\n".join(failed)
    names = {r.name for r in report.results}
    assert {f"rm{i}" for i in range(1, 9)} <= {n[:3] for n in names}
    assert sum(n.startswith("rm") and "generative" in n for n in names) == 8


def test_every_mapped_series_has_a_data_check() -> None:
    mapping = YAML(typ="safe").load(MAPPING.read_text(encoding="utf-8"))
    checks = YAML(typ="safe").load(MODEL.read_text(encoding="utf-8"))["checks"]
    checked = {c["series"] for c in checks.values() if c["kind"] == "data"}
    assert set(mapping["series"]) == checked


def test_every_quote_says_how_it_states_its_link(model: policylab.Model) -> None:
    missing = [f"{ev.from_} -> {name}" for name, var in model.ir.variables.items() for ev in var.evidence
               if ev.kind == "source" and not ev.supports.strip()]
    assert not missing, f"quoted links without `supports`: {missing}"


def test_the_card_template_holds_no_figure_of_its_own() -> None:
    """Numbers in the template's prose are facts of the model file (dates, thresholds), never results."""
    import re

    template = (MODEL_DIR / "card" / "template.md.j2").read_text(encoding="utf-8")
    prose = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", template, flags=re.S)
    prose = re.sub(r"\b[A-Z][a-z]+ \d{4}\b", " ", prose)  # citations (Sterman 1984) are not figures
    numbers = set(re.findall(r"(?<![\w.\[#])\d+(?:[.,]\d+)*(?![\w])", prose))
    model_text = MODEL.read_text(encoding="utf-8")
    stray = sorted(n for n in numbers if n not in model_text)
    assert not stray, f"figures in card/template.md.j2 that are not in the model file: {stray}"


def test_the_card_is_the_rendering_of_its_template_and_results() -> None:
    """The model card cannot drift: README.md is regenerated from card/template.md.j2 + card/results.json."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "flagship_card.py"), "check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- extreme conditions
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
                   variables=list(SAVED), backend="auto")
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
    ds = model.run(scenario="historical", deterministic=True, variables=["anti_us_outrage", "withdrawal_pressure"], backend="auto")
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
    hist = model.run(scenario="historical", runs=200, seed=SEED, variables=names, backend="auto")
    gen = model.run(scenario="generative", runs=200, seed=SEED, variables=names, backend="auto")
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
               variables=["us_troops", "us_bases", "us_diplomatic_staff"], backend="auto")
    end = _index(ds, "2021-12-31")
    differs = np.zeros(200, dtype=bool)
    for name in ("us_troops", "us_bases", "us_diplomatic_staff"):
        v = ds[name].values[:, end]
        a, b = v[0::2], v[1::2]
        differs |= np.abs(a - b) > 0.05 * np.maximum(np.abs(a), np.abs(b))
    assert differs.mean() >= 0.25, f"only {differs.mean():.0%} of pairs differ"


def test_a_decapitation_is_possible_but_not_certain_at_nominal_parameters(model: policylab.Model) -> None:
    ds = model.run(scenario="generative", runs=1000, seed=SEED, sample=False, variables=["decapitation_strike"], backend="auto")
    end = _index(ds, "2021-12-31")
    p = float(((ds["decapitation_strike"].values[:, :end + 1] > 0).any(axis=1)).mean())
    assert 0.02 < p < 0.98, p


def test_withdrawal_pressure_never_exceeds_the_pro_withdrawal_seat_share(model: policylab.Model) -> None:
    ds = model.run(scenario="generative", runs=300, seed=SEED, variables=["withdrawal_pressure", "pro_withdrawal_seat_share"], backend="auto")
    assert np.all(ds["withdrawal_pressure"].values <= ds["pro_withdrawal_seat_share"].values + 1e-9)


def test_with_no_us_troops_the_demand_for_withdrawal_is_no_obstacle(model: policylab.Model) -> None:
    names = ["dialogue_obstacles", "troop_presence", "withdrawal_pressure", "maximum_pressure", "america_first",
             "indicated_threat"]
    ds = model.run(scenario="full_withdrawal", runs=100, seed=SEED, variables=names, backend="auto")
    late = slice(_index(ds, "2021-06-30"), None)
    assert float(ds["troop_presence"].values[:, late].max()) < 0.01
    w = ds["pillar_weight"].values[:, None]
    without_pressure = (w * (ds["maximum_pressure"].values + ds["america_first"].values) / 2
                       + ds["indicated_threat"].values) / (w + 2)
    assert np.allclose(ds["dialogue_obstacles"].values[:, late], without_pressure[:, late], atol=0.005)


def test_rebalance_moves_effort_from_troops_to_diplomacy_and_engagement(model: policylab.Model) -> None:
    names = ["us_troops", "us_diplomatic_staff", "engagement"]
    hist = model.run(scenario="historical", runs=200, seed=SEED, variables=names, backend="auto")
    reb = model.run(scenario="rebalance", runs=200, seed=SEED, variables=names, backend="auto")
    end = _index(hist, "2021-12-31")
    assert np.all(reb["engagement"].values[:, end] > hist["engagement"].values[:, end])
    assert np.mean(reb["us_troops"].values[:, end] < hist["us_troops"].values[:, end]) >= 0.95
    assert np.mean(reb["us_diplomatic_staff"].values[:, end] > hist["us_diplomatic_staff"].values[:, end]) >= 0.9


@pytest.mark.parametrize("lever, variable, sign", [("america_first", "us_diplomatic_staff", -1),
                                                   ("military_drawdown", "us_troops", -1),
                                                   ("engagement", "us_diplomatic_staff", 1)])
def test_levers_act_on_levels_from_the_start(model: policylab.Model, lever: str, variable: str, sign: int) -> None:
    """A lever held at its maximum from 2018 moves the posture against the same runs at its minimum."""
    low = model.run(scenario="generative", runs=100, seed=SEED, params={lever: 0.0}, variables=[variable], backend="auto")
    high = model.run(scenario="generative", runs=100, seed=SEED, params={lever: 1.0}, variables=[variable], backend="auto")
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


def test_generated_events_survive_an_xmile_round_trip(model: policylab.Model, tmp_path: Path) -> None:
    from policylab.formats.xmile.writer import save_xmile
    from policylab.model.ir import GeneratedEvent

    path = tmp_path / "flagship.xmile"
    save_xmile(model.ir, path)
    back = policylab.load(path)
    assert {n for n, v in back.ir.variables.items() if isinstance(v, GeneratedEvent)} == set(GENERATED)
    assert back.ir.scenarios["historical"].condition_until == model.ir.scenarios["historical"].condition_until
    names = ["us_troops", "dialogue_sustainability", "attacks"]
    for scenario in ("historical", "generative"):
        a = model.run(scenario=scenario, runs=10, seed=3, variables=names, backend="auto")
        b = back.run(scenario=scenario, runs=10, seed=3, variables=names, backend="auto")
        for name in names:
            np.testing.assert_array_equal(a[name].values, b[name].values)
