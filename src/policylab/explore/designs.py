"""Experimental designs: which parameter values each run of an exploration uses.

A *design* is a :class:`pandas.DataFrame` indexed by ``run`` (0, 1, …) with the
reserved columns

``sample``
    index of the uncertainty sample (the "state of the world"). It is also the
    random-stream index the run simulates with, so every policy meets the same
    sample *and* the same random draws (common random numbers).
``scenario``
    the model scenario the run uses (``""`` for the model as written).
``policy``
    a readable label of the policy: the scenario, plus lever settings from a grid.

followed by one float column per parameter (a constant or a lever, canonical name).

Uncertainties are the model's judgement parameters (``judgement: true`` with a
``range``), optionally joined by levers sampled over their ranges. Samplers:

``mc``
    plain Monte Carlo from the per-run streams, exactly the values
    ``Model.run(runs=N)`` samples; row ``k`` does not depend on ``N``.
``lhs``
    Latin hypercube (McKay, Beckman & Conover 1979), ``scipy.stats.qmc``.
``sobol``
    scrambled Sobol' sequence (Owen scrambling), ``scipy.stats.qmc``; its balance
    properties hold for powers of two, so other sizes take the first ``N`` points
    of the next power of two.

Policies are named scenarios crossed with a full-factorial grid of lever levels.
``crossed`` runs every sample under every policy (policy-major order);
``paired`` runs sample ``i`` under policy ``i`` and needs as many of each.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import qmc

from policylab.api import available_memory
from policylab.choices import Sampler  # its home: a leaf module the CLI reads before the engine loads
from policylab.expr.names import canonical
from policylab.explore.errors import DesignError
from policylab.limits import EXPLORE_RUNS
from policylab.model.guards import check_settings
from policylab.model.ir import Lever, Model
from policylab.simulate import Streams
from policylab.simulate.sampling import PARAMETER_SITE, Uncertainty, judgement_uncertainties

Combine = Literal["crossed", "paired"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
COMBINES: tuple[str, ...] = get_args(Combine)
RESERVED = ("sample", "scenario", "policy")
LEVER_SITE = PARAMETER_SITE + (1 << 20)  # MC stream sites of sampled levers, after every constant's
DEFAULT_LEVELS = 5


def model_uncertainties(model: Model, levers: bool | Sequence[str] = False,
                        only: Sequence[str] | None = None) -> tuple[Uncertainty, ...]:
    """The model's judgement parameters (sorted by name), then the chosen levers with a range.

    Parameters
    ----------
    model : the model IR (``policylab.load(path).ir``).
    levers : ``True`` (or ``["all"]``) to sample every lever that declares a range, or the names of some.
    only : restrict the judgement parameters to these names (others keep their values).
    """
    found = list(judgement_uncertainties(model))
    if only is not None:
        wanted = [canonical(n) for n in only]
        known = {u.name for u in found}
        for raw, name in zip(only, wanted):
            if name not in known:
                raise DesignError(f"{raw!r} is not a judgement parameter of {model.name}; choose from: "
                                  f"{', '.join(sorted(known)) or '(none)'}")
        found = [u for u in found if u.name in wanted]
    all_levers = {n: v for n, v in model.of_kind(Lever).items() if v.range is not None}  # type: ignore[union-attr]
    if levers is True or (not isinstance(levers, bool) and list(levers) == ["all"]):
        chosen = sorted(all_levers)
    elif levers is False:
        chosen = []
    else:
        chosen = [canonical(n) for n in levers]
        for raw, name in zip(levers, chosen):
            if name not in all_levers:
                raise DesignError(f"{raw!r} is not a lever with a range in {model.name}; choose from: "
                                  f"{', '.join(sorted(all_levers)) or '(none)'}")
    for j, name in enumerate(chosen):
        lever = all_levers[name]
        found.append(Uncertainty(name, float(lever.range[0]), float(lever.range[1]), "uniform",  # type: ignore[union-attr,index]
                                 None, "lever", LEVER_SITE + j))
    return tuple(found)


def unit_sample(n: int, d: int, sampler: Sampler, seed: int) -> np.ndarray:
    """An ``(n, d)`` sample of the unit hypercube from a quasi-random sampler (``lhs``/``sobol``)."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    if d == 0:
        return np.empty((n, 0))
    if sampler == "lhs":
        return qmc.LatinHypercube(d, rng=rng).random(n)
    if sampler == "sobol":
        m = max(0, int(np.ceil(np.log2(n))))
        return qmc.Sobol(d, scramble=True, rng=rng).random_base2(m)[:n]
    raise DesignError(f"unit_sample handles lhs and sobol, not {sampler!r}")


