"""The compiled backend's kernels: a fixed interpreter of the opcode tape, compiled once by numba.

Nothing here is generated from a model. :func:`policylab.compile.opcodes.lower` turns
the bound plan into arrays (instructions, constants, lookup tables, lever and event
tables); the functions below are ordinary, ahead-of-time-written numba code that loops
over blocks of runs, steps and instructions. ``cache=True`` stores their machine code in
the user's cache folder (``platformdirs.user_cache_dir("policylab")/numba``, or
``NUMBA_CACHE_DIR`` when set; never the package folder, which may be read-only), so
compilation happens once per installation, not per model or call. A file lock there makes
processes that start at the same time compile it once: the first compiles, the others
wait and load its result.

This module holds only numba code (and what it needs at import); the Python that drives it is
``policylab.simulate.numba_backend``. numba's cache is invalidated by any change to the file that
defines a kernel, so keeping the driver apart means an edit to the driver costs no recompile.

Memory layout
-------------
Runs are processed in blocks of at most :data:`BLOCK` runs (fewer when a smaller ensemble
would otherwise leave a thread idle; the last block may be shorter). A block owns a
register file ``registers[block]`` of shape ``(n_registers, width)``: every instruction
loops over the block's runs, so the dispatch of an instruction is paid once per block,
and the inner loops run over contiguous float64. Blocks are independent and run in
parallel (``prange``) when there are several; saved values are written straight into the
``(variables, saved times, runs)`` output. The hot instructions address the register file
as one flat array with unsigned offsets, and lookup tables with unsigned positions: a
signed index makes every access test for NumPy's negative-index wrap-around, which cost
a third of a single run and half of a lookup. For a single run (a block of one) the step
loop interprets the common instructions itself (``_steps_block``), in its own body: numba
reference-counts every array an inlined function (``inline="always"``) takes, per call, with
atomic instructions its pruning pass cannot remove from a function this large. Inlining the
instruction loop (``_exec``) per section took 20 such pairs per section and eight more per
lookup or comparison, 40-55 % of a small model's single run (teacup, rivals). The other
instructions go to small compiled functions (``_logic``, ``_math``, ``_lookup_fast``, whose
counts the pass removes) or to ``_exec_call``. Blocks of many runs call the instruction loop
compiled on its own (``_exec_call``), where it optimises best and one call's reference counts
are spread over the block; so do the start values, RK4's later stages and the diagnosis of a
failed step.

Random numbers reproduce :func:`policylab.simulate.streams.uniform` bit for bit with the
same uint64 arithmetic; normal and lognormal draws call SciPy's own ``ndtri``, and
Poisson draws SciPy's ``pdtrik``/``pdtr`` exactly as ``scipy.stats.poisson.ppf`` does (below
``POISSON_NORMAL_FROM``; from there both engines take the same normal approximation),
through the C entry points SciPy exports (``scipy.special.cython_special``), so the
compiled backend draws the same numbers as the NumPy one.

Importing this module registers those SciPy entry points with LLVM (needed before the
cached machine code is loaded); it is imported only when the backend is selected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np
import platformdirs
from llvmlite import binding as llvm
from numba import njit, prange, types
from numba.extending import get_cython_function_address

from policylab.compile.opcodes import Extrapolation, Op, Search
from policylab.expr.builtins import POISSON_NORMAL_FROM, TIME_TOLERANCE, ZERO_MARGIN as _ZERO_MARGIN

# before numba starts its OpenMP thread pool (on the first parallel kernel): idle pool threads sleep, not spin
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def cache_folder() -> Path:
    """Where numba keeps the compiled interpreter: ``NUMBA_CACHE_DIR`` when set, else the user's cache folder."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or Path(platformdirs.user_cache_dir("policylab")) / "numba")


# numba picks a function's cache folder when it is decorated: point it at ours for this module's kernels only
_CACHE_DIR_BEFORE = numba.config.CACHE_DIR
numba.config.CACHE_DIR = str(cache_folder())



def _scipy_function(name: str, capi: str, arity: int) -> types.ExternalFunction:
    address = get_cython_function_address("scipy.special.cython_special", capi)
    symbol = f"policylab_scipy_{name}"
    llvm.add_symbol(symbol, address)
    return types.ExternalFunction(symbol, types.float64(*([types.float64] * arity), types.intc))


_ndtri = _scipy_function("ndtri", "ndtri", 1)
_pdtr = _scipy_function("pdtr", "pdtr", 2)
_pdtrik = _scipy_function("pdtrik", "__pyx_fuse_0pdtrik", 2)

# opcodes as plain integers (numba freezes module-level ints into the machine code)
MOV, ADD, SUB, MUL, DIV, NEG, POW, MOD = (int(Op[n]) for n in ("MOV", "ADD", "SUB", "MUL", "DIV", "NEG", "POW", "MOD"))
LT, LE, GT, GE, EQ, NE, AND, OR, NOT = (int(Op[n]) for n in ("LT", "LE", "GT", "GE", "EQ", "NE", "AND", "OR", "NOT"))
SELECT, SELECT0, MIN, MAX, CLIP0, ABS = (int(Op[n]) for n in ("SELECT", "SELECT0", "MIN", "MAX", "CLIP0", "ABS"))
EXP, LN, LOG10, SQRT, SIN, COS, TAN = (int(Op[n]) for n in ("EXP", "LN", "LOG10", "SQRT", "SIN", "COS", "TAN"))
ASIN, ACOS, ATAN, FLOOR, ROUND, TRUNC, FMOD, XIDZ = (
    int(Op[n]) for n in ("ASIN", "ACOS", "ATAN", "FLOOR", "ROUND", "TRUNC", "FMOD", "XIDZ"))
STEP, PULSE, RAMP, PULSE_TRAIN, LOOKUP = (int(Op[n]) for n in ("STEP", "PULSE", "RAMP", "PULSE_TRAIN", "LOOKUP"))
UNIFORM, NORMAL, LOGNORMAL, POISSON, EXPONENTIAL = (
    int(Op[n]) for n in ("UNIFORM", "NORMAL", "LOGNORMAL", "POISSON", "EXPONENTIAL"))
LEVER, EVENT, SIGN, SUM = int(Op.LEVER), int(Op.EVENT), int(Op.SIGN), int(Op.SUM)
LINEAR, DISCRETE = int(Extrapolation.LINEAR), int(Extrapolation.DISCRETE)
GENERIC, GRID = int(Search.GENERIC), int(Search.GRID)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SITE_MULT = np.uint64(0x100000001B3)
_STEP_MULT = np.uint64(0x9E3779B1)
_ONE = np.uint64(1)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_SCALE = 2.0**-53
_CDF_MARGIN = 1e-10  # how far a summed Poisson CDF may be from SciPy's pdtr (measured: under 1e-13 for mean < 50)

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}

# per-block diagnosis record (int64): three findings of (index, lane, is_nan), then a NaN delay (pipe, lane)
D_START, D_LAST, D_STOCK, D_DELAY = 0, 3, 6, 9
D_SIZE = 11


# ---------------------------------------------------------------------------------------
# element functions (numba compiles and inlines them into the interpreter)


@njit(**_JIT)
def _mix(x):  # type: ignore[no-untyped-def]
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(**_JIT)
def _offset(site, counter):  # type: ignore[no-untyped-def]
    return np.uint64(site) * _SITE_MULT + np.uint64(counter) * _STEP_MULT + _ONE


