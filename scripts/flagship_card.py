"""The flagship's model card: regenerate its results file, render it, or check it has not drifted.

    python scripts/flagship_card.py results   # re-run every figure (numba backend, ~10 min on 2 cores)
    python scripts/flagship_card.py results --only loops   # just the loops: structure, and dominance over 1,000 runs
    python scripts/flagship_card.py render    # README.md from card/template.md.j2 + card/results.json
    python scripts/flagship_card.py check     # exit 1 when README.md is not the rendering of the two

Every figure in the card comes from ``card/results.json`` (written by ``results``) or from the
model file itself (events, levers, parameters, evidence); the template holds prose only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

import policylab
from policylab.model.ir import Constant, Event, GeneratedEvent, Lever, Stock
from policylab.results.intervals import Interval
from policylab.validation.results import CheckResult

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models" / "iraq_dialogue"
MODEL = MODEL_DIR / "model.yaml"
CARD = MODEL_DIR / "README.md"
TEMPLATE = MODEL_DIR / "card" / "template.md.j2"
RESULTS = MODEL_DIR / "card" / "results.json"

RUNS = 1000
SEED = 0
THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval of a share (the Monte Carlo uncertainty of a probability): the 80 % of every table."""
    return Interval().wilson(successes, n)


def _date_index(ds: Any, date: str) -> int:
    dates = ds["date"].values.astype("datetime64[D]")
    return int(np.searchsorted(dates, np.datetime64(date, "D")))


def outcome_results(model: policylab.Model, backend: str) -> dict[str, Any]:
    """Per scenario: every outcome's median and 10-90 % band, or its probability with an 80 % interval."""
    from policylab.results.outcomes import needed_variables, outcome_values

    ir = model.ir
    out: dict[str, Any] = {}
    for scenario in ir.scenarios:
        ds = model.run(scenario=scenario, runs=RUNS, seed=SEED, variables=needed_variables(ir), backend=backend)
        frame = {name: values.values for name, values in outcome_values(ir, ds).items()}
        rows: dict[str, Any] = {}
        for name, outcome in ir.outcomes.items():
            values = np.asarray(frame[name], dtype=float)
            if getattr(outcome, "probability", False):
                hits = int(np.sum(values >= 0.5))
                low, high = wilson(hits, values.size)
                rows[name] = {"p": hits / values.size, "low": low, "high": high}
            else:
                rows[name] = {"median": float(np.median(values)), "p10": float(np.percentile(values, 10)),
                              "p90": float(np.percentile(values, 90))}
        sust = np.asarray(frame["dialogue_sustainability_end_2021"], dtype=float)
        rows["sustainability_shares"] = {f"{t:g}": float(np.mean(sust >= t)) for t in THRESHOLDS}
        out[scenario] = rows
    return out


def stream_results(model: policylab.Model, backend: str) -> dict[str, Any]:
    """How much the random draws matter: pairs of runs with the same parameters, different streams."""
    names = ["us_troops", "us_bases", "us_diplomatic_staff"]
    ds = model.run(scenario="generative", runs=2 * RUNS, seed=SEED, sample=False, variables=names, backend=backend)
    end = _date_index(ds, "2021-12-31")
    differs = np.zeros(RUNS, dtype=bool)
    for name in names:
        v = ds[name].values[:, end]
        a, b = v[0::2], v[1::2]
        differs |= np.abs(a - b) > 0.05 * np.maximum(np.abs(a), np.abs(b))
    decap = model.run(scenario="generative", runs=RUNS, seed=SEED, sample=False, variables=["decapitation_strike"],
                      backend=backend)
    p_decap = float(((decap["decapitation_strike"].values[:, :end + 1] > 0).any(axis=1)).mean())
    return {"pairs": RUNS, "pairs_differing": float(differs.mean()), "p_decapitation_nominal_2021": p_decap}


def validation_results(model: policylab.Model, backend: str) -> dict[str, Any]:
    """Every check of the model file and the automatic ones, as ``policylab validate`` reports them."""
    from policylab.validation import validate

    report = validate(model, runs=RUNS, seed=SEED, backend=backend)  # type: ignore[arg-type]
    return {r.name: {"kind": r.kind, "scenario": r.scenario, "share": r.share, "required": r.required,
                     "passed": r.passed, "median": r.median, "trigger_share": r.trigger_share,
                     "total": r.total, "counted": r.counted, "doc": r.doc, "detail": r.detail,
                     "metrics": r.metrics}
            for r in report.results}


