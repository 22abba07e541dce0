"""The server's simulation engine: chosen in its config (default auto), warmed up before the first request."""

from __future__ import annotations

import time

import httpx
import pytest

import policylab.server.app as app_module
from policylab.api import numba_available
from policylab.errors import UsageError
from policylab.server import ServerConfig
from policylab.server.runner import running


def test_a_config_refuses_an_unknown_backend(make_config, tmp_path):
    with pytest.raises(UsageError, match="backend must be one of numpy, numba, auto"):
        make_config(tmp_path, backend="jax")
    assert ServerConfig(models={}).backend == "auto"


def test_responses_say_which_engine_ran_the_default_being_auto(client):
    body = {"runs": 5, "params": {"distancing": 0.3}}
    run = client.post("/api/models/sir/run", json=body).json()
    compared = client.post("/api/models/sir/compare", json={**body, "scenarios": ["baseline", "distancing"]}).json()
    expected = "numba" if numba_available() else "numpy"
    assert run["backend"] == compared["backend"] == expected


def test_every_model_is_warmed_up_with_the_configured_backend_before_requests_are_answered(make_config, tmp_path,
                                                                                            monkeypatch):
    warmed: list[tuple[str, str]] = []
    original = app_module.warm_up

    def recording(entry, config):  # type: ignore[no-untyped-def]
        seconds = original(entry, config)
        warmed.append((entry.id, config.backend))
        return seconds

    monkeypatch.setattr(app_module, "warm_up", recording)
    with running(make_config(tmp_path, backend="numpy")) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert sorted(warmed) == [("seeded", "numpy"), ("sir", "numpy")]  # done by the time the server answers
        assert http.post("/api/models/sir/run", json={"runs": 3}).json()["backend"] == "numpy"
        job = http.post("/api/models/sir/explorations", json={"samples": 8}).json()
        deadline = time.monotonic() + 60
        while (status := http.get(f"/api/jobs/{job['id']}").json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["state"] == "done", status
        assert http.get(f"/api/runs/{status['run_id']}").json()["backend"] == "numpy"


def test_an_exploration_request_may_name_its_backend(client):
    pytest.importorskip("numba")
    job = client.post("/api/models/sir/explorations", json={"samples": 8, "backend": "numba"}).json()
    deadline = time.monotonic() + 60
    while (status := client.get(f"/api/jobs/{job['id']}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["state"] == "done", status
    assert client.get(f"/api/runs/{status['run_id']}").json()["backend"] == "numba"
    refused = client.post("/api/models/sir/explorations", json={"samples": 8, "backend": "jax"}).json()
    assert refused["status"] == 422 and refused["field"] == "backend"
