"""Run the server with uvicorn: in the foreground (``policylab serve``) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from policylab.errors import PolicyLabError
from policylab.server.app import create_app
from policylab.server.config import ServerConfig, check_bind


def _server(config: ServerConfig, host: str, port: int) -> uvicorn.Server:
    check_bind(host, config.token)
    settings = uvicorn.Config(create_app(config), host=host, port=port, log_level="warning", access_log=False,
                              limit_concurrency=256, timeout_keep_alive=5, lifespan="on")
    return uvicorn.Server(settings)


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
    sock = socket.socket(family, socket.SOCK_STREAM)
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
    settings = uvicorn.Config(create_app(config), host=host, port=port, log_level="warning", access_log=False,
                              limit_concurrency=256, timeout_keep_alive=5, lifespan="on")
    _AnnouncingServer(settings, on_ready).run(sockets=[sock])


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
