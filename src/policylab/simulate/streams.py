"""Per-run random streams that do not depend on how an ensemble is split.

Run ``k`` of seed ``s`` gets the key ``SeedSequence(s, spawn_key=(k,))``. A draw is a
counter-based hash of (key, site, step) — the SplitMix64 finaliser applied twice — so
the number run ``k`` sees at a given call site and step is the same whether it was
simulated alone, in an ensemble of any size, or in any chunk or worker. Vectorised over
runs: one NumPy expression per draw, no Python loop over runs.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_SCALE = 2.0**-53


def run_keys(seed: int, run_indices: np.ndarray) -> np.ndarray:
    """The 64-bit stream key of each run index (SeedSequence-derived)."""
    return np.array(
        [np.random.SeedSequence(int(seed), spawn_key=(int(k),)).generate_state(1, np.uint64)[0] for k in run_indices],
        dtype=np.uint64,
    )


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def uniform(keys: np.ndarray, site: int, counter: int) -> np.ndarray:
    """Uniform draws in the open interval (0, 1), one per run key."""
    offset = np.uint64((site * 0x100000001B3 + counter * 0x9E3779B1 + 1) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        x = _mix(keys + offset * _GOLDEN)
        x = _mix(x ^ offset)
    return ((x >> _S11).astype(np.float64) + 0.5) * _SCALE


class Streams:
    """The uniform source a simulation reads, one key per run."""

    def __init__(self, seed: int, run_indices: np.ndarray) -> None:
        self.keys = run_keys(seed, run_indices)
        self.run_indices = np.asarray(run_indices, dtype=np.int64)

    def draw(self, site: int, counter: int) -> np.ndarray:
        return uniform(self.keys, site, counter)
