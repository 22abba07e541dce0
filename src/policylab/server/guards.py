"""Request guards, as one ASGI middleware in front of the app: Host header, bearer token, body size, refusal rate.

* **Host** — a loopback server accepts only loopback Host names, so a web page cannot
  reach it through DNS rebinding; with a token, the token is the guard.
* **Token** — when configured, every ``/api/`` request and the schema ``/openapi.json`` need
  ``Authorization: Bearer T`` (compared in constant time). The dashboard's and ``/docs``'s
  static files carry no data and stay open; their scripts send the token.
* **Body size** — a declared ``Content-Length`` over the cap is refused at once (413);
  a body without one is read (up to the cap) before the app sees it and refused when it passes it.
* **Refusals** — answers of 400 or more (the guards', the API's 404 and 422, a damaged
  store's 500) go out at most ``POLICYLAB_LIMIT_REFUSALS`` a second at once; beyond that
  each waits its turn, up to a second, before it is sent. Waiting costs no CPU, so a client
  that loops on refused requests (out-of-range values, bad bodies, missing runs) is slowed
  to that rate instead of taking a core from the simulations; the dashboard's own requests
  are not refused and never wait.

Every response also gets defensive headers (no sniffing, no framing, no referrer, and a
content-security policy that allows only this origin's scripts).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policylab.limits import REFUSALS
from policylab.server.config import ServerConfig

MAX_WAIT = 1.0  # seconds a refused request waits at most for its turn

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                  b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"),
)


def _problem(status: int, detail: str, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
                       "instance": path, "field": None, "errors": []}).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="policylab"'))
    return body, headers


class Refusals:
    """A token bucket over refused answers: ``rate`` a second (and a second's burst) go at once, the rest wait.

    Each refusal takes a token; one that finds none sleeps until its turn (its place in a
    virtual queue), at most ``MAX_WAIT`` — so one client looping on refusals gets about
    ``rate`` answers a second, and a crowd of them holds each connection at most that long.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = rate, clock
        self.tokens, self.stamp = rate, clock()

    def turn(self) -> float:
        """Take a token; the seconds to wait for it (0: at once)."""
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate) - 1.0
        self.stamp = now
        if self.tokens >= 0:
            return 0.0
        self.tokens = max(self.tokens, -self.rate * MAX_WAIT)
        return -self.tokens / self.rate


class Guards:
    """The ASGI middleware applying the configured guards."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        hosts = config.hosts()
        self.hosts = None if hosts is None else {h.lower() for h in hosts}
        self.token = config.token.encode() if config.token else None
        self.refusals = Refusals(REFUSALS.value())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        refusal = self._refuse(path, headers)
        if refusal is not None:
            await self._reply(send, *refusal, path)
            return
        replay = await self._buffer(receive) if scope.get("method") in ("POST", "PUT", "PATCH") else receive
        if replay is None:
            await self._reply(send, 413, f"request body exceeds this server's limit of {self.config.max_body} bytes", path)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message.get("status", 200) >= 400:
                    await self._wait_turn()
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + list(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, replay, secured)

    async def _buffer(self, receive: Receive) -> Receive | None:
        """Read the whole body (bounded by the cap) and return a ``receive`` replaying it; None when too large."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.config.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _refuse(self, path: str, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if self.hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in self.hosts:
                return 400, f"Host {host!r} is not served here; use one of: {', '.join(sorted(self.hosts))}"
        if self.token is not None and (path.startswith("/api/") or path == "/openapi.json"):
            given = headers.get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
                return 401, "this server needs `Authorization: Bearer <token>`; the token is the one given to `policylab serve --token`"
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return 400, "Content-Length is not a number"
            if declared > self.config.max_body:
                return 413, f"request body of {declared} bytes exceeds this server's limit of {self.config.max_body} bytes"
        return None

    async def _wait_turn(self) -> None:
        wait = self.refusals.turn()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _reply(self, send: Send, status: int, detail: str, path: str) -> None:
        await self._wait_turn()
        body, headers = _problem(status, detail, path)
        await send({"type": "http.response.start", "status": status, "headers": headers + list(SECURITY_HEADERS)})
        await send({"type": "http.response.body", "body": body})
