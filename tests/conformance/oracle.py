"""Expected outputs of PolicyLab's own XMILE test models, computed without PolicyLab.

Each function below restates one ``<folder>/model.xmile`` in plain Python/NumPy: closed
forms for the auxiliaries, and the exact discrete recursion of the file's integration
method for the stocks:

- Euler: ``y[k+1] = y[k] + dt * f(t[k], y[k])``, every stock updated from the values at
  the start of the step;
- RK4 (classic Runge-Kutta): ``k1 = f(t, y)``, ``k2 = f(t + dt/2, y + dt/2 k1)``,
  ``k3 = f(t + dt/2, y + dt/2 k2)``, ``k4 = f(t + dt, y + dt k3)``,
  ``y + dt/6 (k1 + 2 k2 + 2 k3 + k4)``.

Builtins follow the XMILE definitions: SMTHn is n first-order stages of time tau/n,
each starting at the initial value; DELAYn is n first-order material stages of time
tau/n, each starting at ``initial * tau/n``; a conveyor of transit time T and initial
content C releases C/T per time unit for T, then its inflow as it was T ago; DELAY (pipeline) returns the input ``d``
ago, or its initial value (or the third argument) before that; TREND is
``(input - average) / (average * T)`` with ``average = SMTH1(input, T, input / (1 +
initial trend * T))``; FORCST is ``input * (1 + TREND * horizon)``; PULSE gives
``volume / dt`` in the step at each pulse time; INT is the floor and MOD the floored
modulus, with the divisor's sign (XMILE 1.0, 3.3.1 and 3.5.1).

A ``model.mdl`` beside some of them restates the same model in Vensim's language (where
Vensim lacks a function, by its definition above: PREVIOUS as a DELAY FIXED of one TIME
STEP, ROUND from INTEGER, the floor and the floored modulus from INTEGER and MODULO, which truncate) and is checked against the same ``output.csv``.

Run ``python tests/conformance/oracle.py`` to rewrite every ``output.csv``; the test suite
checks that the committed files equal what this module computes.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
Columns = dict[str, np.ndarray]


# -- shared pieces ---------------------------------------------------------------------------
def grid(start: float, stop: float, dt: float) -> np.ndarray:
    n = int(round((stop - start) / dt))
    return start + np.arange(n + 1) * dt


def euler(f: Callable[[float, np.ndarray], np.ndarray], y0: list[float], t: np.ndarray, dt: float) -> np.ndarray:
    y = np.empty((len(t), len(y0)))
    y[0] = y0
    for k in range(len(t) - 1):
        y[k + 1] = y[k] + dt * f(t[k], y[k])
    return y


def rk4(f: Callable[[float, np.ndarray], np.ndarray], y0: list[float], t: np.ndarray, dt: float) -> np.ndarray:
    y = np.empty((len(t), len(y0)))
    y[0] = y0
    for k in range(len(t) - 1):
        k1 = f(t[k], y[k])
        k2 = f(t[k] + dt / 2, y[k] + dt / 2 * k1)
        k3 = f(t[k] + dt / 2, y[k] + dt / 2 * k2)
        k4 = f(t[k] + dt, y[k] + dt * k3)
        y[k + 1] = y[k] + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def step(height: float, start: float, t: np.ndarray) -> np.ndarray:
    return np.where(t >= start, height, 0.0)


def ramp(slope: float, start: float, t: np.ndarray, end: float = math.inf) -> np.ndarray:
    return np.where(t > start, slope * (np.minimum(t, end) - start), 0.0)


def pulse(volume: float, first: float, interval: float, t: np.ndarray, dt: float) -> np.ndarray:
    since = t - first
    if interval > 0:
        on = (since > -1e-9) & (np.abs(since / interval - np.round(since / interval)) < 1e-9)
    else:
        on = np.abs(since) < 1e-9
    return np.where(on, volume / dt, 0.0)


def smooth(inp: np.ndarray, tau: float, n: int, dt: float, init: float | None = None) -> np.ndarray:
    stages = np.full(n, inp[0] if init is None else init, dtype=float)
    out = np.empty_like(inp)
    for k in range(len(inp)):
        out[k] = stages[-1]
        upstream = np.concatenate(([inp[k]], stages[:-1]))
        stages = stages + dt * (upstream - stages) / (tau / n)
    return out


def material_delay(inp: np.ndarray, tau: float, n: int, dt: float, init: float | None = None) -> np.ndarray:
    stage = tau / n
    levels = np.full(n, (inp[0] if init is None else init) * stage, dtype=float)
    out = np.empty_like(inp)
    for k in range(len(inp)):
        rates = levels / stage
        out[k] = rates[-1]
        inflows = np.concatenate(([inp[k]], rates[:-1]))
        levels = levels + dt * (inflows - rates)
    return out


def pipeline(inp: np.ndarray, delay: float, dt: float, init: float | None = None) -> np.ndarray:
    steps = max(int(round(delay / dt)), 1)
    start = inp[0] if init is None else init
    return np.array([inp[k - steps] if k >= steps else start for k in range(len(inp))])


def trend(inp: np.ndarray, avg_time: float, dt: float, initial: float = 0.0) -> np.ndarray:
    average = smooth(inp, avg_time, 1, dt, inp[0] / (1 + initial * avg_time))
    return (inp - average) / (average * avg_time)


# -- the models ------------------------------------------------------------------------------
def time_functions() -> tuple[np.ndarray, Columns]:
    dt = 0.25
    t = grid(0, 10, dt)
    step_up, ramp_up, ramp_open = step(5, 2, t), ramp(2, 1, t, 4), ramp(0.5, 3, t)
    once, train = pulse(3, 2.5, 0, t, dt), pulse(1, 1, 2, t, dt)
    ramp_flow = step_up + ramp_up
    index = {round(x, 9): i for i, x in enumerate(t)}
    y = euler(lambda time, s: np.array([once[index[round(time, 9)]] + train[index[round(time, 9)]],
                                        ramp_flow[index[round(time, 9)]]]), [0, 1], t, dt)
    return t, {"Step Up": step_up, "Ramp Up": ramp_up, "Ramp Open": ramp_open, "Pulse Once": once,
               "Pulse Train": train, "Ramp Flow": ramp_flow, "Collected": y[:, 0], "Ramp Area": y[:, 1]}


def smooth_trend() -> tuple[np.ndarray, Columns]:
    dt = 0.25
    t = grid(0, 8, dt)
    inp = 10 + step(10, 1, t) + ramp(2, 4, t)
    return t, {
        "input": inp, "s1": smooth(inp, 2, 1, dt), "s1 init": smooth(inp, 2, 1, dt, 0),
        "s3": smooth(inp, 3, 3, dt), "s3 init": smooth(inp, 3, 3, dt, 4), "sn": smooth(inp, 2, 4, dt),
        "sn init": smooth(inp, 2, 2, dt, 5), "trend": trend(inp, 2, dt), "trend init": trend(inp, 2, dt, 0.1),
        "forecast": inp * (1 + trend(inp, 2, dt) * 3), "forecast init": inp * (1 + trend(inp, 2, dt, 0.05) * 3),
    }


def delays() -> tuple[np.ndarray, Columns]:
    dt = 0.25
    t = grid(0, 10, dt)
    inp = 2 + step(4, 1, t) + ramp(1, 3, t, 5)
    level = 3 + dt * np.concatenate(([0.0], np.cumsum(inp[:-1])))
    return t, {
        "input": inp, "d1": material_delay(inp, 2, 1, dt), "d1 init": material_delay(inp, 2, 1, dt, 1),
        "d3": material_delay(inp, 3, 3, dt), "d3 init": material_delay(inp, 3, 3, dt, 0),
        "dn": material_delay(inp, 2, 5, dt), "dn init": material_delay(inp, 2, 2, dt, 0),
        "pipeline": pipeline(inp, 1.5, dt), "pipeline init": pipeline(inp, 1.5, dt, -1),
        "previous": pipeline(inp, dt, dt, 7), "previous level": pipeline(level, dt, dt),
        "first": np.full_like(t, inp[0] + 0 + 3), "first level": np.full_like(t, 3.0),
        "filling": inp, "level": level,
    }


def logic_math() -> tuple[np.ndarray, Columns]:
    t = grid(0, 10, 0.5)
    x = t - 5
    safe = np.where(x == 0, 1.0, x)
    quarter = x / 4
    return t, {
        "x": x, "safe two": np.where(x == 0, 0.0, 10 / safe), "safe three": np.where(x == 0, -1.0, 10 / safe),
        "sign": np.sign(x), "logic": (((x > -2) & (x < 2)) | (x == 3)).astype(float),
        "smaller": np.minimum(x, 1), "larger": np.maximum(x, -1),
        "remainder": np.mod(x, 3), "remainder call": np.mod(x, -3),
        "integer": np.floor(x / 2), "magnitude": np.abs(x) + np.sqrt(np.abs(x)),
        "power": 2.0 ** x - np.exp(x / 10) + np.log(t + 1) + np.log10(t + 1),
        "circle": np.sin(x) + np.cos(x) * math.pi + np.arctan(x) + 0 + 10,
        "rounded": np.sign(quarter) * np.floor(np.abs(quarter) + 0.5),
    }


def arrays() -> tuple[np.ndarray, Columns]:
    dt = 0.5
    t = grid(0, 5, dt)
    growth = np.array([0.1, 0.2, 0.3])
    pop = euler(lambda _time, p: p * growth, [100, 200, 300], t, dt)
    regions, ages = ["North", "South", "East"], ["Young", "Old"]
    weights = np.array([0.25, 0.75])
    matrix = np.empty((len(t), 3, 2))
    matrix[:, 0] = [1, 2]
    matrix[:, 1, 0], matrix[:, 1, 1] = 3 + t, 4
    matrix[:, 2, 0], matrix[:, 2, 1] = 5, pop[:, 2] / 100
    total = pop.sum(axis=1)
    columns: Columns = {
        "total": total, "average": pop.mean(axis=1), "biggest": pop.max(axis=1), "smallest": pop.min(axis=1),
        "count": np.full_like(t, 3.0), "spread": pop.std(axis=1), "product": np.full_like(t, 0.1 * 0.2 * 0.3),
        "pick": pop[:, 1] + pop[:, 2] + matrix[:, 2, 1] + weights[1],
    }
    for i, region in enumerate(regions):
        columns[f"growth[{region}]"] = np.full_like(t, growth[i])
        columns[f"pop[{region}]"] = pop[:, i]
        columns[f"births[{region}]"] = pop[:, i] * growth[i]
        columns[f"share[{region}]"] = pop[:, i] / total
        columns[f"row sum[{region}]"] = matrix[:, i].sum(axis=1)
        columns[f"weighted[{region}]"] = matrix[:, i] @ weights
        for j, age in enumerate(ages):
            columns[f"matrix[{region},{age}]"] = matrix[:, i, j]
    for j, age in enumerate(ages):
        columns[f"weights[{age}]"] = np.full_like(t, weights[j])
        columns[f"column total[{age}]"] = matrix[:, :, j].sum(axis=1)
    return t, columns


def graphical() -> tuple[np.ndarray, Columns]:
    dt = 0.25
    t = grid(0, 4, dt)
    x = t - 1
    extrapolated = np.interp(x, [0, 1, 2], [0, 10, 5]) + np.minimum(x, 0) * 10 + np.maximum(x - 2, 0) * -5
    stepped = np.where(x < 1, 1.0, np.where(x < 2, 2.0, 3.0))
    fill = np.interp(x, [-1, 0, 3], [1, 1, 2])
    tank = dt * np.concatenate(([0.0], np.cumsum(fill[:-1])))
    return t, {"x": x, "clamped": np.interp(x, [0, 1, 2], [0, 10, 5]), "extrapolated": extrapolated,
               "stepped": stepped, "embedded": np.interp(t, [0, 1, 2, 3, 4], [0, 1, 4, 9, 16]), "fill": fill,
               "tank": tank}


def modules() -> tuple[np.ndarray, Columns]:
    dt = 0.5
    t = grid(0, 6, dt)
    level = 8 * (1 - 0.5 * dt) ** np.arange(len(t))
    doubled = 2 * level
    y = 1.5 * doubled + t
    return t, {"decay rate": np.full_like(t, 0.5), "tank.level": level, "tank.drain": 0.5 * level,
               "tank.rate": np.full_like(t, 0.5), "gauge.level": level, "gauge.doubled": doubled,
               "gauge.inner.x": doubled, "gauge.inner.y": y, "reading": doubled + y}


def sim_specs() -> tuple[np.ndarray, Columns]:
    dt = 1 / 4
    t = grid(2, 6, dt)
    capital = euler(lambda time, c: 0.1 * c + 1 + time - 2 + dt, [10], t, dt)[:, 0]
    saved = slice(None, None, 2)
    return t[saved], {"capital": capital[saved], "investment": (0.1 * capital + 1 + t - 2 + dt)[saved]}


def _rk4_model(time: float, y: np.ndarray) -> np.ndarray:
    decaying, position, velocity, _area, logistic = y
    return np.array([-0.3 * decaying, velocity, -4 * position, time * time, 0.8 * logistic * (1 - logistic / 50)])


def rk4_model() -> tuple[np.ndarray, Columns]:
    dt = 0.5
    t = grid(0, 10, dt)
    y = rk4(_rk4_model, [100, 1, 0, 0, 1], t, dt)
    return t, {"decaying": y[:, 0], "decay": 0.3 * y[:, 0], "position": y[:, 1], "velocity change": y[:, 2],
               "velocity": y[:, 2], "acceleration": -4 * y[:, 1], "area": y[:, 3], "time flow": t * t,
               "logistic": y[:, 4], "logistic growth": 0.8 * y[:, 4] * (1 - y[:, 4] / 50)}


def _inventory(integrate: Callable[..., np.ndarray]) -> tuple[np.ndarray, Columns]:
    dt = 0.5
    t = grid(0, 8, dt)
    inventory = integrate(lambda _time, y: np.array([10 - 0.5 * y[0]]), [100], t, dt)[:, 0]
    return t, {"Inventory": inventory, "production": np.full_like(t, 10.0), "shipments": 0.5 * inventory}


def vensim_export() -> tuple[np.ndarray, Columns]:
    return _inventory(euler)  # a Vensim export's method="RK4" is not trusted: Euler


def xmutil_export() -> tuple[np.ndarray, Columns]:
    return _inventory(rk4)  # xmutil writes the model's real method: RK4 honoured


def messy_export() -> tuple[np.ndarray, Columns]:
    dt = 0.25
    t = grid(0, 5, dt)
    backlog = euler(lambda _time, y: np.array([4 - y[0] / 2]), [20], t, dt)[:, 0]
    return t, {"Backlog": backlog, "orders in": np.full_like(t, 4.0), "Completion Rate": backlog / 2,
               "time to complete": np.full_like(t, 2.0)}


def conveyor() -> tuple[np.ndarray, Columns]:
    """A conveyor of transit time 3 holding 6: it releases 6/3 per day, then what entered 3 days before."""
    dt = 0.5
    t = grid(0, 12, dt)
    loading = 2 + step(3, 4, t)
    unloading = pipeline(loading, 3, dt, 6 / 3)
    belt = 6 + dt * np.concatenate(([0.0], np.cumsum(loading[:-1] - unloading[:-1])))
    delivered = dt * np.concatenate(([0.0], np.cumsum(unloading[:-1])))
    return t, {"belt": belt, "loading": loading, "unloading": unloading, "transit time": np.full_like(t, 3.0),
               "delivered": delivered}


MODELS: dict[str, Callable[[], tuple[np.ndarray, Columns]]] = {
    "time_functions": time_functions, "smooth_trend": smooth_trend, "delays": delays, "logic_math": logic_math,
    "arrays": arrays, "graphical": graphical, "modules": modules, "sim_specs": sim_specs, "rk4": rk4_model,
    "vensim_export": vensim_export, "xmutil_export": xmutil_export, "messy_export": messy_export,
    "conveyor": conveyor,
}


def table(name: str) -> list[list[str]]:
    """The rows of ``name``'s output.csv (header first), numbers written exactly."""
    times, columns = MODELS[name]()
    rows = [["Time", *columns]]
    for k, time in enumerate(times):
        rows.append([repr(float(time)), *(repr(float(values[k])) for values in columns.values())])
    return rows


def main() -> None:
    for name in MODELS:
        with (HERE / name / "output.csv").open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows(table(name))


if __name__ == "__main__":
    main()
