"""Safety: loopback by default, a token for anything else, capped bodies and ensembles, no Host spoofing."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.server import BindError, check_bind
from policylab.server.runner import running


def test_an_oversized_body_is_refused_with_413(client):
    body = b'{"runs": 1, "params": {' + b" " * 70_000 + b"}}"
    response = client.post("/api/models/sir/run", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "65536 bytes" in response.json()["detail"]


def test_an_oversized_body_without_a_content_length_is_refused_too(client):
    def chunks():
        yield b'{"runs": 1, "params": {'
        for _ in range(100):
            yield b" " * 1000
        yield b"}}"

    response = client.post("/api/models/sir/run", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_more_runs_than_the_cap_is_a_422_naming_runs_and_the_cap(client, max_runs):
    response = client.post("/api/models/sir/run", json={"runs": max_runs + 1})
    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == "runs" and f"cap of {max_runs} runs" in problem["detail"]


def test_runs_times_steps_over_the_cap_is_a_422_saying_how_many_runs_fit(client):
    response = client.post("/api/models/seeded/compare", json={"scenarios": ["historical", "rebalance"], "runs": 40})
    problem = response.json()
    assert response.status_code == 422 and problem["field"] == "runs"
    assert "runs × steps × scenarios = 40 × 1460 × 2" in problem["detail"] and "at most 25 runs" in problem["detail"]


def test_a_foreign_host_header_is_refused_on_a_loopback_server(client):
    response = client.get("/api/models", headers={"host": "attacker.example"})
    assert response.status_code == 400 and "attacker.example" in response.json()["detail"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_a_non_loopback_bind_without_a_token_refuses_to_start(host):
    with pytest.raises(BindError, match="not a loopback address"):
        check_bind(host, None)
    check_bind(host, "s3cret")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_binds_need_no_token(host):
    check_bind(host, None)


def test_serve_refuses_a_public_bind_without_a_token_before_listening(monkeypatch):
    monkeypatch.delenv("POLICYLAB_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "refusing to bind '0.0.0.0'" in result.stderr and "--token" in result.stderr


def test_with_a_token_the_api_needs_the_bearer_header_and_the_dashboard_page_does_not(tmp_path, make_config):
    with running(make_config(tmp_path, token="s3cret")) as url, httpx.Client(base_url=url, timeout=60) as http:
        refused = http.get("/api/models")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.headers["content-type"] == "application/problem+json"
        assert http.get("/api/models", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert http.get("/api/models", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert http.get("/").status_code == 200
        assert http.get("/docs").status_code == 200  # the page shell: no data
        assert http.get("/openapi.json").status_code == 401  # the schema needs the token
        schema = http.get("/openapi.json", headers={"authorization": "Bearer s3cret"}).json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_responses_carry_defensive_headers(client):
    headers = client.get("/").headers
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]


def test_refusals_beyond_the_rate_wait_their_turn_and_no_longer_than_a_second() -> None:
    from policylab.server.guards import MAX_WAIT, Refusals

    now = [0.0]
    bucket = Refusals(4, clock=lambda: now[0])
    assert [bucket.turn() for _ in range(4)] == [0.0] * 4  # a second's worth at once
    assert [bucket.turn() for _ in range(3)] == [0.25, 0.5, 0.75]  # then one every 1/rate seconds, in turn
    assert bucket.turn() == bucket.turn() == MAX_WAIT  # never longer
    now[0] += 10.0  # idle: the bucket refills, to a second's worth and no more
    assert [bucket.turn() for _ in range(5)] == [0.0] * 4 + [0.25]


@pytest.mark.timeout(120)
def test_a_client_looping_on_refused_requests_waits_its_turn_and_other_answers_never_wait(
        make_config, tmp_path, monkeypatch) -> None:
    from policylab.limits import REFUSALS
    from policylab.server import guards

    waits: list[float] = []
    turn = guards.Refusals.turn

    def recording(self: guards.Refusals) -> float:
        waits.append(turn(self))
        return waits[-1]

    monkeypatch.setattr(guards.Refusals, "turn", recording)
    monkeypatch.setenv(REFUSALS.variable, "1")
    with running(make_config(tmp_path, warm_up=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        answers = [http.post("/api/models/sir/run", json={"params": {"distancing": 5}}).status_code for _ in range(3)]
        answers.append(http.get("/api/runs/20200101-000000-abcdef").status_code)
        assert answers == [422] * 3 + [404] and len(waits) == 4
        assert waits[0] == 0.0 and all(w > 0 for w in waits[1:])  # one at once, then each in its turn
        assert http.get("/api/health").status_code == 200 and len(waits) == 4  # not a refusal: no turn taken
