"""Readable diagram views: sectors (declared, or doc tags), paths contracted with their signs, each view small enough to read."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from policylab.api import load
from policylab.cli import app
from policylab.compile.causal import causal_graph
from policylab.errors import UsageError
from policylab.report.views import READABLE_NODES, readable_views, sector_view, sectors, view_of

MARKET = """
model: market
doc: two sectors, a firm and its customers
time: {start: 0, stop: 40, dt: 0.25, units: month}
levers:
  advertising: {baseline: 1, range: [0, 2], units: "1", doc: "[firm] Advertising effort"}
constants:
  price: {value: 2, units: "1", doc: "[firm] Price"}
  reach: {value: 0.02, units: 1/month, doc: "[customers] Contacts per month"}
stocks:
  customers: {initial: 10, units: people, in: [adoption], out: [churn], doc: "[customers] Customers"}
  potential: {initial: 1000, units: people, out: [adoption], doc: "[customers] People not yet customers"}
  capacity: {initial: 50, units: people, in: [investment], sector: firm, doc: "Customers the firm can serve"}
flows:
  adoption: {equation: "reach * advertising * customers * potential / 1000 * min(1, capacity / customers)", units: people/month}
  churn: {equation: "customers * 0.01 * price", units: people/month}
  investment: {equation: "(customers - capacity) / 6", units: people/month}
auxiliaries:
  revenue: {equation: "customers * price", units: people, doc: "Revenue (untagged: takes its neighbours' sector)"}
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    path = tmp_path_factory.mktemp("views") / "market.yaml"
    path.write_text(MARKET, encoding="utf-8")
    model = load(path)
    return model, causal_graph(model)


def test_sectors_are_declared_or_doc_tags_flows_take_their_stocks_and_the_rest_their_neighbours(market):
    model, graph = market
    of = sectors(model.ir, graph)
    assert of["customers"] == of["potential"] == of["adoption"] == of["churn"] == "customers"
    assert of["capacity"] == of["investment"] == of["advertising"] == "firm"
    assert of["revenue"] == "customers"


def test_a_sector_view_keeps_its_variables_and_fades_the_other_sectors_stocks_it_touches(market):
    model, graph = market
    view = sector_view(graph, sectors(model.ir, graph), "firm")
    assert {"capacity", "investment", "advertising"} <= set(view.graph.nodes)
    assert set(view.outside) == set(view.graph.nodes) - {"capacity", "investment", "advertising"}
    assert "customers" in view.outside and view.outside["customers"] == "customers"
    signs = {(link.source, link.target): link.sign for link in view.graph.links}
    assert signs[("customers", "investment")] == "+" and signs[("advertising", "customers")] == "+"
    assert all(link.source != link.target for link in view.graph.links)  # a stock's own flows are no self-link
    with pytest.raises(UsageError, match="no sector 'bank'.*customers, firm"):
        sector_view(graph, sectors(model.ir, graph), "bank")


def test_readable_views_list_each_sector_then_the_core_then_the_whole_graph(market):
    model, graph = market
    keys = [v.key for v in readable_views(graph, model.ir)]
    assert keys == ["sector:customers", "sector:firm", "core", "all"]
    untagged = load(Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml")
    assert [v.key for v in readable_views(causal_graph(untagged), untagged.ir)] == ["core", "all"]


def test_every_sector_view_of_the_flagship_is_small_enough_to_read():
    flagship = Path(__file__).resolve().parents[2] / "models" / "iraq_dialogue" / "model.yaml"
    model = load(flagship)
    graph = causal_graph(model)
    views = readable_views(graph, model.ir)
    sector_views = [v for v in views if v.key.startswith("sector:")]
    assert len(sector_views) >= 5 and "sector:US administration" in {v.key for v in sector_views}
    assert all(len(v.graph.nodes) <= READABLE_NODES for v in sector_views)
    assert len(views[-1].graph.nodes) == len(graph.nodes)


def test_the_cli_draws_a_sector_view_and_names_the_sectors_when_one_is_unknown(market, tmp_path):
    path = tmp_path / "market.yaml"
    path.write_text(MARKET, encoding="utf-8")
    done = CliRunner().invoke(app, ["diagram", str(path), "--format", "dot", "--view", "sector:firm"])
    assert done.exit_code == 0, done.output
    assert '"customers" [shape=box, fillcolor="#ffffff", style="filled,dashed"' in done.stdout
    bad = CliRunner().invoke(app, ["diagram", str(path), "--format", "dot", "--view", "sector:bank"])
    assert bad.exit_code == 2 and "its sectors: customers, firm" in bad.output
    wrong = CliRunner().invoke(app, ["diagram", str(path), "--format", "dot", "--view", "sectors"])
    assert wrong.exit_code == 2 and "sector:NAME" in wrong.output


def test_dominance_over_time_shares_agree_with_the_dominance_of_each_run(market):
    from policylab.results.loops import dominance
    from policylab.results.loops.summary import dominance_over_time

    model, _ = market
    ds = model.loops(runs=16, seed=1, backend="numpy", save_every=1.0)
    series = dominance_over_time(ds, top=2)
    assert len(series.loops) == 2
    relative = ds.relative_score.transpose("loop", "time", "run").values
    expected = dominance(relative, list(ds.partition.values), list(ds.alone.values)).mean(axis=2)
    k = list(ds.loop.values).index(series.loops[0])
    t = np.isfinite(series.share[0])
    assert np.allclose(series.share[0][t], expected[k][t])
    total = series.share.sum(axis=0) + series.other
    assert np.all(total[t] <= 1 + 1e-12) and not np.isfinite(series.share[0][0])  # step 0 has no score
    low, median, high = series.quantiles[:, 0, -1]
    assert low <= median <= high


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by `make test`")
def test_the_report_opens_on_the_dominant_loops_with_the_chart_and_every_view_one_click_away(market):
    from policylab.report.build import render_report, report_loops, run_scenarios

    model, graph = market
    loops = report_loops(model, None, 12, 0, "numpy")
    html = render_report(model, run_scenarios(model, None, runs=12, seed=0), loops=loops)
    assert 'id="dominance"' in html and "Which loops drive the behaviour" in html
    first = html.index('<figure class="diagram-view"')
    assert html[first:].startswith('<figure class="diagram-view" data-view="loops:')
    for key in ("sector:customers", "sector:firm", "core", "all"):
        assert f'class="view-button" data-view="{key}"' in html and f'<figure class="diagram-view" data-view="{key}"' in html
    import json
    import re

    charted = json.loads(re.search(r'id="dominanceloops">(.*?)</script>', html, re.S).group(1))
    assert charted and {c["id"] for c in charted} <= {str(i) for i in loops.loop.values}
    for c in charted:  # each charted loop: a button and its own view (the loop and its neighbours)
        assert f'data-loop="{c["id"]}"' in html and f'<figure class="diagram-view" data-view="loop:{c["id"]}"' in html
