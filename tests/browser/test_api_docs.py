"""/docs in chromium: Swagger UI from the swagger-ui-bundle package, offline under the CSP, with and without a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from policylab.server import ServerConfig
from policylab.server.runner import running

ROOT = Path(__file__).resolve().parents[2]
SIR = ROOT / "models" / "sir" / "model.yaml"
TIMEOUT = 60_000


@pytest.fixture(scope="module", params=[None, "s3cret"], ids=["open", "token"])
def docs_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str | None]]:
    config = ServerConfig(models={"sir": SIR}, dashboard_runs=5, store_root=tmp_path_factory.mktemp("store"),
                          token=request.param, warm_up=False)
    with running(config) as url:
        yield url, request.param


def _offline(page, url: str) -> list[str]:
    """Refuse every request that leaves this server; return the refused URLs."""
    refused: list[str] = []

    def route(r):
        if r.request.url.startswith(url):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return refused


def test_docs_show_every_operation_offline_and_try_it_out_sends_the_token(page, docs_server, artifacts) -> None:
    url, token = docs_server
    refused = _offline(page, url)
    page.goto(url + "/docs")
    if token is not None:
        page.wait_for_selector("#token-form:not([hidden])", timeout=TIMEOUT)
        assert page.locator(".opblock").count() == 0  # no schema without the token
        page.fill("#token", "wrong")
        page.click("#token-form button")
        page.wait_for_selector("#token-error:has-text('not this server')", timeout=TIMEOUT)
        assert [p for p in page.problems if "401" not in p] == []
        page.problems.clear()  # the wrong token's 401, which the browser logs
        page.fill("#token", token)
        page.click("#token-form button")
    page.wait_for_selector(".opblock", timeout=TIMEOUT)
    operations = page.locator(".opblock-summary-path").all_text_contents()
    assert any("/api/models/{model_id}/run" in op.replace("\u200b", "") for op in operations)
    if token is not None:
        page.click("button.authorize")  # Swagger's Authorize dialog holds the token
        page.wait_for_selector(".auth-container", timeout=TIMEOUT)
        assert "Logout" in page.locator(".auth-container").first.inner_text()
        page.click("button.btn-done")
    health = page.locator("#operations-server-health_api_health_get")
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    with page.expect_response(lambda r: r.url.endswith("/api/health")) as answer:
        health.locator("button.execute").click()
    assert answer.value.status == 200
    page.screenshot(path=str(artifacts / f"docs-{'token' if token else 'open'}.png"))
    assert refused == [] and page.problems == []
