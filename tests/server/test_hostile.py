"""Hostile requests and clients: values outside declared ranges, slow clients, a busy or damaged store.

Hangs are caught by pytest-timeout; nothing here asserts a duration.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import httpx
import pytest
from fastapi.exceptions import RequestValidationError

import policylab
from policylab.limits import HEADER_SECONDS
from policylab.server import schemas as s
from policylab.server.runner import running
from policylab.store import Store

SIR = Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml"


def test_the_schema_layer_alone_refuses_a_slider_value_outside_its_range() -> None:
    ir = policylab.load(SIR).ir
    with pytest.raises(RequestValidationError) as caught:
        s.checked_params({"distancing": 0.9}, ir, "sir")  # the lever's range is [0, 0.8]
    assert caught.value.errors()[0]["loc"] == ("body", "params", "distancing")
    with pytest.raises(RequestValidationError, match="contact_rate = 1e\\+20 is outside its allowed range"):
        s.checked_params({"contact_rate": 1e20}, ir, "sir")
    with pytest.raises(RequestValidationError, match="not a lever or constant"):
        s.checked_params({"infected": 1.0}, ir, "sir")
    assert s.checked_params({"Distancing": 0.8, "population": 5.0}, ir, "sir") == {"distancing": 0.8, "population": 5.0}


@pytest.mark.parametrize(("params", "field"), [({"distancing": 2.0}, "params.distancing"),
                                               ({"contact_rate": 1e20}, "params.contact_rate"),
                                               ({"recovery_time": -1e300}, "params.recovery_time")])
def test_the_server_answers_an_out_of_range_value_with_a_422_naming_it(client, params, field) -> None:
    for path, body in (("run", {"params": params}), ("compare", {"params": params, "scenarios": ["baseline"]})):
        problem = client.post(f"/api/models/sir/{path}", json=body).json()
        assert problem["status"] == 422 and problem["field"] == field, problem


def _address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 80


@pytest.mark.timeout(120)
def test_a_client_that_never_finishes_its_headers_or_body_is_disconnected(make_config, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(HEADER_SECONDS.variable, "1")
    with running(make_config(tmp_path, warm_up=False)) as url:
        openings = [b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                    b"POST /api/models/sir/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{\"runs\": ",
                    b""]
        sockets = []
        for opening in openings:
            sock = socket.create_connection(_address(url), timeout=60)
            sock.sendall(opening)
            sockets.append(sock)
        for sock in sockets:
            with sock:
                assert sock.recv(65536) == b"", "the server answered or kept a request that never arrived whole"
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200


@pytest.mark.timeout(300)
def test_a_catalogue_held_long_is_a_503_after_a_short_wait_and_other_requests_still_answer(make_config, tmp_path) -> None:
    store = Store(tmp_path / "store")
    store.root.mkdir(parents=True)
    writer = duckdb.connect(str(store.catalogue_path))  # a writer of this process holds the catalogue
    try:
        with running(make_config(tmp_path, warm_up=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
            answers: list[int] = []

            def reader() -> None:
                answers.append(http.get("/api/runs/20200101-000000-abcdef").status_code)

            threads = [threading.Thread(target=reader) for _ in range(60)]
            for thread in threads:
                thread.start()
            assert http.get("/api/health").status_code == 200
            for thread in threads:
                thread.join()
            assert set(answers) == {503}
            busy = http.get("/api/runs")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert str(tmp_path) not in busy.text
    finally:
        writer.close()


@pytest.mark.timeout(300)
def test_a_reader_that_meets_a_brief_catalogue_write_waits_for_it_instead_of_a_503(make_config, tmp_path) -> None:
    store = Store(tmp_path / "store")
    store.root.mkdir(parents=True)
    with running(make_config(tmp_path, warm_up=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        writer = duckdb.connect(str(store.catalogue_path))  # a write of this process, brief
        release = threading.Timer(0.3, writer.close)
        release.start()
        try:
            answer = http.get("/api/runs")
        finally:
            release.join()
        assert answer.status_code == 200, answer.text


@pytest.mark.timeout(300)
def test_a_damaged_run_asked_again_is_answered_without_reading_the_catalogue_until_its_files_change(
        make_config, tmp_path, monkeypatch) -> None:
    from policylab.explore import ExploreRequest, start
    from policylab.scale import InProcess
    from policylab.store import store as store_module

    monkeypatch.setattr(store_module, "SETTLED", 0.0)  # vouch for files however recently written
    store = Store(tmp_path / "store")
    run_id = start(policylab.load(SIR), ExploreRequest(samples=20, backend="numpy"), store, InProcess(), chunk_size=10)
    chunk = store.root / store.info(run_id).chunks["outcomes_file"][0]
    chunk.write_bytes(chunk.read_bytes()[:100])
    with running(make_config(tmp_path, warm_up=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        first = http.get(f"/api/runs/{run_id}")
        assert first.status_code == 500 and "runs repair" in first.json()["detail"]
        writer = duckdb.connect(str(store.catalogue_path))  # any catalogue read would now wait and answer 503
        try:
            assert http.get("/api/runs/20200101-000000-abcdef").status_code == 503
            assert http.get(f"/api/runs/{run_id}").json() == first.json()  # kept: its files are as they were
        finally:
            writer.close()
        store.repair(run_id)  # drops the damaged chunk: the files change, so the answer is read again
        repaired = http.get(f"/api/runs/{run_id}")
        assert repaired.status_code == 200 and repaired.json()["runs_done"] == 10
