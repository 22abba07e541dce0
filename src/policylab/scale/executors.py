"""Where chunks run: this process, a process pool on this machine, or a Dask cluster.

Every executor offers one operation, :meth:`map_unordered`: apply a picklable
module-level function to a stream of jobs and yield results as they finish, keeping at
most ``window`` jobs in flight so memory stays bounded however long the stream. Results
arrive in any order; jobs carry their own run indices, so the caller files each result
by index and the outcome does not depend on scheduling.

``--scheduler`` values:

``local`` (default)
    ``workers`` processes on this machine (``concurrent.futures`` with the ``spawn``
    start method); ``workers=1`` runs in this process, with no pool.
``tcp://host:port`` (or any address ``dask.distributed.Client`` accepts)
    the workers of a running ``dask.distributed`` cluster (e.g. ``dask scheduler`` and
    ``dask worker`` on other machines, or a ``LocalCluster``). Dask does the
    distribution; there is no cluster code here.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Protocol, TypeVar

from policylab.errors import UsageError

J = TypeVar("J")
R = TypeVar("R")


class SchedulerError(UsageError):
    """A scheduler address or worker count is invalid, or the cluster cannot be reached."""


class Executor(Protocol):
    """Runs jobs somewhere and yields their results as they complete."""

    workers: int

    def map_unordered(self, fn: Callable[[J], R], jobs: Iterable[J], window: int | None = None) -> Iterator[R]: ...

    def close(self) -> None: ...


class InProcess:
    """Run each job here, in order: no pickling, no extra memory, easy to debug."""

    workers = 1

    def map_unordered(self, fn: Callable[[J], R], jobs: Iterable[J], window: int | None = None) -> Iterator[R]:
        for job in jobs:
            yield fn(job)

    def close(self) -> None:
        return None


def single_numba_thread() -> None:
    """Give numba one thread in this process: the executor already runs a worker per core.

    Without this, every worker's numba backend would start a thread per core for its
    blocks of runs, and two workers on two cores would run four busy threads. Results do
    not change (blocks of runs are independent). Before numba is imported, the
    environment variable sizes its pool; afterwards ``set_num_threads`` (per calling
    thread) limits it, since the variable may not change once numba's threads exist.
    """
    numba = sys.modules.get("numba")
    if numba is None:
        os.environ["NUMBA_NUM_THREADS"] = "1"
    else:
        numba.set_num_threads(1)


def watch_parent(parent: int, interval: float = 0.5) -> None:
    """Exit this worker as soon as the process that started it is gone.

    A pool's workers block reading their job queue, whose write end each of them also
    holds, so they never see end-of-file: after ``kill -9`` of ``explore`` they (and
    multiprocessing's resource tracker, which waits for them) lived on for good. A
    daemon thread polls the parent id, which changes when the parent dies.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="policylab-parent-watch", daemon=True).start()


def _start_worker(parent: int, single_thread: bool) -> None:
    watch_parent(parent)
    if single_thread:
        single_numba_thread()


def _with_single_numba_thread(fn: Callable[[J], R], job: J) -> R:
    single_numba_thread()
    return fn(job)


class ProcessPool:
    """A pool of ``workers`` fresh processes on this machine (with more than one, each has one numba thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(os.getpid(), workers > 1))

    def map_unordered(self, fn: Callable[[J], R], jobs: Iterable[J], window: int | None = None) -> Iterator[R]:
        limit = window or 2 * self.workers
        pending: set[Future] = set()
        source = iter(jobs)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                    else:
                        pending.add(self.pool.submit(fn, job))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        result = future.result()
                    except BrokenProcessPool as error:
                        raise SchedulerError("a worker process stopped unexpectedly (killed, or out of memory? "
                                             "a smaller --chunk-size needs less)") from error
                    yield result
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskCluster:
    """The workers of a ``dask.distributed`` cluster reached at ``address``."""

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        try:
            from distributed import Client
        except ImportError as error:  # pragma: no cover - dask is a dependency
            raise SchedulerError("--scheduler tcp://… needs dask.distributed: pip install 'dask[distributed]'") from error
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {error}") from error
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        self.workers = max(1, len(workers))
        self.threads = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1

    def map_unordered(self, fn: Callable[[J], R], jobs: Iterable[J], window: int | None = None) -> Iterator[R]:
        from distributed import as_completed

        limit = window or 2 * self.workers
        source = iter(jobs)
        if self.threads > 1:  # one numba thread per task thread (set in the thread that runs the task)
            fn = functools.partial(_with_single_numba_thread, fn)
        first = [self.client.submit(fn, job, pure=False) for job in _take(source, limit)]
        if not first:
            return
        queue = as_completed(first, loop=self.client.loop)
        try:
            for future in queue:
                result = future.result()
                future.release()
                job = next(source, None)
                if job is not None:
                    queue.add(self.client.submit(fn, job, pure=False))
                yield result
        finally:
            for future in list(queue.futures):
                future.cancel()

    def close(self) -> None:
        self.client.close()


def _take(source: Iterator[J], n: int) -> list[J]:
    taken: deque[J] = deque()
    for _ in range(n):
        job = next(source, None)
        if job is None:
            break
        taken.append(job)
    return list(taken)


def default_workers() -> int:
    """Processes to use by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def open_executor(scheduler: str = "local", workers: int | None = None) -> Iterator[Executor]:
    """An executor for ``scheduler`` (``local`` or a Dask address), closed on exit."""
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise SchedulerError(f"--workers must be a whole number of at least 1, got {workers!r}")
    executor: Executor
    if scheduler == "local":
        count = workers or default_workers()
        executor = InProcess() if count == 1 else ProcessPool(count)
    elif "://" in scheduler:
        if workers is not None:
            raise SchedulerError("--workers applies to --scheduler local; a Dask cluster has the workers it was started with")
        executor = DaskCluster(scheduler)
    else:
        raise SchedulerError(f"--scheduler must be 'local' or a Dask scheduler address such as tcp://host:8786, not {scheduler!r}")
    try:
        yield executor
    finally:
        executor.close()
