"""Analyses over many runs: sensitivity, scenario discovery, robustness and calibration.

Every analysis evaluates its design as chunked vectorised ensembles through the public
``Model.run`` (``evaluate``), over the judgement parameters mapped from the unit cube
(``space``). Modules: ``sensitivity`` (Sobol, time-varying Sobol, Morris), ``prim`` and
``cart`` (scenario discovery), ``robustness`` (satisficing, regret), ``calibration``
and ``abc`` (differential evolution, ABC rejection and SMC), ``observations`` (data and
mapping files), ``plots`` (Plotly figures; imported on demand).
"""

from policylab.analysis.abc import Posterior, abc_rejection, abc_smc, read_parameter_sets, resample, write_posterior
from policylab.analysis.calibration import Fit, Problem, calibration_problem, fit_de
from policylab.analysis.cart import CartResult, cart
from policylab.analysis.evaluate import (
    Condition,
    evaluate_design,
    evaluate_outcomes,
    parse_condition,
    resolve_condition,
    resolve_outcomes,
)
from policylab.analysis.prim import Box, BoxSearch, prim
from policylab.analysis.robustness import compare_policies, summarise_policies, uncertainty_sample
from policylab.analysis.sensitivity import morris_screening, sobol_indices, sobol_over_time
from policylab.analysis.space import Space, Uncertainty, parameter_space

__all__ = [
    "Box",
    "BoxSearch",
    "CartResult",
    "Condition",
    "Fit",
    "Posterior",
    "Problem",
    "Space",
    "Uncertainty",
    "abc_rejection",
    "abc_smc",
    "calibration_problem",
    "cart",
    "compare_policies",
    "evaluate_design",
    "evaluate_outcomes",
    "fit_de",
    "morris_screening",
    "parameter_space",
    "prim",
    "read_parameter_sets",
    "resample",
    "resolve_condition",
    "resolve_outcomes",
    "sobol_indices",
    "sobol_over_time",
    "summarise_policies",
    "uncertainty_sample",
    "write_posterior",
]
