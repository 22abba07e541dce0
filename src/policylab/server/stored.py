"""Reads of the results store for the API, and the answers kept while a run's files stand unchanged.

A stored run's summary (``GET /api/runs/{id}``) — or why there is none: not found,
damaged — depends only on the store's files, so it is kept under the run's
:meth:`~policylab.store.Store.fingerprint` (a few ``stat`` calls) and given again until
one of them changes. Asking again and again for a damaged or missing run, as a hostile
client may, then costs no catalogue connection — each costs 40–190 ms of CPU that the
dashboard's simulations would otherwise lose — and the damage is logged once, not per
request. A busy catalogue (503) is never kept: it is a moment, not a state of the files.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException

from policylab.server import schemas as s
from policylab.server.config import ServerConfig
from policylab.server.jobs import READ_WAIT, Unavailable, open_store

T = TypeVar("T")
KEPT = 64  # answers kept (the oldest goes first)
log = logging.getLogger("policylab.server")


class StoredRuns:
    """The store as the API reads it: messages that name no path or query, answers kept per fingerprint."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.kept: OrderedDict[tuple, s.StoredRunSummary | HTTPException] = OrderedDict()
        self.lock = threading.Lock()  # handlers run in worker threads

    def list(self) -> list[s.StoredRun]:
        """Explorations in the results store, newest first."""
        frame = reading(lambda: self._store().list_runs())
        return [s.StoredRun(run_id=str(r.run_id), model=str(r.model), status=str(r.status), runs=int(r.n_runs or 0),
                            created=str(r.created)) for r in frame.itertuples()]

    def summary(self, run_id: str) -> s.StoredRunSummary:
        """One stored run's manifest and outcome percentiles; the same answer again while its files are unchanged."""
        store = self._store()
        state = reading(lambda: store.fingerprint(run_id))
        key = (run_id, state)
        with self.lock:
            kept = self.kept.get(key) if state is not None else None
            if kept is not None:
                self.kept.move_to_end(key)
        if kept is None:
            try:
                kept = reading(lambda: _summary(store, run_id))
            except HTTPException as error:
                if error.status_code == 503:
                    raise
                kept = error
            if state is not None:
                with self.lock:
                    self.kept[key] = kept
                    while len(self.kept) > KEPT:
                        self.kept.popitem(last=False)
        if isinstance(kept, HTTPException):
            raise HTTPException(kept.status_code, kept.detail, kept.headers)
        return kept

    def _store(self):  # type: ignore[no-untyped-def]
        try:
            return open_store(self.config, lock_timeout=READ_WAIT)
        except Unavailable as error:
            raise HTTPException(501, str(error)) from error


def reading(read: Callable[[], T]) -> T:
    """Read the store once: a catalogue busy past READ_WAIT is 503, a damaged run 500; messages name no path or query."""
    from policylab.store import CorruptRunError, RunNotFoundError, StoreError, StoreLockedError

    try:
        return read()
    except RunNotFoundError as error:
        raise HTTPException(404, "no such stored run; GET /api/runs lists them") from error
    except StoreLockedError as error:
        raise HTTPException(503, "the results store is being written; retry shortly",
                            headers={"retry-after": "1"}) from error
    except CorruptRunError as error:
        log.error("%s", error)
        raise HTTPException(500, f"run {error.run_id} is damaged in the results store; the server's operator can "
                                 f"repair it (`policylab runs repair {error.run_id}`) or delete it") from error
    except StoreError as error:
        log.error("%s", error)
        raise HTTPException(500, "the results store cannot be read; the server log has the details") from error


def _summary(store, run_id: str) -> s.StoredRunSummary:  # type: ignore[no-untyped-def]
    from policylab.explore.session import stored_backend
    from policylab.store import summarise

    info = store.info(run_id)
    rows = summarise(store, run_id).to_dict("records")
    clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in rows]
    manifest = info.manifest
    return s.StoredRunSummary(run_id=run_id, model=str(info.row.get("model")), status=info.status,
                              runs_done=int(info.runs_done), n_runs=int(manifest.get("n_runs", 0)),
                              outcomes=[str(o) for o in manifest.get("outcomes", [])],
                              parameters=[str(p) for p in manifest.get("parameters", [])], summary=clean,
                              backend=stored_backend(manifest))
