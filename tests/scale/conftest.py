"""Fixtures shared by the scale-out tests: the noisy model (a NORMAL draw every step) and a store."""

from __future__ import annotations

from pathlib import Path

import pytest

import policylab
from policylab.store import Store

NOISY = Path(__file__).parents[1] / "explore" / "noisy.yaml"


@pytest.fixture(scope="module")
def model() -> policylab.Model:
    return policylab.load(NOISY)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("store"))
