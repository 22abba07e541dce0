"""Chromium (Debian's, driven by Playwright) and a live server serving the flagship, else a small stand-in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import policylab
from policylab.errors import PolicyLabError
from policylab.server import ServerConfig
from policylab.server.runner import running

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "models" / "iraq_dialogue" / "model.yaml"
STAND_IN = ROOT / "tests" / "server" / "seeded" / "model.yaml"
SEED_DIR = Path(os.environ.get("POLICYLAB_SOURCES", "").split(os.pathsep)[0] or ROOT.parent / "shared" / "seed")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

def dashboard_model() -> Path:
    """The flagship when it loads, else the stand-in (a maximum-pressure lever, attacks, seed quotes)."""
    try:
        policylab.load(FLAGSHIP).compiled
    except (PolicyLabError, OSError):
        return STAND_IN
    return FLAGSHIP


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (`make test` installs it)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.problems = []  # console errors and uncaught exceptions, checked by the tests
    tab.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    yield tab
    context.close()


@pytest.fixture(scope="session")
def model_path() -> Path:
    return dashboard_model()


@pytest.fixture(scope="session")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = ServerConfig(models={"flagship": model_path}, dashboard_runs=20, sources=(str(SEED_DIR),),
                          store_root=tmp_path_factory.mktemp("store"))
    with running(config) as url:
        yield url


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def graphviz() -> None:
    """Skip a test that draws the causal-loop diagram when Graphviz is missing (`make test` installs it)."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is installed by `make test`")


@pytest.fixture(scope="session")
def seed_text() -> str:
    return (SEED_DIR / "000_d85fd4490fab1d87.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    return SEED_DIR


@pytest.fixture(scope="session")
def stand_in() -> Path:
    return STAND_IN