@njit(**_JIT)
def _uniform(key, offset):  # type: ignore[no-untyped-def]
    key, offset = np.uint64(key), np.uint64(offset)  # mixed signed/unsigned arithmetic would go through float64
    x = _mix(key + offset * _GOLDEN)
    x = _mix(x ^ offset)
    return (np.float64(x >> _S11) + 0.5) * _SCALE


@njit(**_JIT)
def _npmod(a, b):  # type: ignore[no-untyped-def]
    """``numpy.mod`` (``npy_divmod``): the remainder takes the sign of the divisor."""
    mod = np.fmod(a, b)
    if b == 0.0:
        return mod
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            mod += b
    else:
        mod = 0.0 if b >= 0.0 or np.isnan(b) else -0.0
    return mod


@njit(**_JIT)
def _nmin(a, b):  # type: ignore[no-untyped-def]
    """numpy.minimum (a NaN wins; of equal values the second, so ``minimum(0.0, -0.0)`` is -0.0); ``|``, not
    ``or``: no branch, so loops over runs vectorise."""
    return a if (a < b) | (a != a) else b


@njit(**_JIT)
def _nmax(a, b):  # type: ignore[no-untyped-def]
    """numpy.maximum (a NaN wins; of equal values the second), without a branch as ``_nmin``."""
    return a if (a > b) | (a != a) else b


@njit(**_JIT)
def _sign(x):  # type: ignore[no-untyped-def]
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x if np.isnan(x) else 0.0


@njit(**_JIT)
def _poisson_ppf_scipy(q, mu):  # type: ignore[no-untyped-def]
    """``scipy.stats.poisson.ppf(q, mu)`` for 0 < q < 1, mu > 0: SciPy's own steps and functions."""
    vals = np.ceil(_pdtrik(q, mu, 0))
    vals1 = _nmax(vals - 1.0, 0.0)
    temp = _pdtr(vals1, mu, 0)
    return (vals1 if temp >= q else vals) + 0.0


@njit(**_JIT)
def _poisson_ppf(q, mu):  # type: ignore[no-untyped-def]
    """``scipy.stats.poisson.ppf(q, mu)``, found by an integer search over SciPy's CDF ``pdtr``.

    SciPy inverts the CDF with a root finder (``pdtrik``, microseconds per call) and keeps
    ``ceil(k)`` or the integer below it, whichever is the smallest with CDF >= q; that is the
    smallest such integer k* unless the root finder lands below k* - 1, which can happen only
    when q is within its tolerance of CDF(k* - 1). The search finds k* with two or three
    ``pdtr`` calls from a cheap guess; in that narrow band (and for extreme means) it defers to
    SciPy's own steps, so the result is always SciPy's.
    """
    if mu >= POISSON_NORMAL_FROM:  # as expr.builtins.poisson_normal: the search would take ever longer
        z = _ndtri(q, 0)
        return _nmax(np.ceil(mu + np.sqrt(mu) * z + (z * z - 1.0) / 6.0 - 0.5), 0.0)
    if not mu > 1e-10:
        return _poisson_ppf_scipy(q, mu)
    if mu < 50.0:  # the guess: sum the probabilities in floating point
        p = np.exp(-mu)
        cdf, below = p, -1.0
        k = 0
        while cdf < q and k < 400:
            k += 1
            p *= mu / k
            below = cdf
            cdf += p
        # the sums are within 1e-12 of SciPy's CDF here; clear of both by a margin, they decide alone
        if k < 400 and cdf - q > _CDF_MARGIN and q - below > _CDF_MARGIN + 1e-6 * k:
            return float(k)
    else:  # the guess: a Cornish-Fisher expansion of the normal approximation
        z = _ndtri(q, 0)
        k = max(int(np.floor(mu + np.sqrt(mu) * z + (z * z - 1.0) / 6.0 + 0.5)), 0)
    tries = 0
    while _pdtr(float(k), mu, 0) < q:
        k += 1
        tries += 1
        if tries > 64:
            return _poisson_ppf_scipy(q, mu)
    below = _pdtr(float(k - 1), mu, 0) if k > 0 else -1.0
    while below >= q:
        k -= 1
        below = _pdtr(float(k - 1), mu, 0) if k > 0 else -1.0
        tries += 1
        if tries > 64:
            return _poisson_ppf_scipy(q, mu)
    if k > 0 and q - below <= 1e-6 * k:  # where SciPy's root finder might land one below
        return _poisson_ppf_scipy(q, mu)
    return float(k)


@njit(**_JIT)
def _search(xs, off, n, x, grid, x0, inv_h):  # type: ignore[no-untyped-def]
    """The largest j with xs[j] <= x (-1 if none): ``numpy.interp``'s interval, found from a grid guess."""
    if grid == GRID:
        g = (x - x0) * inv_h
        j = int(g) if g < n else n - 1
        if j < 0:
            j = 0
        while j + 1 < n and xs[off + j + 1] <= x:
            j += 1
        while j >= 0 and xs[off + j] > x:
            j -= 1
        return j
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if x >= xs[off + mid]:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


@njit(**_JIT)
def _lookup(x, k, index, data, params):  # type: ignore[no-untyped-def]
    """A graphical function at ``x``, as ``compile.lookups.lookup_function`` computes it with NumPy."""
    off, n, kind, grid = index[k, 0], index[k, 1], index[k, 2], index[k, 3]
    ys, sl = off + n + 1, off + 2 * n + 1
    if kind == DISCRETE:
        if np.isnan(x):
            return data[ys + n - 1]
        j = _search(data, off, n, x, grid, params[k, 2], params[k, 3])
        return data[ys + (j if j > 0 else 0)]
    if n == 1:
        y = data[ys]
    elif np.isnan(x):
        y = x
    elif x > data[off + n - 1]:
        y = data[ys + n - 1]
    elif x < data[off]:
        y = data[ys]
    else:
        j = _search(data, off, n, x, grid, params[k, 2], params[k, 3])
        if j == n - 1 or data[off + j] == x:
            y = data[ys + j]
        else:
            slope = data[sl + j]
            y = slope * (x - data[off + j]) + data[ys + j]
            if np.isnan(y):
                y = slope * (x - data[off + j + 1]) + data[ys + j + 1]
                if np.isnan(y) and data[ys + j] == data[ys + j + 1]:
                    y = data[ys + j]
    if kind == LINEAR:
        y = y + _nmin(x - data[off], 0.0) * params[k, 0] + _nmax(x - data[off + n - 1], 0.0) * params[k, 1]
    return y


@njit(**_JIT)
def _lookup_fast(R, o, a, k, nb, index, data, params):  # type: ignore[no-untyped-def]
    """``_lookup_lanes`` as a call: the block loop calls it (inlined there, ensembles ran 13 % slower)."""
    _lookup_lanes(R, o, a, k, nb, index, data, params)


