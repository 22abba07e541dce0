"""Exploration: designs over the uncertainties, chunked vectorised evaluation, stored runs.

Build a design (``model_uncertainties`` → ``sample_uncertainties`` → ``make_design``, or
``ExploreRequest.design``), evaluate it in memory with ``evaluate_design`` or into the
results store with ``start`` / ``resume``.
"""

from policylab.explore.designs import (
    COMBINES,
    SAMPLERS,
    Combine,
    DesignSource,
    Sampler,
    Uncertainty,
    design_hash,
    lever_grid,
    make_design,
    model_uncertainties,
    parameter_columns,
    sample_uncertainties,
)
from policylab.explore.errors import DesignError
from policylab.explore.outcomes import Crossing, SeriesSpec, parse_outcome
from policylab.explore.runner import ChunkResult, ExplorePlan, ModelRef, auto_chunk_size, evaluate_design, evaluate_rows
from policylab.explore.session import ExploreRequest, ProgressSink, resume, start

__all__ = [
    "COMBINES",
    "SAMPLERS",
    "ChunkResult",
    "Combine",
    "Crossing",
    "DesignSource",
    "DesignError",
    "ExplorePlan",
    "ExploreRequest",
    "ModelRef",
    "ProgressSink",
    "Sampler",
    "SeriesSpec",
    "Uncertainty",
    "auto_chunk_size",
    "design_hash",
    "evaluate_design",
    "evaluate_rows",
    "lever_grid",
    "make_design",
    "model_uncertainties",
    "parameter_columns",
    "parse_outcome",
    "resume",
    "sample_uncertainties",
    "start",
]
