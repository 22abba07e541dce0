"""Errors of the results store, part of PolicyLab's one tree.

::

    PolicyLabError
    └── StoreError                     the store cannot be read or written as asked
        ├── StoreLockedError           another process holds a lock (names it)
        ├── RunNotFoundError(KeyError) no run with that id
        ├── CorruptRunError            a run's manifest or a chunk file is missing or damaged
        └── ResumeError                a run cannot be resumed as asked
"""

from __future__ import annotations

from policylab.errors import PolicyLabError


class StoreError(PolicyLabError):
    """The results store cannot be read or written as asked."""


class StoreLockedError(StoreError):
    """Another process holds the catalogue or a run; the message says which (pid, command, since)."""


class RunNotFoundError(StoreError, KeyError):
    """No run with that id is catalogued."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class ResumeError(StoreError):
    """The run is complete, or its model or design changed since it started."""


class CorruptRunError(StoreError):
    """A run's manifest or one of its chunk files is missing or damaged; the message says how to recover."""

    def __init__(self, run_id: str, problem: str, repairable: bool = True) -> None:
        self.run_id = run_id
        self.problem = problem
        remedy = (f"`policylab runs repair {run_id}` drops the damaged chunks (then `policylab explore --resume "
                  f"{run_id}` recomputes them), or `policylab runs delete {run_id}` removes the run"
                  if repairable else f"the run cannot be repaired; remove it with `policylab runs delete {run_id}`")
        super().__init__(f"run {run_id} is damaged: {problem}; {remedy}")
