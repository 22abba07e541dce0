"""The dashboard's About tab shows the model's validation table, as `policylab validate` prints it."""

from __future__ import annotations

import httpx

TIMEOUT = 120_000


def test_the_about_tab_shows_the_validation_table(page, server, artifacts):
    expected = httpx.get(f"{server}/api/models/flagship/validation", timeout=300).json()
    page.goto(server + "/")
    page.wait_for_selector('#status[data-state="idle"]', timeout=TIMEOUT)
    page.click('.tabs button[data-tab="about"]')
    page.wait_for_selector("#validation table tbody tr", timeout=TIMEOUT)
    cells = page.eval_on_selector_all("#validation tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
    assert cells == [c["name"] for c in expected["checks"]] and "units" in cells
    verdicts = page.eval_on_selector_all("#validation tbody tr", "rows => rows.map(r => r.cells[5].textContent)")
    assert verdicts == [c["verdict"] for c in expected["checks"]]
    page.locator("#validation").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "dashboard-validation.png"))
    assert page.problems == []
