"""A live server on loopback (uvicorn in a thread) serving the SIR example and a small seeded model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from policylab.server import ServerConfig
from policylab.server.runner import running

ROOT = Path(__file__).resolve().parents[2]
SIR = ROOT / "models" / "sir" / "model.yaml"
SEEDED = Path(__file__).with_name("seeded") / "model.yaml"
SEED_DIR = Path(os.environ.get("POLICYLAB_SOURCES", "").split(os.pathsep)[0] or ROOT.parent / "shared" / "seed")
SEED_FILE = SEED_DIR / "000_d85fd4490fab1d87.txt"
MAX_RUNS = 50


def config(tmp: Path, **overrides: object) -> ServerConfig:
    settings: dict[str, object] = {
        "models": {"sir": SIR, "seeded": SEEDED}, "max_runs": MAX_RUNS, "max_work": MAX_RUNS * 1500,
        "dashboard_runs": 20, "sources": (str(SEED_DIR),), "store_root": tmp / "store", "max_samples": 200,
    }
    settings.update(overrides)
    return ServerConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(config(tmp_path_factory.mktemp("server"))) as url:
        yield url


@pytest.fixture(scope="package")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as http:
        yield http


@pytest.fixture(scope="package")
def seed_text() -> str:
    """The seed document, as the server reads it from the sources path."""
    return SEED_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="package")
def make_config():
    """``config(tmp, **overrides)``: the test server's configuration, for servers a test starts itself."""
    return config


@pytest.fixture(scope="package")
def max_runs() -> int:
    return MAX_RUNS
