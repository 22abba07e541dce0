"""GET /api/models/{id}/validation: the table the dashboard's About tab shows."""

from __future__ import annotations


def test_the_validation_table_lists_the_models_written_checks_and_units(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/models/sir/validation").json()
    names = [c["name"] for c in body["checks"]]
    assert "epidemic_rises_peaks_and_ebbs" in names and "distancing_response" in names and names[-1] == "units"
    assert "forecast_after_day_30" not in names  # holdouts calibrate: `policylab validate` runs them
    assert body["runs"] == 20 and isinstance(body["ok"], bool)
    row = body["checks"][0]
    assert set(row) == {"name", "kind", "scenario", "share", "required", "verdict", "doc", "detail"}
    assert row["verdict"] in ("pass", "FAIL") and "runs" in row["share"]


def test_validation_of_an_unknown_model_is_404(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/models/nope/validation").status_code == 404
