"""The analysis verbs through the real Typer app: output shapes, files written, exit codes."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import policylab
from policylab.cli import app

ROOT = Path(__file__).resolve().parents[2]
SIR = str(ROOT / "models" / "sir" / "model.yaml")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_sensitivity_prints_indices_for_every_declared_outcome():
    result = invoke("sensitivity", SIR, "-n", "16", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert set(frame["outcome"]) == {"peak_infected", "initial_reproduction_number", "ever_infected"}
    assert set(frame["parameter"]) == {"contact_rate", "infectivity", "recovery_time"}


def test_sensitivity_over_time_writes_a_plotly_figure(tmp_path):
    plot = tmp_path / "st.html"
    result = invoke("sensitivity", SIR, "--over-time", "infected", "-n", "16", "--times", "5", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "total Sobol index ST of infected" in result.stdout
    assert "plotly" in plot.read_text(encoding="utf-8")[:200_000].lower()


def test_morris_screening_runs_from_the_cli():
    result = invoke("sensitivity", SIR, "--method", "morris", "-n", "4", "--outcome", "infected:max", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["outcome"] for r in rows} == {"infected_max"} and "mu_star" in rows[0]


def test_a_power_of_two_is_required_and_the_error_is_a_usage_error():
    result = invoke("sensitivity", SIR, "-n", "100")
    assert result.exit_code == 2
    assert "power of two" in result.stderr


def test_discover_reports_a_prim_box_and_cart_leaves_as_json():
    result = invoke("discover", SIR, "--where", "peak_infected>=2000", "-n", "400", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["condition"] == "peak_infected>=2000"
    box = found["prim"][0]
    assert "infectivity" in box["limits"] and box["density"] >= 0.7
    assert found["cart"]["leaves"][0]["density"] >= 0.7


def test_discover_needs_a_condition():
    result = invoke("discover", SIR, "-n", "20")
    assert result.exit_code == 2 and "--where" in result.stderr


def test_compare_reports_satisficing_shares_and_regret_on_common_runs(tmp_path):
    plot = tmp_path / "compare.html"
    result = invoke("compare", SIR, "-n", "100", "-t", "peak_infected<=2000", "--format", "csv", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout)).set_index(["outcome", "scenario"])
    assert frame.loc[("peak_infected", "distancing"), "share all"] > frame.loc[("peak_infected", "baseline"), "share all"]
    assert frame.loc[("peak_infected", "distancing"), "minimax_choice"] == "distancing"
    assert plot.exists()


def test_compare_table_names_the_sample_and_the_thresholds():
    result = invoke("compare", SIR, "-n", "50", "-t", "peak_infected<=2000", "--minimize", "ever_infected")
    assert result.exit_code == 0, result.output
    assert "share meeting" in result.stdout and "max regret" in result.stdout and "★" in result.stdout


def test_calibrate_fits_synthetic_data_and_writes_parameter_sets(tmp_path):
    model = policylab.load(SIR)
    truth = model.run(params={"contact_rate": 6.0, "infectivity": 0.05, "recovery_time": 8.0})
    t = np.arange(0, 100, 10)
    pd.DataFrame({"date": t, "series": "cases", "value": truth["infected"].sel(time=t).values[0]}).to_csv(
        tmp_path / "data.csv", index=False)
    (tmp_path / "map.yaml").write_text("series:\n  cases: {variable: infected}\nparameters: [recovery_time]\n", encoding="utf-8")
    out = tmp_path / "fit.csv"
    result = invoke("calibrate", SIR, "--mapping", str(tmp_path / "map.yaml"), "--data", str(tmp_path / "data.csv"),
                    "-g", "20", "--out", str(out), "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert abs(found["parameters"]["recovery_time"] - 8.0) < 0.05
    assert list(pd.read_csv(out).columns) == ["recovery_time", "weight", "distance"]


def test_calibrate_without_a_mapping_is_a_usage_error():
    result = invoke("calibrate", SIR)
    assert result.exit_code == 2 and "--mapping" in result.stderr


def test_the_analysis_package_exports_a_pinned_sorted_list():
    import policylab.analysis as analysis

    assert analysis.__all__ == sorted(analysis.__all__)
    assert all(hasattr(analysis, name) for name in analysis.__all__)


def test_compare_and_discover_read_a_stored_exploration(tmp_path):
    store = str(tmp_path / "store")
    explored = invoke("explore", SIR, "--runs", "120", "--scenario", "all", "--workers", "1", "--store", store, "-q")
    assert explored.exit_code == 0, explored.output
    run_id = explored.stdout.split()[0]
    compared = invoke("compare", SIR, "--from-run", run_id, "--store", store, "-t", "peak_infected<=2000", "--format", "json")
    assert compared.exit_code == 0, compared.output
    rows = {(r["outcome"], r["scenario"]): r for r in json.loads(compared.stdout)}
    assert rows[("peak_infected", "distancing")]["minimax_choice"] == "distancing"
    discovered = invoke("discover", SIR, "--from-run", run_id, "--store", store, "-s", "baseline",
                        "--where", "peak_infected>=2000", "--format", "json")
    assert discovered.exit_code == 0, discovered.output
    assert json.loads(discovered.stdout)["title"].startswith(f"run {run_id} (sir-epidemic) · baseline: ")
    unknown = invoke("discover", SIR, "--from-run", run_id, "--store", store, "--where", "peak_infected>=2000")
    assert unknown.exit_code == 2 and "choose one with --scenario" in unknown.stderr


def test_compare_with_parameter_sets_keeps_prior_draws_for_the_parameters_they_lack(tmp_path):
    sets = tmp_path / "posterior.csv"
    pd.DataFrame({"recovery_time": [7.0], "weight": [1.0], "distance": [0.1]}).to_csv(sets, index=False)
    result = invoke("compare", SIR, "-n", "60", "--sample", str(sets), "--outcome", "peak_infected", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout)).set_index("scenario")
    assert frame.loc["baseline", "p10"] < frame.loc["baseline", "p90"]  # contact_rate and infectivity still vary
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"recovery_tme": [7.0]}).to_csv(bad, index=False)
    rejected = invoke("compare", SIR, "-n", "10", "--sample", str(bad))
    assert rejected.exit_code == 1 and "recovery_tme are not judgement parameters" in rejected.stderr


def test_every_simulating_analysis_verb_takes_a_backend_and_both_engines_agree():
    for verb in (["sensitivity", SIR, "-n", "8"], ["discover", SIR, "--where", "peak_infected>=2000", "-n", "40"],
                 ["compare", SIR, "-n", "20"], ["calibrate", SIR]):
        refused = invoke(*verb, "--backend", "jax")
        assert refused.exit_code == 2 and "'jax' is not one of 'numpy', 'numba', 'auto'" in refused.stderr, verb
    outputs = {}
    for backend in ("numpy", "auto"):
        done = invoke("compare", SIR, "-n", "50", "--format", "csv", "--backend", backend)
        assert done.exit_code == 0, done.output
        outputs[backend] = pd.read_csv(io.StringIO(done.stdout))
    numeric = outputs["numpy"].select_dtypes("number").columns
    np.testing.assert_allclose(outputs["auto"][numeric], outputs["numpy"][numeric], rtol=1e-9)


def test_analysis_results_say_which_backend_ran():
    from policylab.analysis.sensitivity import sobol_indices

    model = policylab.load(SIR)
    assert sobol_indices(model, base_samples=8, backend="numpy").attrs["backend"] == "numpy"
    expected = "numba" if policylab.api.numba_available() else "numpy"
    assert sobol_indices(model, base_samples=8).attrs["backend"] == expected


def _sir_data(tmp_path, times, parameters: str) -> tuple[str, str]:
    model = policylab.load(SIR)
    truth = model.run(params={"contact_rate": 6.0, "infectivity": 0.05, "recovery_time": 8.0})
    pd.DataFrame({"date": times, "series": "cases", "value": truth["infected"].sel(time=times).values[0]}).to_csv(
        tmp_path / "data.csv", index=False)
    (tmp_path / "map.yaml").write_text(f"series:\n  cases: {{variable: infected}}\nparameters: {parameters}\n",
                                       encoding="utf-8")
    return str(tmp_path / "map.yaml"), str(tmp_path / "data.csv")


def test_calibrate_refuses_more_parameters_than_observations(tmp_path):
    mapping, data = _sir_data(tmp_path, [20, 40], "[contact_rate, infectivity, recovery_time]")
    refused = invoke("calibrate", SIR, "--mapping", mapping, "--data", data, "-g", "2")
    assert refused.exit_code == 2
    assert "3 parameters cannot be fitted to 2 observations" in refused.stderr and "--params" in refused.stderr
    forced = invoke("calibrate", SIR, "--mapping", mapping, "--data", data, "-g", "2", "--allow-underdetermined",
                    "--format", "json")
    assert forced.exit_code == 0, forced.output
    found = json.loads(forced.stdout)
    assert any("3 parameters were fitted to 2 observations" in w for w in found["warnings"])
    assert any("did not converge" in w for w in found["warnings"]) and not found["converged"]
    assert "best point found (not converged)" in invoke(
        "calibrate", SIR, "--mapping", mapping, "--data", data, "-g", "2", "--allow-underdetermined").stdout


def test_calibrate_says_which_parameters_the_data_constrain(tmp_path):
    # infectivity and contact_rate enter only as their product: the data cannot tell them apart
    mapping, data = _sir_data(tmp_path, list(range(0, 120, 5)), "[contact_rate, infectivity, recovery_time]")
    result = invoke("calibrate", SIR, "--mapping", mapping, "--data", data, "-g", "15", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["identifiability"]
    assert set(found["constrained"]) == {"contact_rate", "infectivity", "recovery_time"}
    assert found["collinearity"] > 15  # the product is determined, not its factors


def test_plots_share_one_plotly_js_per_folder_the_house_theme_and_scenario_colours(tmp_path):
    """Two --plot files in one folder: plotly.min.js written once beside them, each file small and themed,
    and a scenario's boxes one colour in every panel."""
    from policylab.results.style import SCENARIO_COLOURS

    compare, sensitivity = tmp_path / "compare.html", tmp_path / "st.html"
    assert invoke("compare", SIR, "-n", "40", "-t", "peak_infected<=2000", "--plot", str(compare)).exit_code == 0
    assert invoke("sensitivity", SIR, "--over-time", "infected", "-n", "16", "--times", "5",
                  "--plot", str(sensitivity)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.html", "plotly.min.js", "st.html"]
    for page in (compare, sensitivity):
        text = page.read_text(encoding="utf-8")
        assert page.stat().st_size < 500_000 and 'src="plotly.min.js"' in text
        assert SCENARIO_COLOURS[0] in text and "system-ui" in text  # the house template rides along
    figure = json.loads(re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", compare.read_text(), re.S)[1])
    boxes = [t for t in figure if t["type"] == "box"]
    by_scenario: dict[str, set[str]] = {}
    for box in boxes:
        by_scenario.setdefault(box["name"], set()).add(box["marker"]["color"])
    assert len(by_scenario) == 2 and all(len(c) == 1 for c in by_scenario.values())
    assert len({next(iter(c)) for c in by_scenario.values()}) == 2


def test_an_arrayed_parameter_is_named_with_its_element_in_a_table():
    # Rich reads "[north]" as markup and drops it: four rows all named contact_rate, with no region
    result = invoke("sensitivity", str(ROOT / "models" / "sir_regions" / "model.yaml"), "-n", "16")
    assert result.exit_code == 0, result.output
    shown = {f"contact_rate[{region}]" for region in ("north", "south", "east", "west")}
    assert shown <= set(re.findall(r"contact_rate\[\w+\]", result.stdout)), result.stdout
