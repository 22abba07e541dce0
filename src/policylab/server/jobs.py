"""Explorations as background jobs: one at a time, a bounded queue, progress in runs, results in the store.

A job runs ``policylab.explore.start`` in a worker thread with the in-process executor
and writes only into the configured store. Jobs live in memory: their ids are valid
until the server stops, while the stored run they produce stays in the store.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from policylab.errors import PolicyLabError
from policylab.server import schemas as s
from policylab.server.catalogue import Entry
from policylab.server.config import ServerConfig
from policylab.server.simulation import FieldError


class Unavailable(PolicyLabError):
    """Explorations need the store and explore packages, which this installation lacks."""


class Busy(PolicyLabError):
    """The job queue is full."""


@dataclass
class Job:
    """One exploration's state, updated by its worker thread."""

    id: str
    model: str
    state: s.JobState = "queued"
    total: int = 0
    done: int = 0
    run_id: str | None = None
    error: str | None = None
    submitted: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    finished: str | None = None

    def start(self, total: int, done: int, label: str) -> None:  # ProgressSink
        self.total, self.done = total, done

    def advance(self, runs: int) -> None:  # ProgressSink
        self.done += runs

    def status(self) -> s.JobStatus:
        return s.JobStatus(id=self.id, model=self.model, state=self.state, total=self.total, done=self.done,
                           run_id=self.run_id, error=self.error, submitted=self.submitted, finished=self.finished)


READ_WAIT = 1.0  # seconds a request handler waits for the catalogue before answering 503


def open_store(config: ServerConfig, lock_timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """The configured results store (raises Unavailable when this installation has none).

    Request handlers pass ``READ_WAIT``: a catalogue write takes milliseconds, so a reader that
    meets one waits that briefly; a catalogue held longer (another process) is a 503 after it,
    so a handler never holds a worker thread for long.
    """
    try:
        from policylab.store import Store
    except ImportError as error:
        raise Unavailable("this PolicyLab installation has no results store (policylab.store)") from error
    return Store(config.store_root, lock_timeout=lock_timeout)


class Jobs:
    """The exploration queue of one server."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policylab-explore")

    def submit(self, entry: Entry, body: s.ExploreRequestBody) -> Job:
        try:
            from policylab.explore import ExploreRequest
        except ImportError as error:
            raise Unavailable("this PolicyLab installation has no exploration engine (policylab.explore)") from error
        scenarios = tuple(body.scenarios)
        count = len(entry.model.ir.scenarios) if scenarios == ("all",) else max(1, len(scenarios))
        if body.samples * count > self.config.max_samples:
            raise FieldError("samples", f"samples × scenarios = {body.samples} × {count} exceeds this server's cap of "
                                        f"{self.config.max_samples} runs per exploration")
        for i, name in enumerate(scenarios):
            if name != "all" and name not in entry.model.ir.scenarios:
                raise FieldError(f"scenarios[{i}]", f"scenario {name!r} is not defined in {entry.id}; choose one of: "
                                                    f"{', '.join(entry.model.ir.scenarios) or '(none)'} (or 'all')")
        request = ExploreRequest(samples=body.samples, sampler=body.sampler, seed=body.seed, scenarios=scenarios,
                                 outcomes=tuple(body.outcomes), backend=body.backend or self.config.backend)
        request.plan(entry.model)  # validates the outcomes now, so a bad one is a 422, not a failed job
        with self.lock:
            pending = sum(j.state in ("queued", "running") for j in self.jobs.values())
            if pending >= self.config.max_jobs:
                raise Busy(f"{pending} explorations are queued or running (the cap is {self.config.max_jobs}); "
                           "try again when one finishes")
            job = Job(secrets.token_hex(8), entry.id)
            self.jobs[job.id] = job
        self.pool.submit(self._run, job, entry, request)
        return job

    def _run(self, job: Job, entry: Entry, request) -> None:  # type: ignore[no-untyped-def]
        from policylab.explore import start
        from policylab.scale import InProcess

        job.state = "running"
        try:
            store = open_store(self.config)

            def started(run_id: str) -> None:
                job.run_id = run_id

            start(entry.model, request, store, InProcess(), progress=job, on_start=started)
            job.state = "done"
        except Exception as error:  # noqa: BLE001 - a job reports any failure instead of dying silently
            job.error = str(error) or type(error).__name__
            job.state = "failed"
        finally:
            job.finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
