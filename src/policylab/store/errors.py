"""Errors of the results store, part of PolicyLab's one tree.

::

    PolicyLabError
    └── StoreError                     the store cannot be read or written as asked
        ├── StoreLockedError           another process holds a lock (names it)
        ├── RunNotFoundError(KeyError) no run with that id
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
