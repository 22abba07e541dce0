"""Results: scalar outcomes and tabular views of simulated Datasets."""

from policylab.results.outcomes import evaluate_outcome, outcome_values
from policylab.results.tables import comparison_table, to_csv_frame, to_json

__all__ = ["comparison_table", "evaluate_outcome", "outcome_values", "to_csv_frame", "to_json"]
