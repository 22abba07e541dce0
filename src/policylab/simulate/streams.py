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


_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4


def _words(value: int) -> list[int]:
    """An integer as little-endian 32-bit words (0 is one word), as SeedSequence coerces it."""
    words = []
    while True:
        words.append(value & _MASK)
        value >>= 32
        if not value:
            return words


class _Hash:
    """SeedSequence's running hash constant (sequential state shared by every hashmix)."""

    def __init__(self) -> None:
        self.const = _INIT_A

    def mix(self, value):  # type: ignore[no-untyped-def]
        value = value ^ self.const
        self.const = (self.const * _MULT_A) & _MASK
        value = (value * self.const) & _MASK
        return value ^ (value >> 16)


def _combine(x, y):  # type: ignore[no-untyped-def]
    result = (_MIX_L * x - _MIX_R * y) & _MASK
    return result ^ (result >> 16)


def run_keys(seed: int, run_indices: np.ndarray) -> np.ndarray:
    """The 64-bit stream key of each run: ``SeedSequence(seed, spawn_key=(k,)).generate_state(1, uint64)``.

    Computed for all runs at once: the seed's words are mixed into the pool once, and only
    the spawn key (the last entropy word) is mixed per run, exactly as NumPy's algorithm
    does (checked bit for bit against NumPy in the tests).
    """
    indices = np.asarray(run_indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() > _MASK):
        raise ValueError("run indices must lie in [0, 2**32)")
    entropy = _words(int(seed))
    entropy += [0] * max(_POOL - len(entropy), 0)
    hasher = _Hash()
    pool = [hasher.mix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _combine(pool[dst], hasher.mix(pool[src]))
    for word in entropy[_POOL:]:
        for dst in range(_POOL):
            pool[dst] = _combine(pool[dst], hasher.mix(word))
    k = indices.astype(np.uint64)
    with np.errstate(over="ignore"):
        per_run = [_combine(np.full(k.shape, word, dtype=np.uint64), hasher.mix(k)) for word in pool]
        const = _INIT_B
        halves = []
        for i in range(2):  # generate_state(1, uint64): two 32-bit words, little-endian
            data = per_run[i % _POOL] ^ np.uint64(const)
            const = (const * _MULT_B) & _MASK
            data = (data * np.uint64(const)) & np.uint64(_MASK)
            halves.append(data ^ (data >> np.uint64(16)))
    return halves[0] | (halves[1] << np.uint64(32))


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

    def columns(self, runs: slice) -> Streams:
        """The streams of the ensemble's runs ``runs`` (a block of it): the same keys, so the same draws."""
        part = Streams.__new__(Streams)
        part.keys, part.run_indices = self.keys[runs], self.run_indices[runs]
        return part
