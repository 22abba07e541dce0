"""`policylab serve` from the command line: a taken port is one line and exit 1; "ready" comes after warm-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SIR = ROOT / "models" / "sir" / "model.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_a_port_in_use_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "policylab", "serve", "--model", str(SIR), "--port", str(port),
                                 "--store", str(tmp_path), "--backend", "numpy"],
                                capture_output=True, text=True, env=_env(), timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"error: port {port} on 127.0.0.1 is already in use; stop the other server or choose another --port"
    assert len(lines) == 1 and "Traceback" not in result.stderr


def test_ready_is_announced_only_once_the_server_answers(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "policylab", "serve", "--model", str(SIR), "--port", str(port),
                                "--store", str(tmp_path), "--backend", "numpy"],
                               stderr=subprocess.PIPE, text=True, env=_env())
    try:
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stderr.readline()  # type: ignore[union-attr]
            if not line:
                break
            seen.append(line)
            if "ready at" in line:
                break
        assert any("warming up" in s for s in seen[:-1]), seen
        assert seen[-1].startswith(f"PolicyLab ready at http://127.0.0.1:{port}/"), seen
        answer = httpx.get(f"http://127.0.0.1:{port}/api/models/sir", timeout=10)  # at once: no retry
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()  # type: ignore[union-attr]


def test_the_served_socket_is_tcp_by_number_so_each_connection_gets_tcp_nodelay() -> None:
    """With protocol 0, asyncio left Nagle on: each small answer waited ~40 ms for the client's delayed ACK."""
    import asyncio

    from policylab.server.runner import bind

    listening = bind("127.0.0.1", 0)
    accepted: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
            accepted.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def connect_once() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname())
            for _ in range(200):
                if accepted:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    import threading

    failures: list[BaseException] = []

    def probe() -> None:  # in a thread of its own: an earlier test may leave an event loop running in this one
        try:
            asyncio.run(connect_once())
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(error)

    try:
        worker = threading.Thread(target=probe)
        worker.start()
        worker.join(30)
    finally:
        listening.close()
    assert not failures, failures
    assert accepted and accepted[0] != 0
