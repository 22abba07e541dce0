"""Vocabularies the command line offers as choices, in a leaf module: importable before the engine loads.

``policylab --help`` lists these choices without importing NumPy or the simulator; the
engine (``policylab.api``, ``policylab.explore.designs``) imports them from here too.
"""

from __future__ import annotations

from typing import Literal

Backend = Literal["numpy", "numba", "auto"]
"""numpy: the reference engine; numba: compiled (``policylab[fast]``); auto: numba when installed."""

Kernels = Literal["serial", "parallel", "both"]
"""The numba backend's kernels: serial (one block of runs), parallel (ensembles of several blocks), or both."""

Sampler = Literal["mc", "lhs", "sobol"]
"""How uncertainties are sampled: Monte Carlo, Latin hypercube, scrambled Sobol'."""