def loop_results(model: policylab.Model, backend: str) -> dict[str, Any]:
    """The feedback loops `policylab diagram` finds (member-derived identifiers) and which dominate when."""
    from policylab.compile.causal import causal_graph

    graph = causal_graph(model)
    counts = {p: sum(1 for lp in graph.loops if lp.polarity == p) for p in ("R", "B", "?")}
    return {"counts": counts, "total": len(graph.loops), "truncated": graph.truncated,
            "loops": [{"id": lp.label, "polarity": lp.polarity, "variables": list(lp.variables)} for lp in graph.loops],
            "dominance": {s: dominance_results(model, s, backend) for s in DOMINANCE_SCENARIOS}}


DOMINANCE_SCENARIOS = ("historical", "generative")
DOMINANCE_PERIODS = (("2019", "2019-01-01", "2020-01-01"), ("around January 2020", "2019-12-15", "2020-02-15"),
                     ("after June 2020", "2020-06-16", "2023-01-01"))
DOMINANCE_TOP = 4  # loops per period in the card


def dominance_results(model: policylab.Model, scenario: str, backend: str) -> dict[str, Any]:
    """`policylab loops` over RUNS runs: per period, the loops most often dominant, their shares and scores."""
    import datetime as dt

    from policylab.results.loops.summary import period_rows

    spec = model.ir.time
    spans = [(label, spec.to_time(dt.date.fromisoformat(a)), spec.to_time(dt.date.fromisoformat(b)))
             for label, a, b in DOMINANCE_PERIODS]
    ds = model.loops(scenario=scenario, runs=RUNS, seed=SEED, backend=backend,  # type: ignore[arg-type]
                     save_every=spec.n_steps * spec.dt, periods=spans)
    rows = period_rows(ds)
    periods, named = [], set()
    for label, start, end in DOMINANCE_PERIODS:
        ranked = [r for r in rows if r.period == label and not r.alone][:DOMINANCE_TOP]
        led = [r for r in rows if r.period == label and not r.alone]
        best = max((r.dominant_share for r in led), default=0.0)
        periods.append({
            "label": label, "start": start, "end": end, "top_share": best,
            "loops": [{"id": r.loop, "share": r.dominant_share,
                       "low": wilson(round(r.dominant_share * RUNS), RUNS)[0],
                       "high": wilson(round(r.dominant_share * RUNS), RUNS)[1],
                       "median": r.median, "score_low": r.low, "score_high": r.high} for r in ranked],
        })
        named |= {r.loop for r in ranked}
    for period in periods:  # every named loop's share in every period (a loop can lead one and fade in another)
        period["shares"] = {r.loop: r.dominant_share for r in rows if r.period == period["label"] and r.loop in named}
    members = {str(i): {"polarity": str(p), "members": str(m).split(" -> "), "partition": int(k)}
               for i, p, m, k in zip(ds.loop.values, ds.polarity.values, ds.members.values, ds.partition.values)
               if str(i) in named}
    return {"runs": RUNS, "mode": ds.attrs["loop_mode"], "budget": ds.attrs["loop_budget"],
            "scored": int(ds.sizes["loop"]), "partitions": len(set(ds.partition.values.tolist())),
            "alone": [str(i) for i, a in zip(ds.loop.values, ds.alone.values) if a],
            "periods": periods, "members": members}


PARTS = {"outcomes": outcome_results, "streams": stream_results, "validation": validation_results,
         "loops": loop_results}


