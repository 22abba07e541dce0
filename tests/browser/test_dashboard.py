"""The dashboard in a real browser: a lever slider re-simulates the ensemble, scenarios side by side, evidence in the seed."""

from __future__ import annotations

import httpx

IDLE = '#status[data-state="idle"]'
TIMEOUT = 120_000
MEDIAN = """node => { const t = node.data.filter(d => d.line && d.line.width === 2); return t[0].y; }"""


def _attack_variable(info: dict) -> str:
    names = [v["name"] for v in info["variables"] if v["kind"] in ("flow", "auxiliary", "stock")]
    return next(n for n in ["attacks_per_month", *names] if n in names and "attack" in n)


def _show(page, name: str) -> None:
    """Make sure ``name`` is plotted: a pressed chip is (its chart may draw just after the status turns idle: waiting
    for it in the add-variable list, which lists no chip, hung whenever the chart was late), an unpressed chip is
    pressed, any other variable is added from the list."""
    chip = page.locator(f'#var-picker .chip[data-variable="{name}"]')
    if chip.count():
        if chip.get_attribute("aria-pressed") != "true":
            chip.click()
        return
    page.select_option("#add-variable", name, timeout=TIMEOUT)


def _open(page, server: str) -> None:
    page.goto(server + "/")
    page.wait_for_selector(IDLE, timeout=TIMEOUT)


def test_moving_the_maximum_pressure_slider_changes_the_plotted_attack_series(page, server, artifacts):
    info = httpx.get(f"{server}/api/models/flagship", timeout=120).json()
    attacks = _attack_variable(info)
    _open(page, server)
    chart = f'.fan[data-variable="{attacks}"]'
    _show(page, attacks)
    page.wait_for_selector(chart + "[data-version]", timeout=TIMEOUT)
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    before = page.eval_on_selector(chart, MEDIAN)
    version = page.get_attribute(chart, "data-version")
    note = page.text_content("#lever-note")
    assert "lever slider sets" in note
    page.locator('#levers input[data-param="maximum_pressure"]').fill("0")
    page.wait_for_function(f"""() => {{ const n = document.querySelector('{chart}');
        return n.dataset.version !== '{version}' && document.querySelector('#status').dataset.state === 'idle'; }}""",
                           timeout=TIMEOUT)
    after = page.eval_on_selector(chart, MEDIAN)
    assert len(after) == len(before) and after != before
    assert sum(after) < sum(before)  # no sanctions pressure, fewer attacks
    reference = page.eval_on_selector(chart, "n => n.data.filter(d => d.name === 'as written').map(d => d.y)")
    assert reference == [before]  # the scenario as written stays on the chart, for comparison
    assert page.text_content('.param[data-name="maximum_pressure"] output') == "0"
    page.locator(chart).scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "dashboard-slider.png"))
    assert page.problems == []


def test_the_scenario_comparison_renders_side_by_side(page, server, artifacts):
    info = httpx.get(f"{server}/api/models/flagship", timeout=120).json()
    _open(page, server)
    page.click('button[data-tab="compare"]')
    page.wait_for_selector("#compare-charts[data-version]", timeout=TIMEOUT)
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    chosen = page.eval_on_selector_all("#compare-scenarios .chip[aria-pressed=true]", "ns => ns.map(n => n.dataset.scenario)")
    assert len(chosen) == 2 and chosen[0] == info["default_scenario"]
    charts = page.locator(".compare-chart")
    rows = page.locator(".compare-row").count()
    assert rows >= 1 and charts.count() == 2 * rows
    assert page.locator(f'.compare-chart[data-scenario="{chosen[1]}"] .main-svg').count() >= 1
    header = page.text_content("#compare-table")
    assert (chosen[0] in header and chosen[1] in header) or "declares no outcomes" in header
    page.screenshot(path=str(artifacts / "dashboard-compare.png"))
    assert page.problems == []


def test_clicking_a_link_shows_its_quote_highlighted_verbatim_in_the_seed(page, server, artifacts, graphviz, seed_text):
    info = httpx.get(f"{server}/api/models/flagship", timeout=120).json()
    link = next(lk for lk in info["links"] if any(ev["kind"] == "source" for ev in lk["evidence"]))
    _open(page, server)
    page.click('button[data-tab="structure"]')
    page.click('#view-picker .view-button[data-view="all"]')  # the tab opens on a readable view; this link is in the whole graph
    edge = page.locator(f'#diagram g.edge[data-source="{link["source"]}"][data-target="{link["target"]}"]')
    edge.wait_for(timeout=TIMEOUT)
    edge.locator("text").first.click()
    page.wait_for_selector("#evidence mark.quote", timeout=TIMEOUT)
    marked = page.text_content("#evidence mark.quote")
    assert len(marked) > 20 and marked in seed_text
    assert page.get_attribute("#evidence", "data-link") == f'{link["source"]}->{link["target"]}'
    page.screenshot(path=str(artifacts / "dashboard-evidence.png"))
    assert page.problems == []


def test_the_structure_tab_opens_on_a_readable_view_and_a_loop_clicked_in_the_dominance_chart_is_drawn_highlighted(
        page, server, artifacts, graphviz):
    page.set_viewport_size({"width": 1440, "height": 900})
    _open(page, server)
    page.click('button[data-tab="structure"]')
    page.wait_for_selector("#dominance-chart .main-svg", timeout=TIMEOUT)
    page.wait_for_function("""() => { const b = document.querySelector('#view-picker [aria-pressed="true"]');
        return b && b.dataset.view.startsWith('loops:') && document.querySelector('#diagram svg'); }""", timeout=TIMEOUT)
    nodes = page.locator("#diagram svg g.node").count()
    assert 3 <= nodes <= 25
    assert page.locator('#view-picker .view-button[data-view="all"]').count() == 1
    page.locator("#dominance-chart .legend .traces").first.locator(".legendtoggle").click(force=True)
    page.wait_for_selector("#diagram svg.dimmed g.edge.hl", timeout=TIMEOUT)
    assert page.locator("#diagram svg g.edge.hl").count() >= 2
    assert "its links highlighted" in page.text_content("#diagram-caption")
    page.locator("#view-picker").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "dashboard-loops.png"))
    assert page.problems == []
