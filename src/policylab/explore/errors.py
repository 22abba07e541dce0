"""Errors of the exploration layer (designs, runners), part of PolicyLab's one tree.

::

    PolicyLabError
    └── UsageError(ValueError)
        └── DesignError            an experimental design cannot be built as asked
"""

from __future__ import annotations

from policylab.errors import UsageError


class DesignError(UsageError):
    """An uncertainty, sampler, lever grid or policy combination is invalid."""