@njit(inline="always", **_JIT)
def _lookup_lanes(R, o, a, k, nb, index, data, params):  # type: ignore[no-untyped-def]
    """``_lookup`` for a table with finite values and slopes, without data-dependent branches.

    Lookup arguments differ from run to run, so a branch on them would be mispredicted;
    comparisons are turned into integers instead. The interval of each run: on a
    near-uniform grid a guess within one point of ``numpy.interp``'s interval, corrected one
    step down and one step up; otherwise a branch-free binary search that counts the points
    at or below ``x``. Then the value: at a point the slope term is an exact zero; outside
    the table and for NaN the selects give what ``numpy.interp`` gives. Table positions are
    unsigned, so no access pays for NumPy's negative-index wrap-around.
    """
    off, n, kind = np.uint64(index[k, 0]), np.uint64(index[k, 1]), index[k, 2]
    one, zero = np.uint64(1), np.uint64(0)
    ys, sl = off + n + one, off + np.uint64(2) * n + one
    x0, inv_h, last = params[k, 2], params[k, 3], data[off + n - one]
    y0, y_last = data[ys], data[ys + n - one]
    lo, hi = (params[k, 0], params[k, 1]) if kind == LINEAR else (0.0, 0.0)
    grid = index[k, 3] == GRID
    top = (n - 2.0 if kind != DISCRETE else n - 1.0) if grid else 0.0
    for r in range(nb):  # ``o`` may be ``a``: read x before writing
        x = R[a, r]
        if grid:
            g = (x - x0) * inv_h
            g = g if g >= 0.0 else 0.0  # also NaN
            g = g if g <= top else top
            j = np.uint64(g)
            j = j - np.uint64(data[off + j] > x) if j > zero else j
            j += np.uint64(data[off + j + one] <= x)  # data[off + n] is +inf
        else:
            base, length = off, n
            while length > one:
                half = length >> one
                base += half * np.uint64(data[base + half] <= x)
                length -= half
            j = base - off + np.uint64(data[base] <= x)
            j = j - one if j > zero else j
        if kind == DISCRETE:
            y = data[ys + (j if j < n else n - one)]
            R[o, r] = y_last if np.isnan(x) else y
            continue
        y = data[sl + j] * (x - data[off + j]) + data[ys + j]
        y = y_last if x >= last else y
        y = y0 if x < x0 else y
        y = x if np.isnan(x) else y
        if kind == LINEAR:
            y = y + _nmin(x - x0, 0.0) * lo + _nmax(x - last, 0.0) * hi
        R[o, r] = y


# ---------------------------------------------------------------------------------------
# the interpreter


@njit(inline="always", **_JIT)
def _exec(code, lo, hi, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events,  # type: ignore[no-untyped-def]
          t_index, t_data, t_params):
    """Run instructions ``lo:hi`` over the ``nb`` runs of register file ``R`` at time ``t``: each
    instruction is a loop over the block's runs (vectorised by LLVM where it can).

    Registers are indexed as ``R[register, run]`` throughout: taking a row view would cost a
    reference-count update per instruction, which dominates a single run. A single run takes
    a path of its own for the common instructions, without the vector loop's set-up.
    """
    F = R.reshape(-1)
    w = np.uint64(R.shape[1])
    for pc in range(lo, hi):
        op, o, a, b = code[pc, 0], code[pc, 1], code[pc, 2], code[pc, 3]
        if code[pc, 6] != 1 or op == SUM:  # a block of elements, or a reduction: compiled on its own
            _exec_block(code, pc, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events, t_index, t_data,
                        t_params)
            continue
        if nb == 1 and op <= DIV:  # MOV, ADD, SUB, MUL, DIV for one run: no vector loop to set up
            fo, fa, fb = np.uint64(o) * w, np.uint64(a) * w, np.uint64(b) * w
            if op == MUL:
                F[fo] = F[fa] * F[fb]
            elif op == ADD:
                F[fo] = F[fa] + F[fb]
            elif op == SUB:
                F[fo] = F[fa] - F[fb]
            elif op == DIV:
                F[fo] = F[fa] / F[fb]
            else:
                F[fo] = F[fa]
            continue
        if op <= DIV or op == MIN or op == MAX:  # the common instructions: a function of one array (``_binary_runs``)
            _binary_runs(op, F, np.uint64(o) * w, np.uint64(a) * w, np.uint64(max(b, 0)) * w, nb)
            continue
        _exec_one(op, o, a, b, code[pc, 4], code[pc, 5], F, w, R, nb, t, dt, step, stage, keys, lever_path, lever_flag,
                  events, t_index, t_data, t_params)


@njit(inline="always", **_JIT)
def _binary_runs(op, F, fo, fa, fb, nb):  # type: ignore[no-untyped-def]
    """MOV, ADD, SUB, MUL, DIV, MIN or MAX over ``nb`` runs of the flat register file ``F``. Inlined at numba's IR
    level, a function costs two atomic reference counts per array argument per call, and ``_exec_one`` takes
    nine: a flagship block's fixed cost was 110 ns an instruction (81 ms a 24-run block), so the common
    instructions take this function of one array instead."""
    if op == MUL:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fa + u] * F[fb + u]
    elif op == ADD:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fa + u] + F[fb + u]
    elif op == SUB:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fa + u] - F[fb + u]
    elif op == DIV:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fa + u] / F[fb + u]
    elif op == MIN:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = _nmin(F[fa + u], F[fb + u])
    elif op == MAX:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = _nmax(F[fa + u], F[fb + u])
    else:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fa + u]


@njit(**_JIT)
def _exec_block(code, pc, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events,  # type: ignore[no-untyped-def]
                t_index, t_data, t_params):
    """Instruction ``pc`` over its ``count`` elements: operand column k advances with the element when bit
    k - 2 of the stride mask is set. An element count below one (``supports`` refuses such tapes) writes
    NaN: never a silent no-op."""
    F = R.reshape(-1)
    w = np.uint64(R.shape[1])
    op, n, mask = code[pc, 0], code[pc, 6], code[pc, 7]
    sa, sb, sc, sd = mask & 1, (mask >> 1) & 1, (mask >> 2) & 1, (mask >> 3) & 1
    if n < 1 or mask & ~15:
        for r in range(nb):
            R[code[pc, 1], r] = np.nan
        return
    if op == SUM:  # a reduction over a block (its stride is 1: ``supports``), added in ``opcodes.pairwise``'s order
        _pairwise_sum(R, code[pc, 1], code[pc, 2], n, nb)
        return
    if nb == 1 and op <= DIV:  # one run: a tight loop over the elements
        fo, fa, fb = np.uint64(code[pc, 1]) * w, np.uint64(code[pc, 2]) * w, np.uint64(code[pc, 3]) * w
        ua, ub = np.uint64(sa) * w, np.uint64(sb) * w
        for e in range(n):
            if op == MUL:
                F[fo] = F[fa] * F[fb]
            elif op == ADD:
                F[fo] = F[fa] + F[fb]
            elif op == SUB:
                F[fo] = F[fa] - F[fb]
            elif op == DIV:
                F[fo] = F[fa] / F[fb]
            else:
                F[fo] = F[fa]
            fo += w
            fa += ua
            fb += ub
        return
    if op <= DIV:  # many runs: the operation chosen once for the block, not per element
        _arithmetic_block(op, F, w, nb, code[pc, 1], code[pc, 2], code[pc, 3], n, sa, sb)
        return
    if op == MIN or op == MAX:
        fo, fa, fb = np.uint64(code[pc, 1]) * w, np.uint64(code[pc, 2]) * w, np.uint64(code[pc, 3]) * w
        for _e in range(n):
            _binary_runs(op, F, fo, fa, fb, nb)
            fo, fa, fb = fo + w, fa + np.uint64(sa) * w, fb + np.uint64(sb) * w
        return
    for e in range(n):
        o, a, b = code[pc, 1] + e, code[pc, 2] + e * sa, code[pc, 3] + e * sb
        c, d = code[pc, 4] + e * sc, code[pc, 5] + e * sd
        _exec_one(op, o, a, b, c, d, F, w, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events,
                  t_index, t_data, t_params)


