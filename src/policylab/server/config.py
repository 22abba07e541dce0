"""Server configuration, fixed at start: which models are served, limits, token, store.

Nothing a request carries can widen these: models are the files registered here (a
request names a model by id, never by path); ensembles are capped in runs and in
runs × steps; bodies are capped in bytes; explorations write only into ``store_root``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from policylab.errors import UsageError

LOOPBACK_NAMES = ("localhost",)
DEFAULT_MODEL_ORDER = ("iraq_dialogue", "sir")


class BindError(UsageError):
    """A bind the server refuses: a non-loopback address without a token."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything a running server is allowed to do.

    ``models`` maps a model id (what requests use) to its file. ``max_runs`` caps one
    ensemble; ``max_work`` caps runs × integration steps × scenarios of one request;
    ``max_body`` caps request bodies in bytes; ``simulation_slots`` ensembles run at once and
    at most ``max_pending`` different ones wait (then 503). ``dashboard_runs`` is the ensemble the
    dashboard re-simulates per slider change. ``allowed_hosts`` lists the Host headers
    accepted (None: any when a token is set, else loopback names only — a guard against
    DNS rebinding of a loopback server). ``backend`` simulates every request and exploration
    (numpy, numba or auto: numba when installed); with ``warm_up`` the server runs each model
    once before it accepts requests, so the compiled backend's machine code is loaded (or
    compiled, the first time after an installation) before the first slider move.
    """

    models: dict[str, Path]
    token: str | None = None
    max_runs: int = 1000
    max_work: int = 4_000_000
    max_body: int = 64 * 1024
    dashboard_runs: int = 200
    max_jobs: int = 4
    max_samples: int = 20_000
    sources: tuple[str, ...] = ()
    store_root: Path | None = None
    allowed_hosts: tuple[str, ...] | None = None
    simulation_slots: int = 2
    max_pending: int = 8
    backend: str = "auto"
    warm_up: bool = True

    def __post_init__(self) -> None:
        from policylab.api import check_backend

        check_backend(self.backend)

    def hosts(self) -> tuple[str, ...] | None:
        """Host names accepted in the Host header (None: any)."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        if self.token:
            return None
        return ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (hostnames are not resolved)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token: anyone who can reach the port could run models."""
    if not is_loopback(host) and not token:
        raise BindError(f"refusing to bind {host!r}: it is not a loopback address, and without a token anyone who "
                        "can reach it could use the server; give --token T (clients then send "
                        "`Authorization: Bearer T`) or bind 127.0.0.1")


def model_id(path: Path) -> str:
    """A model's id: its folder's name for ``…/NAME/model.yaml``, else the file's stem."""
    stem = path.stem.lower()
    return path.parent.name if stem == "model" and path.parent.name else stem


def discover_models(paths: Sequence[Path] | None, folder: Path) -> dict[str, Path]:
    """Model files to serve: those given, else every ``*/model.yaml`` under ``folder`` (flagship first)."""
    if paths:
        found = [Path(p).resolve() for p in paths]
        missing = [str(p) for p in found if not p.is_file()]
        if missing:
            raise UsageError(f"model file(s) not found: {', '.join(missing)}")
    else:
        found = sorted((p.resolve() for p in folder.glob("*/model.yaml")),
                       key=lambda p: (DEFAULT_MODEL_ORDER.index(p.parent.name)
                                      if p.parent.name in DEFAULT_MODEL_ORDER else len(DEFAULT_MODEL_ORDER), p.parent.name))
    registry: dict[str, Path] = {}
    for path in found:
        key = model_id(path)
        if key in registry:
            raise UsageError(f"two models would share the id {key!r}: {registry[key]} and {path}")
        registry[key] = path
    if not registry:
        raise UsageError(f"no model to serve: none given and no */model.yaml under {folder}")
    return registry
