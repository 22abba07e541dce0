"""Fuzzing the Vensim reader with mutated .mdl files: every failure is a PolicyLabError with a message."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _mutations import mutate  # tests/formats/_mutations.py

import policylab
from policylab.errors import PolicyLabError
from policylab.formats.vensim import VensimReadWarning, read_vensim_bytes

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT.parent / "shared" / "conformance" / "vensim"
SEEDS = (sorted(SUITE.glob("*/*.mdl")) + sorted((ROOT / "tests" / "conformance").glob("*/model.mdl"))
         + sorted((ROOT / "tests" / "formats" / "vensim").glob("*.mdl")))
TEXTS = [p.read_bytes() for p in SEEDS]


def _readable(data: bytes) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read_vensim_bytes(data, "seed.mdl")
        except PolicyLabError:
            return False
    return True


READABLE = [text for text in TEXTS if _readable(text)]
"""Seeds the reader takes whole (all but the suite's data and allocation cases): mutating them reaches the later
stages."""
FRAGMENTS = [b"~", b"|", b"~~|", b"\"", b"\\\n", b"(", b")", b"[", b"]", b"[(0,0)-(1,1)]", b"(1,2)", b",", b";",
             b"=", b"==", b":=", b":", b"<->", b":EXCEPT:", b":AND:", b":NOT:", b":NA:", b"INTEG(", b"WITH LOOKUP(",
             b"DELAY N(", b"SMOOTH N(", b"ACTIVE INITIAL(", b"IF THEN ELSE(", b"1e999", b"-1e999", b"0/0", b"^",
             b":MACRO:", b":END OF MACRO:", b"{UTF-8}", b"\\\\\\---///", b"****\n.G\n****~|", b"TIME STEP", b"\x00",
             b"\xff\xfe", b"'a.xlsx'", b"TABBED ARRAY(", b"!", b"->", b"(a1-a9)", b"[a, b]", b"SUM(", b"VMAX(",
             b"ELMCOUNT(", b"VECTOR SELECT(", b"VECTOR ELM MAP(", b"VECTOR SORT ORDER(", b"INVERT MATRIX(",
             b"((((((((((", b"FINAL TIME = -1 ~~|", b"TIME STEP = 0 ~~|"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    start = draw(st.sampled_from(READABLE) if draw(st.integers(0, 4)) else st.sampled_from(TEXTS))
    return mutate(draw, start, FRAGMENTS)


def _read_and_run(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = policylab.Model(read_vensim_bytes(data, "fuzzed.mdl"))
            if model.ir.time.n_steps <= 2000:
                model.run()
            else:
                model.compiled  # noqa: B018 - compiling is the point
        except PolicyLabError as err:
            assert str(err), "an error without a message"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # 10,000 under -m slow
@given(mutated())
def test_mutated_files_fail_only_with_policylab_errors(data: bytes) -> None:
    _read_and_run(data)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_ten_thousand_mutated_files_fail_only_with_policylab_errors(data: bytes) -> None:
    _read_and_run(data)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 .,;:=~|()[]{}\"'\\-+*/^<>!\n")), max_size=200))
def test_random_text_fails_only_with_policylab_errors(text: str) -> None:
    _read_and_run(text.encode("utf-8"))


def test_the_seeds_are_there() -> None:
    assert len(TEXTS) >= 8 and len(READABLE) >= 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VensimReadWarning)
        read_vensim_bytes(TEXTS[-1], "seed.mdl")