@njit(**_JIT)
def _pairwise_sum(R, o, a, n, nb):  # type: ignore[no-untyped-def]
    """``R[o] = R[a] + ... + R[a + n - 1]`` over ``nb`` runs in ``opcodes.pairwise``'s order: halving, the first half
    of the rows still to add each taking one of the last half (the middle row of an odd count waits)."""
    h = n // 2
    if h == 0:
        for r in range(nb):
            R[o, r] = R[a, r]
        return
    buf = np.empty((n - h, nb))
    for e in range(h):
        for r in range(nb):
            buf[e, r] = R[a + e, r] + R[a + n - h + e, r]
    if n - h > h:
        for r in range(nb):
            buf[h, r] = R[a + h, r]
    m = n - h
    while m > 1:
        h = m // 2
        for e in range(h):
            for r in range(nb):
                buf[e, r] += buf[m - h + e, r]
        m -= h
    for r in range(nb):
        R[o, r] = buf[0, r]


@njit(**_JIT)
def _arithmetic_block(op, F, w, nb, o, a, b, n, sa, sb):  # type: ignore[no-untyped-def]
    """MOV, ADD, SUB, MUL or DIV over ``n`` elements x ``nb`` runs, element by element as ``_exec_one``
    does, with the operation chosen once: narrow blocks (``block_width``) have few runs per element,
    where choosing it per element cost more than the arithmetic. Operands whose every element is read
    (a full block) are one contiguous span: one loop over elements x runs."""
    fo, fa, fb = np.uint64(o) * w, np.uint64(a) * w, np.uint64(max(b, 0)) * w
    if np.uint64(nb) == w and sa == 1 and (sb == 1 or op == MOV):
        _binary_runs(op, F, fo, fa, fb, n * nb)  # the block's registers x runs as one span of values
        return
    ua, ub = np.uint64(sa) * w, np.uint64(sb) * w
    if op == MUL:
        for _e in range(n):
            for r in range(nb):
                u = np.uint64(r)
                F[fo + u] = F[fa + u] * F[fb + u]
            fo, fa, fb = fo + w, fa + ua, fb + ub
    elif op == ADD:
        for _e in range(n):
            for r in range(nb):
                u = np.uint64(r)
                F[fo + u] = F[fa + u] + F[fb + u]
            fo, fa, fb = fo + w, fa + ua, fb + ub
    elif op == SUB:
        for _e in range(n):
            for r in range(nb):
                u = np.uint64(r)
                F[fo + u] = F[fa + u] - F[fb + u]
            fo, fa, fb = fo + w, fa + ua, fb + ub
    elif op == DIV:
        for _e in range(n):
            for r in range(nb):
                u = np.uint64(r)
                F[fo + u] = F[fa + u] / F[fb + u]
            fo, fa, fb = fo + w, fa + ua, fb + ub
    else:
        for _e in range(n):
            for r in range(nb):
                u = np.uint64(r)
                F[fo + u] = F[fa + u]
            fo, fa = fo + w, fa + ua


@njit(inline="always", **_JIT)
def _exec_one(op, o, a, b, c, d, F, w, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events,  # type: ignore[no-untyped-def]
              t_index, t_data, t_params):
    """One element of one instruction over the block's runs (the less common instructions: the common ones take
    ``_binary_runs``, which costs no reference counts)."""
    fo, fa, fb = np.uint64(o) * w, np.uint64(a) * w, np.uint64(b) * w
    if op <= DIV or op == MIN or op == MAX:
        _binary_runs(op, F, fo, fa, np.uint64(max(b, 0)) * w, nb)
    elif op == LOOKUP:
        if t_index[b, 3] != GENERIC and nb == 1:
            _lookup_lanes(R, o, a, b, 1, t_index, t_data, t_params)
        elif t_index[b, 3] != GENERIC:
            _lookup_fast(R, o, a, b, nb, t_index, t_data, t_params)
        else:
            for r in range(nb):
                R[o, r] = _lookup(R[a, r], b, t_index, t_data, t_params)
    elif op == XIDZ:
        fc = np.uint64(c) * w
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fc + u] if F[fb + u] == 0.0 else F[fa + u] / F[fb + u]
    elif op == SELECT:
        fc = np.uint64(c) * w
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = F[fb + u] if F[fa + u] != 0.0 else F[fc + u]
    elif op == SELECT0:
        fc = np.uint64(c) * w
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = (F[fb + u] if F[fa + u] != 0.0 else F[fc + u]) + 0.0
    elif op == NEG:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = -F[fa + u]
    elif op == CLIP0:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = _nmax(F[fa + u], 0.0)
    elif op == EVENT:
        value = events[step, a]
        for r in range(nb):
            F[fo + np.uint64(r)] = value
    elif op == LEVER:
        if b >= 0 and lever_flag[step, stage, a]:
            for r in range(nb):
                u = np.uint64(r)
                F[fo + u] = F[fb + u]
        else:
            value = lever_path[step, stage, a]
            for r in range(nb):
                F[fo + np.uint64(r)] = value
    elif op >= LT and op <= NOT:
        _logic(op, F, fo, fa, fb if op != NOT else fa, nb)
    elif op >= ABS and op <= FMOD or op == POW or op == MOD:
        _math(op, R, o, a, b if b >= 0 else a, nb)
    elif op >= STEP and op <= PULSE_TRAIN:
        _time_function(op, R, o, a, b, c, d, nb, t, dt)
    elif op >= UNIFORM and op <= EXPONENTIAL:
        _draw(op, R, o, a, b, _offset(c, step), keys, nb)
    elif op == SIGN:
        for r in range(nb):
            R[o, r] = _sign(R[a, r]) + 0.0
    else:  # an opcode this interpreter does not know (``supports`` refuses such tapes): never a silent no-op
        for r in range(nb):
            R[o, r] = np.nan


@njit(**_JIT)
def _exec_call(code, lo, hi, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events,  # type: ignore[no-untyped-def]
               t_index, t_data, t_params):
    """``_exec`` as a call, for blocks of many runs: compiled on its own, the block loops
    optimise as well as they can (inlined into the step loop they ran a few per cent slower),
    and one call's overhead is spread over the block."""
    _exec(code, lo, hi, R, nb, t, dt, step, stage, keys, lever_path, lever_flag, events, t_index, t_data, t_params)


@njit(**_JIT)
def _logic(op, F, fo, fa, fb, nb):  # type: ignore[no-untyped-def]
    """A comparison or logical operation over the block's runs at flat unsigned offsets (1.0 or 0.0), the
    operation chosen once per instruction: a loop testing it per run did not vectorise."""
    if op == LT:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] < F[fb + u] else 0.0
    elif op == LE:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] <= F[fb + u] else 0.0
    elif op == GT:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] > F[fb + u] else 0.0
    elif op == GE:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] >= F[fb + u] else 0.0
    elif op == EQ:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] == F[fb + u] else 0.0
    elif op == NE:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] != F[fb + u] else 0.0
    elif op == AND:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] != 0.0 and F[fb + u] != 0.0 else 0.0
    elif op == OR:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] != 0.0 or F[fb + u] != 0.0 else 0.0
    else:
        for r in range(nb):
            u = np.uint64(r)
            F[fo + u] = 1.0 if F[fa + u] == 0.0 else 0.0


