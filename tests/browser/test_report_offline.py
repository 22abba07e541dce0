"""The HTML report opened from disk in chromium with the network cut: it draws, and the console stays clean."""

from __future__ import annotations

import policylab
from policylab.report.build import build_report

OVERLAPPING_LABELS = """fig => {
  const texts = [...fig.querySelectorAll('svg g.node text, svg g.edge text')].filter(t => t.getBoundingClientRect().width > 0);
  const found = [];
  texts.forEach((a, i) => texts.slice(i + 1).forEach(b => {
    if (a.closest('g.node, g.edge') === b.closest('g.node, g.edge')) return;  // the lines of one wrapped name
    const r = a.getBoundingClientRect(), q = b.getBoundingClientRect();
    if (Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1 && Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1)
      found.push(a.textContent + ' / ' + b.textContent);
  }));
  return found;
}"""


def test_the_report_opens_from_disk_without_network_or_console_errors(page, tmp_path, artifacts, graphviz, seed_dir,
                                                                       stand_in):
    path = tmp_path / "report.html"
    path.write_text(build_report(policylab.load(stand_in), runs=24, sources=[str(seed_dir)]), encoding="utf-8")
    requested: list[str] = []

    def offline(route) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.context.route("**/*", offline)
    page.goto(path.as_uri())
    page.wait_for_selector("#fan-2 .main-svg", timeout=60_000)
    assert [url for url in requested if not url.startswith("file://")] == []
    assert page.locator(".chart .main-svg").count() >= 2
    assert page.locator("#structure svg g.edge").count() >= 5
    assert page.locator("table.evidence tbody tr").count() == 6
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)
    assert page.problems == []


def test_clicking_a_loop_in_the_report_draws_it_highlighted_and_the_view_buttons_switch_diagrams(
        page, tmp_path, artifacts, graphviz, stand_in):
    page.set_viewport_size({"width": 1440, "height": 900})
    path = tmp_path / "report.html"
    path.write_text(build_report(policylab.load(stand_in), runs=16), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector("#dominance .main-svg", timeout=60_000)
    shown = page.locator("figure.diagram-view:not([hidden])")
    assert shown.count() == 1 and shown.get_attribute("data-view").startswith("loops:")
    assert shown.evaluate(OVERLAPPING_LABELS) == []  # the view the report opens on: no label over another
    pick = page.locator(".loop-pick").first
    loop = pick.get_attribute("data-loop")
    pick.click()
    assert shown.get_attribute("data-view") == f"loop:{loop}"
    assert shown.locator("svg.dimmed g.edge.hl").count() >= 2 and shown.locator("svg g.node.hl").count() >= 1
    page.locator("#diagram-views").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "report-loop.png"))
    page.click('.view-button[data-view="all"]')
    assert shown.get_attribute("data-view") == "all" and shown.locator("svg.dimmed").count() == 0
    assert page.problems == []
