"""Stakeholder bargaining models, coupled to the system dynamics.

Forecast what a negotiation among stakeholders settles on: the compromise (weighted
mean), weighted median and Nash bargaining models, and Bueno de Mesquita's
expected-utility group decision model as specified by Scholz, Calbert & Smith (2011),
all over a leading ``run`` axis so sampled input uncertainty flows through. A coupling
maps a system-dynamics model's state at a date to stakeholder capabilities and
saliences, so each scenario of the model yields a forecast distribution.

Modules: ``stakeholders`` (the data format and sampling), ``spatial`` (compromise,
median, Nash), ``expected_utility`` (the round-by-round model), ``coupling`` (model state
to stakeholder inputs), ``forecast`` (all models, alone or per scenario). See
``docs/bargain.md``.
"""

from policylab.bargain.coupling import Coupling, parse_date, read_coupling
from policylab.bargain.expected_utility import EUSettings, eu_round, expected_utility_model
from policylab.bargain.forecast import MODEL_NAMES, forecast, forecast_case, forecast_scenarios, summary
from policylab.bargain.spatial import compromise, median_voter, nash_bargaining, weighted_median
from policylab.bargain.stakeholders import Case, case_from_table, check_case_quotes, read_case, sample_case

__all__ = [
    "MODEL_NAMES",
    "Case",
    "Coupling",
    "EUSettings",
    "case_from_table",
    "check_case_quotes",
    "compromise",
    "eu_round",
    "expected_utility_model",
    "forecast",
    "forecast_case",
    "forecast_scenarios",
    "median_voter",
    "nash_bargaining",
    "parse_date",
    "read_case",
    "read_coupling",
    "sample_case",
    "summary",
    "weighted_median",
]