def regenerate(backend: str = "numba", only: list[str] | None = None, previous: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """Every figure of the card (or the parts named in ``only``), from the model file (slow)."""
    model = policylab.load(MODEL)
    results = dict(previous or {}) | {"runs": RUNS, "seed": SEED, "backend": backend}
    for part, compute in PARTS.items():
        if only is None or part in only:
            results[part] = compute(model, backend)
    return results


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    return value


def model_facts(model: policylab.Model) -> dict[str, Any]:
    """Tables drawn from the model file itself: events, levers, parameters, evidence."""
    ir = model.ir
    when = ir.time

    def date(t: float) -> str:
        import datetime as dt
        assert when.calendar_start is not None and when.days_per_unit is not None
        return str(when.calendar_start + dt.timedelta(days=round((t - when.start) * when.days_per_unit)))

    events = []
    for name, var in ir.variables.items():
        if isinstance(var, GeneratedEvent):
            events.append({"name": name, "kind": "generated", "how": var.hazard_text,
                           "record": ", ".join(date(t) for t in var.record) or "none", "doc": var.doc})
        elif isinstance(var, Event) and not name.endswith("_record"):
            events.append({"name": name, "kind": "exogenous", "how": var.why,
                           "record": ", ".join(date(t) for t in var.times), "doc": var.doc})
    levers = [{"name": n, "baseline": v.baseline, "range": v.range, "doc": v.doc,
               "path": ", ".join(f"{date(t)}: {x:g}" for t, x in zip(v.schedule.times, v.schedule.values))
               if v.schedule else "—"} for n, v in ir.variables.items() if isinstance(v, Lever)]
    params = [{"name": n, "value": v.value, "range": v.range, "units": v.units, "doc": v.doc, "basis": v.basis}
              for n, v in ir.variables.items() if isinstance(v, Constant) and v.judgement]
    facts = [{"name": n, "value": v.value, "units": v.units, "doc": v.doc, "source": v.source or "definition"}
             for n, v in ir.variables.items() if isinstance(v, Constant) and not v.judgement and n != "conditioned_until"]
    links = []
    for n, v in ir.variables.items():
        for ev in v.evidence:
            links.append({"from": ev.from_, "to": n, "sign": ev.sign, "kind": ev.kind,
                          "text": ev.quote if ev.kind == "source" else ev.reason, "supports": ev.supports})
    stocks = sum(1 for v in ir.variables.values() if isinstance(v, Stock))
    return {"events": events, "levers": levers, "params": params, "facts": facts, "links": links,
            "n_links": len(links), "n_quotes": sum(1 for lk in links if lk["kind"] == "source"),
            "n_stocks": stocks, "n_params": len(params),
            "scenarios": {n: s.doc for n, s in ir.scenarios.items()}, "outcomes": ir.outcomes}


def count(x: int) -> str:
    """A whole number with thousands separators."""
    return f"{x:,}"


def pct(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f} %"


def num(x: float | None) -> str:
    """Three significant figures, as every table of PolicyLab prints them."""
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{float(f'{x:.3g}'):,.0f}"
    return f"{x:.3g}"


def share_band(check: dict[str, Any]) -> str:
    """A validation share's interval, as ``policylab validate`` prints it (``CheckResult``): `` [a–b %]`` for a
    share of runs, with ``, weak`` when the interval holds the required share; nothing for shares of fixed items."""
    result = CheckResult("", check["kind"], check["scenario"], check["share"], check["required"], check["passed"],
                         check["counted"], check["total"])
    band = result.interval
    if band is None:
        return ""
    return f" [{100 * band[0]:.1f}–{100 * band[1]:.1f} %]" + (", weak" if result.weak else "")


def render() -> str:
    """The card: the template filled with the results file and the model file's own tables."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = pct
    env.filters["num"] = num
    env.filters["count"] = count
    env.filters["share_band"] = share_band
    env.filters["min_by_length"] = lambda items: min(items, key=lambda x: (len(x["variables"]), x["id"]), default=None)
    env.tests["superset"] = lambda have, need: set(need) <= set(have)
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    model = policylab.load(MODEL)
    return env.get_template(TEMPLATE.name).render(r=results, m=model_facts(model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["results", "render", "check"])
    parser.add_argument("--backend", default="numba", choices=["numpy", "numba", "auto"])
    parser.add_argument("--only", action="append", choices=list(PARTS),
                        help="regenerate only this part of the results file (repeat); the rest is kept")
    args = parser.parse_args(argv)
    if args.action == "results":
        previous = json.loads(RESULTS.read_text(encoding="utf-8")) if args.only and RESULTS.exists() else None
        results = regenerate(args.backend, args.only, previous)
        RESULTS.write_text(json.dumps(_clean(results), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return 0
    text = render()
    if args.action == "render":
        CARD.write_text(text, encoding="utf-8")
        return 0
    if CARD.read_text(encoding="utf-8") != text:
        print(f"{CARD} is not the rendering of {TEMPLATE} with {RESULTS}: run "
              "`python scripts/flagship_card.py render`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
