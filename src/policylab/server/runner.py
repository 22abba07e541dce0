"""Run the server with uvicorn: in the foreground (``policylab serve``) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from policylab.server.app import create_app
from policylab.server.config import ServerConfig, check_bind


def _server(config: ServerConfig, host: str, port: int) -> uvicorn.Server:
    check_bind(host, config.token)
    settings = uvicorn.Config(create_app(config), host=host, port=port, log_level="warning", access_log=False,
                              limit_concurrency=256, timeout_keep_alive=5, lifespan="on")
    return uvicorn.Server(settings)


def serve_forever(config: ServerConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (refuses a non-loopback ``host`` without a token)."""
    _server(config, host, port).run()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(config: ServerConfig, host: str = "127.0.0.1", port: int | None = None,
            timeout: float = 60.0) -> Iterator[str]:
    """Serve in a background thread; yield the base URL (``http://host:port``) and stop on exit."""
    chosen = port or free_port(host)
    server = _server(config, host, chosen)
    thread = threading.Thread(target=server.run, name="policylab-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{chosen}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{chosen}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
