"""Fuzzing the XMILE reader with mutated suite files: every failure is a PolicyLabError with a message."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _mutations import mutate  # tests/formats/_mutations.py

import policylab
from policylab.errors import PolicyLabError
from policylab.formats.xmile import XmileRepairWarning, read_xmile_bytes

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT.parent / "shared" / "conformance" / "xmile"
SEEDS = sorted(SUITE.glob("*/*.xmile")) + sorted((ROOT / "tests" / "conformance").glob("*/model.xmile"))
TEXTS = [p.read_bytes() for p in SEEDS]
FRAGMENTS = [b"<", b">", b"</", b"/>", b"<aux name=\"x\">", b"</aux>", b"<eqn>", b"</eqn>", b"&", b"&lt;", b"\"",
             b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", b"&a;", b"<dimensions>", b"<dim name=\"d\"/>", b"[*]", b"SUM(",
             b"<module name=\"m\">", b"<connect to=\"a\" from=\"b\"/>", b"<gf><ypts>1,2</ypts></gf>", b"isee:",
             b"<stock name=\"s\"><inflow>f</inflow></stock>", b"<element subscript=\"a\">", b"\x00", b"\xff\xfe",
             b"IF THEN ELSE", b"1e999", b"-", b"(", b")", b"<model name=\"m\">", b"</model>", b"reciprocal=\"true\""]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return mutate(draw, draw(st.sampled_from(TEXTS)), FRAGMENTS)


def _read_and_compile(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XmileRepairWarning)
        try:
            model = read_xmile_bytes(data, "fuzzed.xmile")
            policylab.Model(model).compiled  # noqa: B018 - compiling is the point
        except PolicyLabError as err:
            assert str(err), "an error without a message"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_fail_only_with_policylab_errors(data: bytes) -> None:
    _read_and_compile(data)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_many_mutated_files_fail_only_with_policylab_errors(data: bytes) -> None:
    _read_and_compile(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_fail_only_with_policylab_errors(data: bytes) -> None:
    _read_and_compile(data)
