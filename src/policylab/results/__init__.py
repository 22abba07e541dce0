"""Results: scalar outcomes and tabular views of simulated Datasets.

The names below load on first use (PEP 562): ``results.numbers`` and ``results.intervals``
are read by the command line's help-time code without importing pandas and xarray.
"""

from __future__ import annotations

from typing import Any

__all__ = ["comparison_table", "evaluate_outcome", "outcome_values", "to_csv_frame", "to_json"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate_outcome", "outcome_values"):
        from policylab.results import outcomes

        return getattr(outcomes, name)
    if name in ("comparison_table", "to_csv_frame", "to_json"):
        from policylab.results import tables

        return getattr(tables, name)
    raise AttributeError(f"module 'policylab.results' has no attribute {name!r}")
