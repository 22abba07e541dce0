"""``backend="auto"``: numba where it is installed, else NumPy without a warning; ``backend_for`` says which."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import policylab
from policylab.api import numba_available, resolve_backend
from policylab.errors import UsageError

SIR = Path(__file__).resolve().parents[1] / "models" / "sir" / "model.yaml"


@pytest.fixture()
def without_numba(monkeypatch):  # type: ignore[no-untyped-def]
    """As if numba were not installed (the check is cached: cleared before and after)."""
    import policylab.simulate

    monkeypatch.setitem(sys.modules, "policylab.simulate.numba_backend", None)
    monkeypatch.delattr(policylab.simulate, "numba_backend", raising=False)
    numba_available.cache_clear()
    yield
    numba_available.cache_clear()


def test_auto_without_numba_runs_numpy_without_a_warning(without_numba, caplog) -> None:
    model = policylab.load(SIR)
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="policylab"):
        warnings.simplefilter("error")
        ds = model.run(runs=3, backend="auto")
    assert ds.attrs["backend"] == "numpy"
    assert resolve_backend("auto") == "numpy" and model.backend_for("auto") == "numpy"
    assert any("cannot be imported" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    with pytest.raises(UsageError, match=r"policylab\[fast\]"):
        model.run(backend="numba")


def test_auto_with_numba_runs_numba_and_matches_numpy() -> None:
    pytest.importorskip("numba")
    model = policylab.load(SIR)
    auto = model.run(runs=5, backend="auto")
    reference = model.run(runs=5)  # the default stays the reference engine
    assert auto.attrs["backend"] == "numba" and reference.attrs["backend"] == "numpy"
    assert model.backend_for("auto", runs=5) == "numba"
    for name in reference.data_vars:
        np.testing.assert_allclose(auto[name].values, reference[name].values, rtol=1e-12)


def test_backend_for_says_numpy_where_the_compiled_backend_cannot_express_the_model() -> None:
    pytest.importorskip("numba")
    model = unsorted_lookup_model()
    assert model.backend_for("numba") == "numpy" and model.backend_for("auto") == "numpy"
    assert model.backend_for("numpy") == "numpy"
    assert policylab.load(SIR).backend_for("numba") == "numba"


def unsorted_lookup_model() -> policylab.Model:
    """A model the compiled backend cannot express: a lookup whose x values are out of order."""
    import dataclasses

    from policylab.formats.yaml_reader import read_yaml_text

    text = ("model: unsorted\ntime: {start: 0, stop: 3, dt: 1}\n"
            "lookups:\n  f: {points: [[1, 0], [2, 1], [3, 2]]}\n"
            "auxiliaries:\n  y: {equation: 'f(TIME)'}\n")
    ir = read_yaml_text(text, "unsorted.yaml")
    unsorted = dataclasses.replace(ir.variables["f"], xs=(2.0, 1.0, 3.0))  # the readers refuse these
    return policylab.Model(dataclasses.replace(ir, variables={**ir.variables, "f": unsorted}))


def test_an_unknown_backend_is_refused_by_every_entry_point() -> None:
    with pytest.raises(UsageError, match="backend must be one of numpy, numba, auto"):
        resolve_backend("jax")
    with pytest.raises(UsageError, match="backend must be one of numpy, numba, auto"):
        policylab.load(SIR).backend_for("jax")  # type: ignore[arg-type]


def test_an_exploration_settles_on_numpy_for_every_chunk_when_numba_cannot_run_a_scenario() -> None:
    pytest.importorskip("numba")
    import pandas as pd

    from policylab.api import BackendFallbackWarning
    from policylab.explore.runner import ExplorePlan, settle_backend

    model, first = unsorted_lookup_model(), pd.DataFrame({"sample": [0], "scenario": [""], "policy": ["p"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert settle_backend(model, ExplorePlan((), backend="auto"), [""], first).backend == "numpy"
    with pytest.warns(BackendFallbackWarning, match="exploration runs with the NumPy backend"):
        assert settle_backend(model, ExplorePlan((), backend="numba"), [""], first).backend == "numpy"
    sir = policylab.load(SIR)
    assert settle_backend(sir, ExplorePlan((), backend="auto"), ["", "distancing"], first).backend == "numba"


def test_an_exploration_asking_for_numba_without_it_stops_before_anything_is_stored(without_numba, tmp_path) -> None:
    from policylab.explore import ExploreRequest, start
    from policylab.scale import InProcess
    from policylab.store import Store

    store = Store(tmp_path / "store")
    with pytest.raises(UsageError, match=r"policylab\[fast\]"):
        start(policylab.load(SIR), ExploreRequest(samples=4, backend="numba"), store, InProcess())
    assert store.list_runs().empty
    run_id = start(policylab.load(SIR), ExploreRequest(samples=4), store, InProcess())  # auto: NumPy, quietly
    assert store.info(run_id).manifest["request"]["backend"] == "numpy"  # type: ignore[index]


def test_a_numba_run_does_not_resume_where_numba_is_missing(without_numba, tmp_path) -> None:
    from policylab.explore import ExploreRequest, resume
    from policylab.explore.runner import ModelRef
    from policylab.scale import InProcess
    from policylab.store import ResumeError, Store

    model, store = policylab.load(SIR), Store(tmp_path / "store")
    request = ExploreRequest(samples=4, backend="numba")
    with store.create_run({"model": {"name": model.name, "path": str(SIR), "sha256": ModelRef.of(model).sha256},
                           "request": request.to_json(), "chunk_size": 4, "n_chunks": 1}) as writer:
        run_id = writer.run_id
    with pytest.raises(ResumeError, match="numba backend, which cannot be imported here"):
        resume(store, run_id, InProcess())
