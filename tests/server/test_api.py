"""The HTTP API: models, descriptions, runs and comparisons with overrides, evidence in the source, explorations."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from policylab.model.evidence import normalise

POLICY = "2020-06-11"


def test_lists_exactly_the_models_registered_at_start(client):
    models = client.get("/api/models").json()
    assert [m["id"] for m in models] == ["sir", "seeded"]
    assert models[1]["calendar"] is True and models[1]["default_scenario"] == "historical"


def test_describes_levers_with_their_level_per_scenario_and_scenarios_with_policy_dates(client):
    info = client.get("/api/models/seeded").json()
    pressure = next(lv for lv in info["levers"] if lv["name"] == "maximum_pressure")
    assert pressure["range"] == [0, 1]
    assert pressure["level"] == {"historical": 1.0, "rebalance": 1.0, "ease_pressure": 0.5}
    assert {s["name"]: s["policy_date"] for s in info["scenario_details"]} == {
        "historical": None, "rebalance": POLICY, "ease_pressure": POLICY}
    assert [j["name"] for j in info["judgements"]] == ["relief_time", "tension_rate"]
    assert {e["name"]: e["x"] for e in info["events"]}["k1_attack"] == ["2019-12-27"]
    units = {v["name"]: v["units"] for v in info["variables"]}
    assert units["attacks_per_month"] == "1/month"
    link = next(lk for lk in info["links"] if lk["source"] == "maximum_pressure")
    assert link["sign"] == "+" and link["evidence"][0]["source"] == "dodge2020"
    assert info["loops"] and info["sources"][0]["available"] is True


def _bands(result, variable):
    return {k: np.array(v, dtype=float) for k, v in result["series"][variable].items()}


def test_an_ensemble_returns_ordered_bands_on_a_date_axis(client):
    result = client.post("/api/models/seeded/run", json={"runs": 30, "variables": ["attacks_per_month"]}).json()
    assert result["x_kind"] == "date" and result["x"][0] == "2018-01-01" and result["x"][-1] == "2021-12-31"
    b = _bands(result, "attacks_per_month")
    assert np.all(b["low"] <= b["median"]) and np.all(b["median"] <= b["high"]) and np.any(b["high"] > b["low"])
    assert [row["name"] for row in result["outcomes"]] == ["peak_attacks", "late_tension", "tense"]


def test_a_lever_override_acts_from_the_scenarios_policy_date_onward(client):
    body = {"scenario": "rebalance", "runs": 10, "variables": ["attacks_per_month"]}
    plain = client.post("/api/models/seeded/run", json=body).json()
    eased = client.post("/api/models/seeded/run", json={**body, "params": {"maximum_pressure": 0}}).json()
    cut = sum(x <= POLICY for x in plain["x"])
    before, after = _bands(plain, "attacks_per_month")["median"], _bands(eased, "attacks_per_month")["median"]
    np.testing.assert_array_equal(before[:cut], after[:cut])
    assert after[-1] < before[-1]
    assert plain["policy_date"] == POLICY


def test_comparison_uses_common_random_numbers_so_scenarios_agree_before_the_policy(client):
    result = client.post("/api/models/seeded/compare", json={"scenarios": ["historical", "ease_pressure"], "runs": 12,
                                                             "variables": ["us_iran_tension"]}).json()
    cut = sum(x <= POLICY for x in result["x"])
    hist = np.array(result["scenarios"]["historical"]["us_iran_tension"]["median"])
    eased = np.array(result["scenarios"]["ease_pressure"]["us_iran_tension"]["median"])
    np.testing.assert_array_equal(hist[:cut], eased[:cut])
    assert eased[-1] < hist[-1]
    assert result["policy_dates"] == {"historical": None, "ease_pressure": POLICY}
    assert set(result["table"][0]["values"]) == {"historical", "ease_pressure"}


def test_a_links_evidence_highlights_a_verbatim_passage_of_the_source(client, seed_text):
    link = client.get("/api/models/seeded/links/k1_attack/escalation").json()
    item = link["items"][0]
    seed = seed_text
    assert item["text"] == seed
    start, end = item["span"]
    assert seed[start:end] in seed and normalise(seed[start:end]) == normalise(item["quote"])
    assumption = client.get("/api/models/seeded/links/assassinations/escalation").json()["items"][0]
    assert assumption["kind"] == "assumption" and assumption["text"] is None and assumption["span"] is None


def test_the_diagram_is_svg_whose_edges_name_their_links(client):
    response = client.get("/api/models/seeded/diagram.svg")
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.startswith("<svg") and "maximum_pressure&#45;&gt;tension_build" in response.text


def test_readable_views_are_listed_and_drawn_and_an_unknown_one_is_a_404_naming_the_views(client):
    views = client.get("/api/models/sir/views").json()
    assert [v["key"] for v in views] == ["core", "all"] and views[0]["nodes"] <= 25
    core = client.get("/api/models/sir/diagram.svg", params={"view": "core"})
    assert core.status_code == 200 and core.text.startswith("<svg") and "infected&#45;&gt;susceptible" in core.text
    missing = client.get("/api/models/sir/diagram.svg", params={"view": "sector:bank"})
    assert missing.status_code == 404 and "no sector 'bank'" in missing.json()["detail"]
    wrong = client.get("/api/models/sir/diagram.svg", params={"view": "loop:R[nothing]#0000"})
    assert wrong.status_code == 404 and "no loop" in wrong.json()["detail"]


def test_loop_dominance_is_a_chart_over_the_dashboards_ensemble_whose_loops_the_diagram_draws(client):
    result = client.get("/api/models/sir/loops").json()
    assert result["runs"] == 20 and result["scored"] >= 1 and result["loops"]
    first = result["loops"][0]
    assert {t.get("legendgroup") for t in result["figure"]["data"]} >= {first["label"]}
    assert result["dominant_view"].startswith("loops:") and first["label"] in result["dominant_view"]
    drawn = client.get("/api/models/sir/diagram.svg", params={"view": f"loop:{first['label']}"})
    assert drawn.status_code == 200 and all(f"<title>{v}</title>" in drawn.text for v in first["variables"])
    bad = client.get("/api/models/sir/loops", params={"scenario": "nope"})
    assert bad.status_code == 422 and "nope" in bad.text


def test_a_model_without_a_readme_has_no_card(client):
    assert client.get("/api/models/sir/card").json() == {"html": None}


@pytest.mark.parametrize("body, field", [
    ({"scenario": "nope"}, "scenario"),
    ({"params": {"not_a_lever": 1}}, "params.not_a_lever"),
    ({"variables": ["nothing"]}, "variables[0]"),
    ({"runs": 0}, "runs"),
    ({"seed": -1}, "seed"),
    ({"bogus": True}, "bogus"),
    ({"params": {"maximum_pressure": "high"}}, "params.maximum_pressure"),
])
def test_invalid_requests_are_problem_details_naming_the_field(client, body, field):
    response = client.post("/api/models/seeded/run", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["field"] == field and field.split(".")[0].split("[")[0] in problem["detail"]


def test_an_unknown_model_is_a_404_problem_listing_the_served_ones(client):
    problem = client.get("/api/models/nope").json()
    assert problem["status"] == 404 and "sir, seeded" in problem["detail"]


def test_a_path_in_place_of_a_model_id_reaches_no_file(client):
    for path in ("/api/models/..%2F..%2Fetc%2Fpasswd", "/api/models/%2Fetc%2Fpasswd/run", "/api/runs/..%2F..%2Fx"):
        response = client.get(path)
        assert response.status_code == 404 and "root:" not in response.text


def test_an_exploration_runs_in_the_background_and_its_results_come_from_the_store(client):
    job = client.post("/api/models/sir/explorations", json={"samples": 16, "scenarios": ["all"]})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    deadline = time.monotonic() + 60
    while (status := client.get(f"/api/jobs/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "done", status
    assert status["done"] == status["total"] == 32
    assert status["run_id"] in [r["run_id"] for r in client.get("/api/runs").json()]
    summary = client.get(f"/api/runs/{status['run_id']}").json()
    assert summary["status"] == "complete" and summary["runs_done"] == 32
    assert {row["outcome"] for row in summary["summary"]} == {"peak_infected", "initial_reproduction_number", "ever_infected"}


def test_an_exploration_over_the_sample_cap_is_refused(client):
    problem = client.post("/api/models/sir/explorations", json={"samples": 150, "scenarios": ["all"]}).json()
    assert problem["status"] == 422 and problem["field"] == "samples"


def test_misspelt_names_in_requests_get_a_did_you_mean(client):
    scenario = client.post("/api/models/sir/run", json={"scenario": "distancng", "runs": 1})
    assert scenario.status_code == 422 and "Did you mean 'distancing'?" in scenario.json()["detail"]
    lever = client.post("/api/models/sir/run", json={"params": {"distancng": 0.2}, "runs": 1})
    assert lever.status_code == 422 and "Did you mean 'distancing'?" in lever.json()["detail"]
    model = client.get("/api/models/sri")
    assert model.status_code == 404 and "Did you mean 'sir'?" in model.json()["detail"]


def test_slider_moves_answer_exactly_the_numbers_of_model_run_through_a_dataset(client):
    """Moves are served from a prepared simulator's arrays (no Dataset): the same bands and table, to the bit."""
    import math

    import policylab
    from policylab.report.fan import fan, key_variables, thinned_index
    from policylab.results.outcomes import needed_variables
    from policylab.results.tables import comparison_table, default_rows

    model = policylab.load(Path(__file__).with_name("seeded") / "model.yaml")
    variables = key_variables(model.ir)
    for level in (0.2, 0.7, 0.35):  # one prepared simulator, moved
        result = client.post("/api/models/seeded/run", json={"runs": 20, "params": {"maximum_pressure": level}}).json()
        ds = model.run(params={"maximum_pressure": level}, runs=20, backend="auto",
                       variables=list(dict.fromkeys(variables + needed_variables(model.ir))))
        index = thinned_index(ds.sizes["time"])
        assert result["backend"] == ds.attrs["backend"]
        assert result["series"] == {v: fan(ds, v, index).bands for v in variables}
        table = comparison_table(model.ir, {"historical": ds}, default_rows(model.ir, None))
        for row, expected in zip(result["outcomes"], table):
            for key, value in expected["values"]["historical"].items():
                if isinstance(value, float) and not math.isfinite(value):
                    value = None
                assert row["values"]["historical"][key] == value, (row["name"], key)


def test_the_dashboard_page_says_busy_until_its_script_has_drawn_the_first_ensemble(client):
    """Browser tests (and users) wait for the status to turn idle: the page must not say so before loading."""
    page = client.get("/").text
    status = next(line for line in page.splitlines() if 'id="status"' in line)
    assert 'data-state="busy"' in status and "idle" not in status
