"""Scale-out: run exploration chunks in this process, a local process pool or a Dask cluster."""

from policylab.scale.executors import (
    DaskCluster,
    Executor,
    InProcess,
    ProcessPool,
    SchedulerError,
    default_workers,
    open_executor,
)

__all__ = ["DaskCluster", "Executor", "InProcess", "ProcessPool", "SchedulerError", "default_workers", "open_executor"]