def sample_uncertainties(uncertainties: Sequence[Uncertainty], n: int, sampler: Sampler = "lhs",
                         seed: int = 0) -> pd.DataFrame:
    """``n`` samples of the uncertainties: a DataFrame indexed by ``sample``, one column each.

    ``mc`` draws sample ``k`` from per-run stream ``k`` (seeded by ``seed``); ``lhs`` and
    ``sobol`` use ``scipy.stats.qmc`` seeded by ``SeedSequence(seed)``.
    """
    _check_choice("sampler", sampler, SAMPLERS)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise DesignError(f"a design needs at least one sample, got {n!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DesignError(f"seed must be a non-negative whole number, got {seed!r}")
    names = [u.name for u in uncertainties]
    if len(set(names)) != len(names):
        raise DesignError(f"an uncertainty is listed twice: {names}")
    index = pd.RangeIndex(n, name="sample")
    if sampler == "mc":
        streams = Streams(int(seed), np.arange(n, dtype=np.int64)) if uncertainties else None
        columns = {u.name: u.from_unit(streams.draw(u.site, 0)) for u in uncertainties}  # type: ignore[union-attr]
    else:
        unit = unit_sample(n, len(uncertainties), sampler, seed)
        columns = {u.name: u.from_unit(unit[:, i]) for i, u in enumerate(uncertainties)}
    return pd.DataFrame(columns, index=index, dtype=float)


def lever_grid(model: Model, levels: Mapping[str, Sequence[float] | int]) -> pd.DataFrame:
    """Full-factorial grid of lever levels: one row per combination, in the order given.

    A lever given a whole number ``k`` instead of values gets ``k`` levels evenly spread
    over its declared range.
    """
    columns: dict[str, list[float]] = {}
    for raw, given in levels.items():
        name = canonical(raw)
        lever = model.variables.get(name)
        if not isinstance(lever, Lever):
            known = sorted(model.of_kind(Lever))
            raise DesignError(f"{raw!r} is not a lever of {model.name}; choose from: {', '.join(known) or '(none)'}")
        if isinstance(given, (int, np.integer)) and not isinstance(given, bool):
            if lever.range is None:
                raise DesignError(f"lever {raw!r} declares no range; give its levels explicitly, e.g. {raw}=0,0.5,1")
            if given < 2:
                raise DesignError(f"lever {raw!r}: give at least 2 levels, got {given}")
            values = list(np.linspace(lever.range[0], lever.range[1], int(given)))
        else:
            values = [float(v) for v in given]  # type: ignore[union-attr]
            if not values or not all(np.isfinite(values)):
                raise DesignError(f"lever {raw!r}: levels must be finite numbers, got {list(given)!r}")  # type: ignore[arg-type]
            check_settings(model, {name: values})  # bounds refuse; outside the range: a warning, here, once
        columns[name] = values
    rows = list(itertools.product(*columns.values()))
    return pd.DataFrame(rows, columns=list(columns), dtype=float) if columns else pd.DataFrame(index=pd.RangeIndex(1))


def make_design(samples: pd.DataFrame, scenarios: Sequence[str | None] = (None,), grid: pd.DataFrame | None = None,
                combine: Combine = "crossed") -> pd.DataFrame:
    """Combine uncertainty samples with policies (scenarios × lever grid) into a design.

    Runs are numbered policy-major for ``crossed`` (all samples of policy 0, then policy 1…),
    so each policy's samples form contiguous stream ranges.
    """
    _check_choice("combine", combine, COMBINES)
    if not scenarios:
        raise DesignError("a design needs at least one scenario (None for the model as written)")
    grid = pd.DataFrame(index=pd.RangeIndex(1)) if grid is None else grid.reset_index(drop=True)
    clash = (set(grid.columns) & set(samples.columns)) | ((set(grid.columns) | set(samples.columns)) & set(RESERVED))
    if clash:
        raise DesignError(f"parameter(s) {sorted(clash)} appear both as an uncertainty and a lever level, "
                          f"or use a reserved column name ({', '.join(RESERVED)})")
    policies = [(scenario or "", dict(row)) for scenario in scenarios for row in grid.to_dict("records")]
    n = len(samples)
    if combine == "paired" and len(policies) != n:
        raise DesignError(f"paired designs need as many policies as samples: {len(policies)} policies "
                          f"(scenarios × lever levels) but {n} samples")
    parts = []
    pairs = [(p, range(n)) for p in policies] if combine == "crossed" else [(p, [i]) for i, p in enumerate(policies)]
    for (scenario, levers), picks in pairs:
        picks = np.asarray(picks, dtype=np.int64)
        part = samples.iloc[picks].reset_index(drop=True)
        for name, value in levers.items():
            part[name] = float(value)
        part.insert(0, "policy", _policy_label(scenario, levers))
        part.insert(0, "scenario", scenario)
        part.insert(0, "sample", picks)
        parts.append(part)
    design = pd.concat(parts, ignore_index=True)
    design.index = pd.RangeIndex(len(design), name="run")
    for column in ("scenario", "policy"):
        design[column] = design[column].astype(object)
    return design


def _policy_label(scenario: str, levers: Mapping[str, float]) -> str:
    settings = ", ".join(f"{k}={v:g}" for k, v in levers.items())
    base = scenario or "as written"
    return f"{base} | {settings}" if settings else base


LHS_BYTES_PER_VALUE = 24
"""Peak bytes per sample and uncertainty while a Latin hypercube is drawn (unit cube, columns, frame);
measured by benchmarks/memory_estimate.py."""


class DesignSource:
    """A design whose rows are computed on demand, so a million-run design needs no memory.

    ``rows(start, stop)`` equals ``make_design(sample_uncertainties(...), …).iloc[start:stop]``.
    Monte Carlo rows come from the per-run streams and Sobol' rows from a fast-forwarded
    engine, both without computing the others; a Latin hypercube is stratified over all
    ``n`` samples at once, so its ``n × d`` sample is computed once and held.
    """

    def __init__(self, uncertainties: Sequence[Uncertainty], n: int, sampler: Sampler = "lhs", seed: int = 0,
                 scenarios: Sequence[str | None] = (None,), grid: pd.DataFrame | None = None,
                 combine: Combine = "crossed") -> None:
        self.uncertainties = tuple(uncertainties)
        self.n, self.sampler, self.seed = n, sampler, seed
        probe = sample_uncertainties(self.uncertainties, 1, sampler, seed)  # validates every argument
        self._template = make_design(probe, scenarios, grid, "crossed")
        self.policies = self._template[["scenario", "policy", *[c for c in self._template.columns if c not in RESERVED
                                                                 and c not in probe.columns]]].reset_index(drop=True)
        _check_choice("combine", combine, COMBINES)
        if combine == "paired" and len(self.policies) != n:
            raise DesignError(f"paired designs need as many policies as samples: {len(self.policies)} policies "
                              f"(scenarios × lever levels) but {n} samples")
        self.combine = combine
        self.columns = list(self._template.columns)
        self._check_size()
        self._held = sample_uncertainties(self.uncertainties, n, sampler, seed) if sampler == "lhs" else None

    def _check_size(self) -> None:
        """Refuse, before sampling, a design over the run limit or a Latin hypercube that would not fit in memory."""
        runs = len(self)
        if runs > EXPLORE_RUNS.value():
            raise DesignError(f"the design has {runs:,} runs ({self.n:,} samples x {len(self.policies)} policies); "
                              f"{EXPLORE_RUNS.hint()}")
        needed = self.peak_bytes
        if needed > available_memory() // 2:
            raise DesignError(f"a Latin hypercube of {self.n:,} samples of {len(self.uncertainties)} uncertainties is "
                              f"stratified all at once and needs {needed / 2**30:.1f} GiB, more than half of the "
                              "memory available; use --sampler mc or sobol (computed chunk by chunk), or fewer samples")

    def __len__(self) -> int:
        return self.n * len(self.policies) if self.combine == "crossed" else self.n

    @property
    def peak_bytes(self) -> int:
        """Memory the design itself takes at its peak: a Latin hypercube while it is drawn (others: rows on demand)."""
        return LHS_BYTES_PER_VALUE * self.n * len(self.uncertainties) if self.sampler == "lhs" else 0

    @property
    def held_bytes(self) -> int:
        """Memory the design holds while the runs are computed (a Latin hypercube's sample)."""
        return 8 * self.n * len(self.uncertainties) if self.sampler == "lhs" else 0

    def samples(self, start: int, stop: int) -> pd.DataFrame:
        """Uncertainty samples ``start`` … ``stop - 1``, indexed by ``sample``."""
        index = pd.RangeIndex(start, stop, name="sample")
        if self._held is not None:
            return self._held.iloc[start:stop]
        if self.sampler == "mc":
            streams = Streams(int(self.seed), np.arange(start, stop, dtype=np.int64)) if self.uncertainties else None
            columns = {u.name: u.from_unit(streams.draw(u.site, 0)) for u in self.uncertainties}  # type: ignore[union-attr]
        else:
            unit = _sobol_slice(len(self.uncertainties), self.seed, start, stop)
            columns = {u.name: u.from_unit(unit[:, i]) for i, u in enumerate(self.uncertainties)}
        return pd.DataFrame(columns, index=index, dtype=float)

    def rows(self, start: int, stop: int) -> pd.DataFrame:
        """Design rows ``start`` … ``stop - 1`` (run index, reserved columns, parameters)."""
        stop = min(stop, len(self))
        levers = list(self.policies.columns[2:])
        if self.combine == "paired":
            frame = self.samples(start, stop).reset_index()
            chosen = self.policies.iloc[start:stop]
            frame.insert(1, "scenario", chosen["scenario"].to_numpy())
            frame.insert(2, "policy", chosen["policy"].to_numpy())
            for name in levers:
                frame[name] = chosen[name].to_numpy(dtype=float)
            frame.index = pd.RangeIndex(start, stop, name="run")
            parts = [frame]
        else:
            parts = []
            run = start
            while run < stop:
                policy, first = divmod(run, self.n)
                part = self.samples(first, min(self.n, first + (stop - run))).reset_index()
                settings = self.policies.iloc[policy]
                part.insert(1, "scenario", settings["scenario"])
                part.insert(2, "policy", settings["policy"])
                for name in levers:
                    part[name] = float(settings[name])
                part.index = pd.RangeIndex(run, run + len(part), name="run")
                parts.append(part)
                run += len(part)
        frame = pd.concat(parts) if parts else self._template.iloc[:0]
        for column in ("scenario", "policy"):
            frame[column] = frame[column].astype(object)
        return frame[self.columns]

    def frame(self) -> pd.DataFrame:
        """The whole design as one DataFrame."""
        return self.rows(0, len(self))

    def fingerprint(self, edge: int = 1024) -> str:
        """A digest of the design's size, columns and first and last rows, cheap for any size."""
        digest = hashlib.sha256(f"{len(self)}|".encode())
        digest.update(design_hash(self.rows(0, edge)).encode())
        digest.update(design_hash(self.rows(max(0, len(self) - edge), len(self))).encode())
        return digest.hexdigest()


def _sobol_slice(d: int, seed: int, start: int, stop: int) -> np.ndarray:
    """Points ``start`` … ``stop - 1`` of the scrambled Sobol' sequence that ``unit_sample`` draws from."""
    if d == 0 or stop <= start:
        return np.empty((max(0, stop - start), d))
    engine = qmc.Sobol(d, scramble=True, rng=np.random.default_rng(np.random.SeedSequence(int(seed))))
    if start > 0:
        engine.fast_forward(start)
    with warnings.catch_warnings():  # balance holds for the whole power-of-two design, not for each slice
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(stop - start)


def parameter_columns(design: pd.DataFrame) -> list[str]:
    """The design's parameter columns (everything but ``sample``, ``scenario``, ``policy``)."""
    return [c for c in design.columns if c not in RESERVED]


def design_hash(design: pd.DataFrame) -> str:
    """A digest of the design's values, to check that a resumed run rebuilds the same design."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, design.columns)).encode())
    digest.update(pd.util.hash_pandas_object(design, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DesignError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