@njit(**_JIT)
def _math(op, R, o, a, b, nb):  # type: ignore[no-untyped-def]
    for r in range(nb):
        x = R[a, r]
        if op == ABS:
            v = np.abs(x)
        elif op == EXP:
            v = np.exp(x)
        elif op == LN:
            v = np.log(x)
        elif op == LOG10:
            v = np.log10(x)
        elif op == SQRT:
            v = np.sqrt(x)
        elif op == SIN:
            v = np.sin(x)
        elif op == COS:
            v = np.cos(x)
        elif op == TAN:
            v = np.tan(x)
        elif op == ASIN:
            v = np.arcsin(x)
        elif op == ACOS:
            v = np.arccos(x)
        elif op == ATAN:
            v = np.arctan(x)
        elif op == FLOOR:
            v = np.floor(x)
        elif op == ROUND:
            v = _sign(x) * np.floor(np.abs(x) + 0.5)
        elif op == TRUNC:
            v = np.trunc(x)
        elif op == FMOD:
            v = np.fmod(x, R[b, r])
        elif op == POW:
            v = x ** R[b, r]
        else:  # MOD
            v = _npmod(x, R[b, r])
        R[o, r] = v


@njit(**_JIT)
def _same_in_every_run(R, x, nb):  # type: ignore[no-untyped-def]
    """Whether register ``x`` holds one value in all ``nb`` runs (a NaN never counts as the same)."""
    first = R[x, 0]
    for r in range(1, nb):
        if R[x, r] != first:
            return False
    return first == first


@njit(**_JIT)
def _time_function(op, R, o, a, b, c, d, nb, t, dt):  # type: ignore[no-untyped-def]
    """STEP, PULSE, RAMP and PULSE_TRAIN with the comparisons of ``expr.builtins``.

    Where every operand it reads is the same in all runs (a PULSE or STEP of constants, the common case in
    published models), it is computed once and copied: the same value each run would compute, without a
    modulo per run (20 PULSEs were most of a 10,000-run ensemble of the flagship's XMILE export)."""
    uniform = nb > 1 and _same_in_every_run(R, a, nb) and _same_in_every_run(R, b, nb) and (
        op == STEP or _same_in_every_run(R, c, nb)) and (op != PULSE_TRAIN or _same_in_every_run(R, d, nb))
    tol = TIME_TOLERANCE * dt
    half = dt / 2
    for r in range(1 if uniform else nb):
        if op == STEP:  # (height, start)
            R[o, r] = (R[a, r] if t >= R[b, r] - tol else 0.0) + 0.0
        elif op == PULSE:  # (volume, first, interval)
            interval = R[c, r]
            since = t - R[b, r]
            safe = interval if interval > 0 else 1.0
            on_train = _npmod(since + half, safe) < dt
            single = np.abs(since) < half
            on = since > -dt / 2 and (on_train if interval > 0 else single)
            R[o, r] = (R[a, r] / dt if on else 0.0) + 0.0
        elif op == RAMP:  # (slope, start, end)
            clipped = _nmin(t, R[c, r])
            R[o, r] = (R[a, r] * (clipped - R[b, r]) if t > R[b, r] else 0.0) + 0.0
        else:  # PULSE_TRAIN (start, width, interval, end)
            interval = R[c, r]
            since = t - R[a, r]
            phase = _npmod(since, interval if interval > 0 else np.inf)
            on = since >= -tol and t <= R[d, r] + tol and phase < R[b, r]
            R[o, r] = 1.0 if on else 0.0
    if uniform:
        value = R[o, 0]
        for r in range(1, nb):
            R[o, r] = value


@njit(**_JIT)
def _draw(op, R, o, a, b, offset, keys, nb):  # type: ignore[no-untyped-def]
    """Random draws from each run's stream, transformed as ``expr.builtins`` does."""
    if op == POISSON and o != a:  # its own loops: most draws of a rare event settle at 0 with one comparison
        for r in range(nb):  # without a branch (vectorised): 0 where that settles it, else -1 (a count is never < 0)
            u = _uniform(keys[r], offset)
            mean = _nmax(R[a, r], 0.0)
            # a zero (or NaN) mean draws nothing; 1 - mean <= exp(-mean) = P(K = 0): below it the quantile is 0
            R[o, r] = 0.0 if (not mean > 0.0) | (u < 1.0 - mean - _ZERO_MARGIN) else -1.0
        for r in range(nb):
            if R[o, r] < 0.0:  # the rest: the same draw, its quantile searched (the mean is still in ``a``)
                R[o, r] = _poisson_ppf(_uniform(keys[r], offset), _nmax(R[a, r], 0.0))
        return
    if op == POISSON:  # writing over its mean: one loop, each run's mean read before its count is written
        for r in range(nb):
            u = _uniform(keys[r], offset)
            mean = _nmax(R[a, r], 0.0)
            if not mean > 0.0 or u < 1.0 - mean - _ZERO_MARGIN:
                R[o, r] = 0.0
            else:
                R[o, r] = _poisson_ppf(u, mean)
        return
    for r in range(nb):
        u = _uniform(keys[r], offset)
        if op == UNIFORM:
            low = R[a, r]
            R[o, r] = low + (R[b, r] - low) * u
        elif op == NORMAL:
            R[o, r] = R[a, r] + R[b, r] * _ndtri(u, 0)
        elif op == LOGNORMAL:
            mean = R[a, r]
            sd = R[b, r]
            sigma2 = np.log1p(sd * sd / (mean * mean))
            mu = np.log(mean) - sigma2 / 2
            R[o, r] = np.exp(mu + np.sqrt(sigma2) * _ndtri(u, 0))
        else:  # EXPONENTIAL
            R[o, r] = -R[a, r] * np.log1p(-u)


# ---------------------------------------------------------------------------------------
# blocks of runs


@njit(**_JIT)
def _first_bad(R, regs, nb, out, at):  # type: ignore[no-untyped-def]
    """Record in ``out[at:at+3]`` the first register of ``regs`` with a non-finite run: (index, lane, is_nan)."""
    for i in range(regs.shape[0]):
        row = R[regs[i]]
        for r in range(nb):
            if not np.isfinite(row[r]):
                out[at], out[at + 1], out[at + 2] = i, r, 1 if np.isnan(row[r]) else 0
                return True
    return False


@njit(**_JIT)
def _init_block(b, code, sections, R, nb, r0, dt, n_steps, keys, scalar_regs, scalar_values, run_regs,  # type: ignore[no-untyped-def]
                run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes,
                pipe_steps, pipe_start, stock_regs, rate_regs, diag):
    """Fill one block's registers, evaluate the start values, set up pipelines, check finiteness."""
    for k in range(scalar_regs.shape[0]):
        R[scalar_regs[k], :nb] = scalar_values[k]
    for k in range(run_regs.shape[0]):
        R[run_regs[k], :nb] = run_values[k, r0:r0 + nb]
    R[0, :nb] = times[0, 0]
    _exec_call(code, sections[0], sections[1], R, nb, times[0, 0], dt, 0, 0, keys[r0:r0 + nb], lever_path,
               lever_flag, events, t_index, t_data, t_params)
    for p in range(pipes.shape[0]):
        out, delay, init = pipes[p, 0], pipes[p, 2], pipes[p, 3]
        for r in range(nb):
            pipe_start[p, r0 + r] = R[init, r]
            R[out, r] = R[init, r]
            steps = 1
            if delay >= 0:
                d = R[delay, r] / dt
                if np.isnan(d):
                    if diag[b, D_DELAY] < 0:
                        diag[b, D_DELAY], diag[b, D_DELAY + 1] = p, r
                    d = 1.0
                steps = int(min(max(np.rint(d), 1.0), n_steps + 1.0))
            pipe_steps[p, r0 + r] = steps
        if diag[b, D_DELAY] >= 0:
            return False
    scratch = np.full(3, -1, dtype=np.int64)
    if not _first_bad(R, stock_regs, nb, scratch, 0):
        return False  # as engine._check_finite: the rates are looked at only when a stock is not finite
    _first_bad(R, rate_regs, nb, diag[b], D_LAST)
    _first_bad(R, stock_regs, nb, diag[b], D_STOCK)
    return True


