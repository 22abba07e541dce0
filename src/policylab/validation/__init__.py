"""Validation as part of the model: the checks written in its ``checks:`` section (behaviour,
data, reality, lever_response, holdout) and those every model gets (extreme conditions,
integration error, units), each run over an ensemble and reported as the share of runs in
which it holds. ``policylab validate`` is the command line; docs/validation.md the how-to.
"""

from __future__ import annotations

from policylab.validation.results import AUTOMATIC, KINDS, CheckResult, CounterExample, ValidationReport
from policylab.validation.runner import validate

__all__ = ["AUTOMATIC", "KINDS", "CheckResult", "CounterExample", "ValidationReport", "validate"]
