"""The noisy test model (a NORMAL draw every step), loaded once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

import policylab

NOISY = Path(__file__).with_name("noisy.yaml")


@pytest.fixture(scope="module")
def model() -> policylab.Model:
    return policylab.load(NOISY)
