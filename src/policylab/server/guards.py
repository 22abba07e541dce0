"""Request guards, as one ASGI middleware in front of the app: Host header, bearer token, body size.

* **Host** — a loopback server accepts only loopback Host names, so a web page cannot
  reach it through DNS rebinding; with a token, the token is the guard.
* **Token** — when configured, every ``/api/`` request and the schema ``/openapi.json`` need
  ``Authorization: Bearer T`` (compared in constant time). The dashboard's and ``/docs``'s
  static files carry no data and stay open; their scripts send the token.
* **Body size** — a declared ``Content-Length`` over the cap is refused at once (413);
  a body without one is read (up to the cap) before the app sees it and refused when it passes it.

Every response also gets defensive headers (no sniffing, no framing, no referrer, and a
content-security policy that allows only this origin's scripts).
"""

from __future__ import annotations

import hmac
import json
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policylab.server.config import ServerConfig

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


class Guards:
    """The ASGI middleware applying the configured guards."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        hosts = config.hosts()
        self.hosts = None if hosts is None else {h.lower() for h in hosts}
        self.token = config.token.encode() if config.token else None

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

    async def _reply(self, send: Send, status: int, detail: str, path: str) -> None:
        body, headers = _problem(status, detail, path)
        await send({"type": "http.response.start", "status": status, "headers": headers + list(SECURITY_HEADERS)})
        await send({"type": "http.response.body", "body": body})
