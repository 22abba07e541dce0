"""The results store: every exploration's parameters and outcomes, as Parquet files
catalogued in an embedded DuckDB database, written atomically and resumable."""

from policylab.store.errors import CorruptRunError, ResumeError, RunNotFoundError, StoreError, StoreLockedError
from policylab.store.export import EXPORT_FORMATS, ExportFormat, export_run, summarise, to_dataset
from policylab.store.store import RunInfo, RunWriter, Store, default_store_root

__all__ = [
    "CorruptRunError",
    "EXPORT_FORMATS",
    "ExportFormat",
    "ResumeError",
    "RunInfo",
    "RunNotFoundError",
    "RunWriter",
    "Store",
    "StoreError",
    "StoreLockedError",
    "default_store_root",
    "export_run",
    "summarise",
    "to_dataset",
]