@njit(**_JIT)
def _stock_segments(stock_regs, deriv_regs):  # type: ignore[no-untyped-def]
    """Runs of stocks whose registers and whose derivatives' registers are both consecutive (an arrayed stock's
    elements): rows of (first stock register, first derivative register, count)."""
    n = stock_regs.shape[0]
    segments = np.empty((n, 3), dtype=np.int64)
    count = 0
    s = 0
    while s < n:
        e = s + 1
        while e < n and stock_regs[e] == stock_regs[e - 1] + 1 and deriv_regs[e] == deriv_regs[e - 1] + 1:
            e += 1
        segments[count, 0], segments[count, 1], segments[count, 2] = stock_regs[s], deriv_regs[s], e - s
        count += 1
        s = e
    return segments[:count]


@njit(fastmath={"reassoc"}, **_JIT)
def _probe(F, at, m):  # type: ignore[no-untyped-def]
    """The sum of ``F[at:at + m] * 0.0``: 0.0 when every value is finite, NaN otherwise. Every term is 0.0 or NaN, so
    the sum is the same in any order, and reassociating lets it vectorise (a running sum waited on each add)."""
    total = 0.0
    for j in range(m):
        total += F[at + np.uint64(j)] * 0.0
    return total


@njit(**_JIT)
def _steps_block(b, code, sections, R, nb, r0, dt, n_steps, stride, rk4, first, last, diag_step, keys,  # type: ignore[no-untyped-def]
                 lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps, pipe_start,
                 buffers, pipe_offset, pipe_length, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out,
                 fail, diag):
    """Steps ``first`` to ``last - 1`` of one block (stopping at its first non-finite state)."""
    n_stocks = stock_regs.shape[0]
    n_pipes = pipes.shape[0]
    key = keys[r0:r0 + nb]
    F = R.reshape(-1)
    w = np.uint64(R.shape[1])
    O = out.reshape(-1)
    runs = np.uint64(out.shape[2])
    per_variable = np.uint64(out.shape[1]) * runs
    start = np.empty((n_stocks, nb))
    ks = np.empty((4, n_stocks, nb))
    pending = np.empty((n_pipes, nb))
    lanes = np.empty(nb)
    # a full block's stock arrays step as flat spans of registers x runs (an arrayed model's thousands of stocks
    # cost a loop over runs each); stocks in the same order, so the numbers are those of the loop per stock
    flat = nb > 1 and nb == R.shape[1]
    segments = _stock_segments(stock_regs, deriv_regs) if flat else np.empty((0, 3), dtype=np.int64)
    saved = -(-first // stride)  # the first saved step from ``first`` on, and its row of ``out``
    next_save = saved * stride
    for i in range(first, last):
        t = times[i, 0]
        for p in range(n_pipes):
            target, length, offset = pipes[p, 0], pipe_length[p], pipe_offset[p]
            for r in range(nb):
                back = i - pipe_steps[p, r0 + r]
                R[target, r] = buffers[offset + back % length, r0 + r] if back >= 0 else pipe_start[p, r0 + r]
        for r in range(nb):
            R[0, r] = t
        for phase in range(2):  # the step's stage section, then its derivatives: one loop, written once
            lo, hi = sections[2 + 2 * phase], sections[3 + 2 * phase]
            if nb != 1:
                _exec_call(code, lo, hi, R, nb, t, dt, i, 0, key, lever_path, lever_flag, events, t_index, t_data,
                           t_params)
            for pc in range(lo, hi if nb == 1 else lo):  # one run: the common instructions here, no call
                op, o, a, ob = code[pc, 0], code[pc, 1], code[pc, 2], code[pc, 3]
                if code[pc, 6] != 1 or op == SUM:  # a block of elements, or a reduction
                    _exec_block(code, pc, R, 1, t, dt, i, 0, key, lever_path, lever_flag, events, t_index, t_data,
                                t_params)
                    continue
                fo, fa, fb = np.uint64(o) * w, np.uint64(a) * w, np.uint64(max(ob, 0)) * w
                if op == MUL:
                    F[fo] = F[fa] * F[fb]
                elif op == ADD:
                    F[fo] = F[fa] + F[fb]
                elif op == SUB:
                    F[fo] = F[fa] - F[fb]
                elif op == DIV:
                    F[fo] = F[fa] / F[fb]
                elif op == MOV:
                    F[fo] = F[fa]
                elif op == LOOKUP and t_index[ob, 3] != GENERIC:
                    _lookup_fast(R, o, a, ob, 1, t_index, t_data, t_params)
                elif op == MIN:
                    F[fo] = _nmin(F[fa], F[fb])
                elif op == MAX:
                    F[fo] = _nmax(F[fa], F[fb])
                elif op == XIDZ:
                    F[fo] = F[np.uint64(code[pc, 4]) * w] if F[fb] == 0.0 else F[fa] / F[fb]
                elif op == SELECT:
                    F[fo] = F[fb] if F[fa] != 0.0 else F[np.uint64(code[pc, 4]) * w]
                elif op == SELECT0:
                    F[fo] = (F[fb] if F[fa] != 0.0 else F[np.uint64(code[pc, 4]) * w]) + 0.0
                elif op == NEG:
                    F[fo] = -F[fa]
                elif op == CLIP0:
                    F[fo] = _nmax(F[fa], 0.0)
                elif op == EVENT:
                    F[fo] = events[i, a]
                elif op == LEVER:
                    F[fo] = F[fb] if ob >= 0 and lever_flag[i, 0, a] else lever_path[i, 0, a]
                elif op >= LT and op <= NOT:
                    _logic(op, F, fo, fa, fb if op != NOT else fa, 1)
                elif op >= ABS and op <= FMOD or op == POW or op == MOD:
                    _math(op, R, o, a, ob if ob >= 0 else a, 1)
                elif op >= STEP and op <= PULSE_TRAIN:
                    _time_function(op, R, o, a, ob, code[pc, 4], code[pc, 5], 1, t, dt)
                elif op >= UNIFORM and op <= EXPONENTIAL:
                    _draw(op, R, o, a, ob, _offset(code[pc, 4], i), key, 1)
                else:  # searched lookups, SIGN: the general interpreter
                    _exec_call(code, pc, pc + 1, R, 1, t, dt, i, 0, key, lever_path, lever_flag, events, t_index,
                               t_data, t_params)
            if phase == 0:
                if i == next_save:  # a counter, not ``i % stride``: an integer division per step
                    at = np.uint64(saved) * runs + np.uint64(r0)  # flat unsigned offsets: 3-D signed indexing
                    for k in range(save_regs.shape[0]):           # cost a sixth of a flagship slider move
                        fr = np.uint64(save_regs[k]) * w
                        to = np.uint64(k) * per_variable + at
                        for r in range(nb):
                            u = np.uint64(r)
                            O[to + u] = F[fr + u]
                    next_save += stride
                    saved += 1
                if i == n_steps:
                    break
                for p in range(n_pipes):
                    src = pipes[p, 1]
                    for r in range(nb):
                        pending[p, r] = R[src, r]
                if rk4 or diag_step >= 0:  # the state at the step's start (RK4 stages; naming a non-finite value)
                    for s in range(n_stocks):
                        reg = stock_regs[s]
                        for r in range(nb):
                            start[s, r] = R[reg, r]
        if i == n_steps:
            break
        probe = 0.0  # x * 0.0 is 0.0 for finite x and NaN otherwise: branch-free sums check every stock
        if nb == 1 and not rk4:  # one run: no loops over runs (their set-up, per stock, cost more than the sums)
            for s in range(n_stocks):
                at = np.uint64(stock_regs[s]) * w
                F[at] = F[at] + dt * F[np.uint64(deriv_regs[s]) * w]
            for k in range(non_negative.shape[0]):
                at = np.uint64(stock_regs[non_negative[k]]) * w
                F[at] = _nmax(F[at], 0.0)
            for s in range(n_stocks):
                probe += F[np.uint64(stock_regs[s]) * w] * 0.0
        else:
            if not rk4 and flat:
                for g in range(segments.shape[0]):
                    fs, fd = np.uint64(segments[g, 0]) * w, np.uint64(segments[g, 1]) * w
                    for j in range(segments[g, 2] * nb):
                        u = np.uint64(j)
                        F[fs + u] = F[fs + u] + dt * F[fd + u]
            elif not rk4:
                for s in range(n_stocks):
                    reg, flow = stock_regs[s], deriv_regs[s]
                    for r in range(nb):
                        R[reg, r] = R[reg, r] + dt * R[flow, r]
            else:
                _rk4_stages(code, sections, R, nb, dt, i, key, lever_path, lever_flag, events, times, t_index,
                            t_data, t_params, stock_regs, deriv_regs, start, ks)
            for k in range(non_negative.shape[0]):  # by index: iterating an array reference-counts it per step
                reg = stock_regs[non_negative[k]]
                for r in range(nb):
                    R[reg, r] = _nmax(R[reg, r], 0.0)
            if flat:
                for g in range(segments.shape[0]):
                    probe += _probe(F, np.uint64(segments[g, 0]) * w, segments[g, 2] * nb)
            else:
                for r in range(nb):
                    lanes[r] = 0.0
                for s in range(n_stocks):
                    reg = stock_regs[s]
                    for r in range(nb):
                        lanes[r] += R[reg, r] * 0.0
                for r in range(nb):
                    probe += lanes[r]
        for p in range(n_pipes):
            slot = pipe_offset[p] + i % pipe_length[p]
            for r in range(nb):
                buffers[slot, r0 + r] = pending[p, r]
        finite = probe == 0.0
        if i == diag_step:
            _diagnose(b, code, sections, R, nb, dt, i, key, lever_path, lever_flag, events, times, t_index,
                      t_data, t_params, start, stock_regs, rate_regs, diag)
            fail[b] = i
            return
        if not finite:
            fail[b] = i
            return


@njit(**_JIT)
def _rk4_stages(code, sections, R, nb, dt, i, key, lever_path, lever_flag, events, times, t_index,  # type: ignore[no-untyped-def]
                t_data, t_params, stock_regs, deriv_regs, start, ks):
    """Stages 2-4 of a classical Runge-Kutta step and its weighted sum (as ``engine._rk4``)."""
    n_stocks = stock_regs.shape[0]
    for s in range(n_stocks):
        flow = deriv_regs[s]
        for r in range(nb):
            ks[0, s, r] = R[flow, r]
    for j in range(1, 4):
        h = (0.5 if j < 3 else 1.0) * dt
        for s in range(n_stocks):
            reg = stock_regs[s]
            for r in range(nb):
                R[reg, r] = start[s, r] + h * ks[j - 1, s, r]
        t = times[i, j]
        for r in range(nb):
            R[0, r] = t
        _exec_call(code, sections[2], sections[3], R, nb, t, dt, i, j, key, lever_path, lever_flag, events, t_index,
                   t_data, t_params)
        _exec_call(code, sections[4], sections[5], R, nb, t, dt, i, j, key, lever_path, lever_flag, events, t_index,
                   t_data, t_params)
        for s in range(n_stocks):
            flow = deriv_regs[s]
            for r in range(nb):
                ks[j, s, r] = R[flow, r]
    sixth = dt / 6.0
    for s in range(n_stocks):
        reg = stock_regs[s]
        for r in range(nb):
            R[reg, r] = start[s, r] + sixth * (ks[0, s, r] + 2.0 * ks[1, s, r] + 2.0 * ks[2, s, r] + ks[3, s, r])


@njit(**_JIT)
def _diagnose(b, code, sections, R, nb, dt, i, key, lever_path, lever_flag, events, times,  # type: ignore[no-untyped-def]
              t_index, t_data, t_params, start, stock_regs, rate_regs, diag):
    """What ``engine._check_finite`` looks at after step ``i``: the rates re-evaluated at the step's
    start, the rates of its last stage, then the stocks."""
    kept = R[:, :nb].copy()
    for s in range(stock_regs.shape[0]):
        R[stock_regs[s], :nb] = start[s, :]
    R[0, :nb] = times[i, 0]
    _exec_call(code, sections[2], sections[3], R, nb, times[i, 0], dt, i, 0, key, lever_path, lever_flag, events,
               t_index, t_data, t_params)
    _first_bad(R, rate_regs, nb, diag[b], D_START)
    R[:, :nb] = kept
    _first_bad(R, rate_regs, nb, diag[b], D_LAST)
    _first_bad(R, stock_regs, nb, diag[b], D_STOCK)


# The drivers over blocks come in pairs that differ only in ``range``/``prange`` and the
# ``parallel`` flag, on purpose: a parallel kernel enters numba's thread pool even for one
# block (a single run would pay for it), and generating both from one factory would give
# two functions one cache entry (numba keys its disk cache on the function's qualified name
# and line). Keep each pair's bodies identical when editing them.
@njit(**_JIT)
def _init_serial(code, sections, registers, runs, dt, n_steps, keys, scalar_regs, scalar_values, run_regs,  # type: ignore[no-untyped-def]
                 run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps,
                 pipe_start, stock_regs, rate_regs, fail, diag):
    width = registers.shape[2]
    for b in range(registers.shape[0]):
        r0 = b * width
        nb = min(width, runs - r0)
        if _init_block(b, code, sections, registers[b], nb, r0, dt, n_steps, keys, scalar_regs, scalar_values,
                       run_regs, run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes,
                       pipe_steps, pipe_start, stock_regs, rate_regs, diag):
            fail[b] = -1


@njit(parallel=True, **_JIT)
def _init_parallel(code, sections, registers, runs, dt, n_steps, keys, scalar_regs, scalar_values, run_regs,  # type: ignore[no-untyped-def]
                   run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps,
                   pipe_start, stock_regs, rate_regs, fail, diag):
    width = registers.shape[2]
    for b in prange(registers.shape[0]):
        r0 = b * width
        nb = min(width, runs - r0)
        if _init_block(b, code, sections, registers[b], nb, r0, dt, n_steps, keys, scalar_regs, scalar_values,
                       run_regs, run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes,
                       pipe_steps, pipe_start, stock_regs, rate_regs, diag):
            fail[b] = -1


@njit(**_JIT)
def _steps_serial(code, sections, registers, runs, dt, n_steps, stride, rk4, first, last, diag_step, keys,  # type: ignore[no-untyped-def]
                  lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps, pipe_start,
                  buffers, pipe_offset, pipe_length, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out,
                  fail, diag):
    width = registers.shape[2]
    for b in range(registers.shape[0]):
        if fail[b] <= n_steps:
            continue
        r0 = b * width
        _steps_block(b, code, sections, registers[b], min(width, runs - r0), r0, dt, n_steps, stride, rk4, first,
                     last, diag_step, keys, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes,
                     pipe_steps, pipe_start, buffers, pipe_offset, pipe_length, stock_regs, deriv_regs, non_negative,
                     rate_regs, save_regs, out, fail, diag)


@njit(parallel=True, **_JIT)
def _steps_parallel(code, sections, registers, runs, dt, n_steps, stride, rk4, first, last, diag_step, keys,  # type: ignore[no-untyped-def]
                    lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps, pipe_start,
                    buffers, pipe_offset, pipe_length, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out,
                    fail, diag):
    width = registers.shape[2]
    for b in prange(registers.shape[0]):
        if fail[b] <= n_steps:
            continue
        r0 = b * width
        _steps_block(b, code, sections, registers[b], min(width, runs - r0), r0, dt, n_steps, stride, rk4, first,
                     last, diag_step, keys, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes,
                     pipe_steps, pipe_start, buffers, pipe_offset, pipe_length, stock_regs, deriv_regs, non_negative,
                     rate_regs, save_regs, out, fail, diag)


@njit(**_JIT)
def _simulate_serial(code, sections, n_registers, runs, dt, n_steps, stride, rk4, keys, scalar_regs,  # type: ignore[no-untyped-def]
                     scalar_values, run_regs, run_values, lever_path, lever_flag, events, times, t_index, t_data,
                     t_params, pipes, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out):
    """A whole simulation of ``runs`` runs as one block, in one call: the start values, the pipelines, every
    step, and a check that every saved value is finite. True if it all went well; else the caller runs it
    again call by call (``_init_serial``, ``_steps_serial``), which names what went wrong. For a single run
    the two calls' argument checks, arrays and Python cost a tenth of a small model's run."""
    registers = np.zeros((1, n_registers, runs))
    n_pipes = pipes.shape[0]
    pipe_steps = np.ones((n_pipes, runs), dtype=np.int64)
    pipe_start = np.zeros((n_pipes, runs))
    fail = np.full(1, n_steps + 1, dtype=np.int64)
    diag = np.full((1, D_SIZE), -1, dtype=np.int64)
    _init_serial(code, sections, registers, runs, dt, n_steps, keys, scalar_regs, scalar_values, run_regs,
                 run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps,
                 pipe_start, stock_regs, rate_regs, fail, diag)
    if fail[0] < 0 or diag[0, D_DELAY] >= 0:
        return False
    pipe_length = np.ones(n_pipes, dtype=np.int64)
    pipe_offset = np.zeros(n_pipes, dtype=np.int64)
    total = 0
    for p in range(n_pipes):  # each pipeline's ring buffer, filled with its start value (``numpy.repeat``)
        for r in range(runs):
            pipe_length[p] = max(pipe_length[p], pipe_steps[p, r])
        pipe_offset[p] = total
        total += pipe_length[p]
    buffers = np.empty((total, runs))
    for p in range(n_pipes):
        for row in range(pipe_offset[p], pipe_offset[p] + pipe_length[p]):
            for r in range(runs):
                buffers[row, r] = pipe_start[p, r]
    _steps_serial(code, sections, registers, runs, dt, n_steps, stride, rk4, 0, n_steps + 1, -2, keys, lever_path,
                  lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps, pipe_start, buffers,
                  pipe_offset, pipe_length, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out, fail,
                  diag)
    if fail[0] <= n_steps:
        return False
    probe = 0.0
    for value in out.ravel():  # x * 0.0 is 0.0 for finite x and NaN otherwise
        probe += value * 0.0
    return probe == 0.0


@njit(parallel=True, **_JIT)
def _simulate_parallel(code, sections, n_registers, width, n_threads, runs, dt, n_steps, stride, rk4, keys,  # type: ignore[no-untyped-def]
                       scalar_regs, scalar_values, run_regs, run_values, lever_path, lever_flag, events, times, t_index,
                       t_data, t_params, pipes, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out, fail):
    """Every block of a simulation without pipelines, in one call: thread ``t`` takes blocks ``t``, ``t +
    n_threads``, ... from start to end, each in the one register file it reuses (zeroed between blocks), where
    the call-by-call kernels keep a file per block between calls: 120 MB for 1,000 runs of a 1,000-region
    model, whose first touch (a page fault per page) was a fifth of that run. ``fail[b]`` ends -1 for a block
    whose start was not finite, or the step it failed at; the caller then runs the simulation again call by
    call (``_init_parallel``, ``_steps_parallel``), which names what went wrong. The numbers are the same:
    each block runs the same ``_init_block`` and ``_steps_block``."""
    n_blocks = fail.shape[0]
    registers = np.zeros((n_threads, n_registers, width))
    diag = np.full((n_blocks, D_SIZE), -1, dtype=np.int64)
    pipe_steps = np.ones((0, runs), dtype=np.int64)
    pipe_start = np.zeros((0, runs))
    buffers = np.zeros((0, runs))
    no_pipes = np.zeros(0, dtype=np.int64)
    for t in prange(n_threads):
        R = registers[t]
        for b in range(t, n_blocks, n_threads):
            if b >= n_threads:
                R[:, :] = 0.0
            r0 = b * width
            nb = min(width, runs - r0)
            if _init_block(b, code, sections, R, nb, r0, dt, n_steps, keys, scalar_regs, scalar_values, run_regs,
                           run_values, lever_path, lever_flag, events, times, t_index, t_data, t_params, pipes,
                           pipe_steps, pipe_start, stock_regs, rate_regs, diag):
                fail[b] = -1
                continue
            _steps_block(b, code, sections, R, nb, r0, dt, n_steps, stride, rk4, 0, n_steps + 1, -2, keys, lever_path,
                         lever_flag, events, times, t_index, t_data, t_params, pipes, pipe_steps, pipe_start, buffers,
                         no_pipes, no_pipes, stock_regs, deriv_regs, non_negative, rate_regs, save_regs, out, fail,
                         diag)


# ---------------------------------------------------------------------------------------
# Python side

numba.config.CACHE_DIR = _CACHE_DIR_BEFORE  # other libraries' numba functions cache where they did before

# The opcodes ``_exec`` has a branch for: a new Op needs a branch there and its name here (tests check the registry's).
DISPATCHED = frozenset(Op[name] for name in (
    "MOV", "ADD", "SUB", "MUL", "DIV", "NEG", "POW", "MOD", "LT", "LE", "GT", "GE", "EQ", "NE", "AND", "OR", "NOT",
    "SELECT", "SELECT0", "MIN", "MAX", "CLIP0", "ABS", "EXP", "LN", "LOG10", "SQRT", "SIN", "COS", "TAN", "ASIN", "ACOS",
    "ATAN", "FLOOR", "ROUND", "TRUNC", "FMOD", "XIDZ", "STEP", "PULSE", "RAMP", "PULSE_TRAIN", "LOOKUP", "UNIFORM",
    "NORMAL", "LOGNORMAL", "POISSON", "EXPONENTIAL", "LEVER", "EVENT", "SIGN", "SUM"))


__all__ = ["DISPATCHED", "cache_folder"]
