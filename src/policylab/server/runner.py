"""Run the server with uvicorn: in the foreground (``policylab serve``) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from policylab.errors import PolicyLabError
from policylab.limits import CONNECTIONS, HEADER_SECONDS, IDLE_SECONDS
from policylab.server.app import create_app
from policylab.server.config import ServerConfig, check_bind


class DeadlineProtocol(H11Protocol):
    """HTTP/1.1 that closes a connection whose request is not wholly received in time.

    uvicorn times out idle keep-alive connections but not a client that opens a
    connection and then sends its headers (or body) a byte at a time, or never: 1,500
    such connections were held open for good. Each request, from the connection's
    opening or the previous response's end, must arrive whole within
    ``POLICYLAB_LIMIT_HEADER_SECONDS``.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        self.loop.call_later(HEADER_SECONDS.value(), self._expire, getattr(self, "cycle", None))

    def _expire(self, cycle_then: Any) -> None:
        cycle = getattr(self, "cycle", None)
        unread = cycle is cycle_then or (cycle is not None and cycle.more_body and not cycle.response_started)
        if unread and not self.transport.is_closing():
            self.transport.close()


def _settings(config: ServerConfig, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration: the app, the request deadline, and the connection limits of ``limits.py``."""
    return uvicorn.Config(create_app(config), host=host, port=port, log_level="warning", access_log=False,
                          http=DeadlineProtocol, limit_concurrency=CONNECTIONS.value(),
                          timeout_keep_alive=IDLE_SECONDS.value(), lifespan="on")


def _server(config: ServerConfig, host: str, port: int) -> uvicorn.Server:
    check_bind(host, config.token)
    return uvicorn.Server(_settings(config, host, port))


class PortInUseError(PolicyLabError):
    """The address to serve on is taken (or not ours to bind)."""


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready`` once it listens and the app's warm-up is done."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            self.on_ready()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything slow (warm-up) so that a taken port fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP by number: asyncio then sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = "is already in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
        raise PortInUseError(f"port {port} on {host} {reason}; stop the other server or choose another --port") from None
    sock.set_inheritable(True)
    return sock


def serve_forever(config: ServerConfig, host: str = "127.0.0.1", port: int = 8000,
                  on_ready: Callable[[], None] | None = None, on_bound: Callable[[], None] | None = None) -> None:
    """Serve until interrupted (refuses a non-loopback ``host`` without a token).

    ``on_bound`` is called once the port is ours (before the warm-up), ``on_ready`` once requests are answered.
    """
    check_bind(host, config.token)
    sock = bind(host, port)
    if on_bound is not None:
        on_bound()
    _AnnouncingServer(_settings(config, host, port), on_ready).run(sockets=[sock])


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
