"""The simulator: integrators over an ensemble axis, per-run random streams, result assembly."""

from policylab.simulate.engine import Trajectory, simulate
from policylab.simulate.results import to_dataset
from policylab.simulate.sampling import judgement_parameters, sample_judgements
from policylab.simulate.streams import Streams

__all__ = ["Streams", "Trajectory", "judgement_parameters", "sample_judgements", "simulate", "to_dataset"]
