"""Loops That Matter: which feedback loops drive the behaviour, per step and over an ensemble (docs/loops.md)."""

from policylab.results.loops.ensemble import Period, default_periods, dominance, loop_scores_dataset
from policylab.results.loops.structure import LoopSet, ScoredLoop, loop_set

__all__ = ["LoopSet", "Period", "ScoredLoop", "default_periods", "dominance", "loop_scores_dataset", "loop_set"]
