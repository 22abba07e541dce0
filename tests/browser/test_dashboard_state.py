"""The dashboard's state lives in its URL (a reload restores it) and exports as overrides that `policylab run` reproduces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

IDLE = '#status[data-state="idle"]'
TIMEOUT = 120_000
ROOT = Path(__file__).resolve().parents[2]


def _idle_after(page, action) -> None:  # type: ignore[no-untyped-def]
    """Do ``action`` and wait until the re-simulation it starts has drawn."""
    version = page.eval_on_selector("#charts .fan", "n => n.dataset.version")
    action()
    page.wait_for_function(f"""() => {{ const n = document.querySelector('#charts .fan');
        return n && n.dataset.version !== '{version}' && document.querySelector('#status').dataset.state === 'idle'; }}""",
                           timeout=TIMEOUT)


def _state(page) -> dict:  # type: ignore[no-untyped-def]
    """What the page shows: scenario, slider values, charted variables, tab."""
    return page.evaluate("""() => ({
        scenario: document.querySelector('#scenario-select').value,
        outputs: Object.fromEntries([...document.querySelectorAll('.param.set')].map(r => [r.dataset.name, r.querySelector('output').textContent])),
        sliders: Object.fromEntries([...document.querySelectorAll('.param.set input')].map(i => [i.dataset.param, i.value])),
        charts: [...document.querySelectorAll('#charts .fan')].map(n => n.dataset.variable),
        tab: document.querySelector('.tabs button[aria-selected=true]').dataset.tab,
        diff: [...document.querySelectorAll('#outcome-table td[data-role=difference]')].map(td => td.textContent),
    })""")


def test_the_url_holds_the_whole_state_and_a_reload_restores_it(page, server, artifacts):
    info = httpx.get(f"{server}/api/models/flagship", timeout=120).json()
    lever = info["levers"][0]
    judgement = info["judgements"][-1]
    other = next(s for s in info["scenarios"] if s != info["default_scenario"])
    page.goto(server + "/")
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    page.wait_for_selector("#charts .fan[data-version]", timeout=TIMEOUT)

    _idle_after(page, lambda: page.select_option("#scenario-select", other, timeout=TIMEOUT))
    low, high = lever["range"]
    _idle_after(page, lambda: page.locator(f'#levers input[data-param="{lever["name"]}"]').fill(str(low + 0.3 * (high - low))))
    page.locator("#judgements-box > summary").click()
    page.fill("#judgement-filter", judgement["name"])
    row = page.locator(f'#judgements .param[data-name="{judgement["name"]}"]')
    assert row.is_visible()  # the search opened its sector
    assert page.locator("#judgements .param:visible").count() < len(info["judgements"])
    jlow, jhigh = judgement["range"]
    _idle_after(page, lambda: row.locator("input").fill(str(jhigh)))
    before = _state(page)
    assert set(before["outputs"]) == {lever["name"], judgement["name"]}
    assert before["scenario"] == other and before["diff"] and any(d not in ("±0", "–") for d in before["diff"])

    query = parse_qs(urlparse(page.url).query)
    assert query["scenario"] == [other] and f"set.{lever['name']}" in query and f"set.{judgement['name']}" in query
    assert query["var"] == before["charts"]

    page.reload()
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    page.wait_for_selector("#charts .fan[data-version]", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('#outcome-table td[data-role=difference]').length > 0",
                           timeout=TIMEOUT)
    after = _state(page)
    assert after == before
    assert page.locator(f'#judgements .param[data-name="{judgement["name"]}"]').is_visible()  # its group is open

    fresh = page.context.new_page()  # a shared link, in a new tab, restores the same state
    fresh.goto(page.url)
    fresh.wait_for_selector(IDLE, timeout=TIMEOUT)
    fresh.wait_for_function("() => document.querySelectorAll('#outcome-table td[data-role=difference]').length > 0",
                            timeout=TIMEOUT)
    assert _state(fresh) == before
    fresh.close()
    assert page.problems == []


def test_a_link_naming_what_the_model_lacks_says_so(page, server):
    page.goto(server + "/?model=flagship&set.no_such_parameter=3&var=no_such_variable")
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    note = page.text_content("#link-note")
    assert page.is_visible("#link-note") and "no_such_parameter=3" in note and "no_such_variable" in note
    assert page.problems == []


def test_the_exported_yaml_runs_with_policylab_run_and_reproduces_the_dashboard(page, server, model_path, tmp_path):
    info = httpx.get(f"{server}/api/models/flagship", timeout=120).json()
    lever = info["levers"][0]
    low, high = lever["range"]
    value = round(low + 0.7 * (high - low), 6)
    page.goto(f"{server}/?model=flagship&set.{lever['name']}={value}")
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    with page.expect_download() as download:
        page.click("#export-yaml")
    path = tmp_path / "overrides.yaml"
    download.value.save_as(path)
    text = path.read_text()
    assert f'"{lever["name"]}": {value}' in text

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-m", "policylab", "run", str(model_path), "--overrides", str(path),
                           "-f", "json", "-q", "--backend", "auto"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    scenario = page.eval_on_selector("#scenario-select", "s => s.value")
    assert table["runs"] == info["limits"]["dashboard_runs"] and table["scenarios"] == [scenario]
    shown = httpx.post(f"{server}/api/models/flagship/run", timeout=300, json={
        "scenario": scenario, "params": {lever["name"]: value}, "runs": table["runs"], "seed": 0, "variables": info["key_variables"][:1]}).json()
    served = {row["name"]: row["values"][scenario] for row in shown["outcomes"]}
    assert served and {row["name"] for row in table["rows"]} == set(served)
    for row in table["rows"]:
        mine, theirs = row["values"][scenario], served[row["name"]]
        key = "share" if row["probability"] else "median"
        assert mine[key] == theirs[key] or abs(mine[key] - theirs[key]) <= 1e-9 * max(1.0, abs(theirs[key])), row["name"]
    assert page.problems == []
