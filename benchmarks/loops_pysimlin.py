"""Relative loop scores: PolicyLab against pysimlin (Simlin's Loops That Matter) on the same XMILE models.

    PYTHONPATH=src .venv/bin/python benchmarks/loops_pysimlin.py [--flagship] [FILE.xmile ...]

Default models: ../shared/benchmarks/teacup.xmile and rivals.xmile, the small models with
SMTH1 and DELAY3 in a loop under benchmarks/models/, and every model of the XMILE suite (../shared/conformance/xmile) that has a feedback loop. ``--flagship`` adds the
flagship's XMILE export (`write_xmile`) run deterministically. For each model: the loops each
tool finds (matched by their variables), and the largest difference of relative loop scores
on the loops both find, over every step after the start (both tools label the score of
[t - dt, t] with t; at the start PolicyLab writes NaN, Simlin 0). Prints a Markdown table
(docs/loops.md carries it); asserts nothing. Needs the `bench` extra (pysimlin).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _simlin_loops(path: Path):  # type: ignore[no-untyped-def]
    import simlin

    model = simlin.load(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = model.run(analyze_loops=True)
    # a loop through a builtin (SMTH1, DELAY3) names its module node, "$⁚births⁚0⁚smth1": the builtin sits
    # inside the variable that calls it (births), so the loop's variables are the others
    found: dict[tuple[str, ...], list] = {}
    for loop in run.loops:
        found.setdefault(tuple(sorted(v for v in loop.variables if not v.startswith("$"))), []).append(loop)
    return run.ltm_mode, found


def _ours(path: Path):  # type: ignore[no-untyped-def]
    from policylab.api import load

    model = load(path)
    ds = model.loops(backend="numpy", deterministic=True)
    members = {tuple(sorted(m.split(" -> ")[:-1])): str(i) for i, m in zip(ds.loop.values, ds.members.values)}
    return ds, members


def compare(path: Path, label: str) -> dict[str, object]:
    """One model's row: loops found by each, shared, largest |Δ relative score|, and what differs."""
    row: dict[str, object] = {"model": label}
    try:
        ds, mine = _ours(path)
    except Exception as error:  # noqa: BLE001 - reported in the table, not raised
        ds, mine, ours_error = None, {}, str(error)
    try:
        mode, theirs = _simlin_loops(path)
    except Exception as error:  # noqa: BLE001 - a peer's failure is reported, not raised
        if ds is None and "no feedback loop" in ours_error:
            return {**row, "note": "no feedback loop"}
        return {**row, "note": f"{len(mine)} loops here; pysimlin cannot run it: {str(error)[:70]}"}
    if ds is None:
        if not theirs:
            return {**row, "note": "no feedback loop"}
        return {**row, "note": f"pysimlin finds {len(theirs)} loops; PolicyLab failed: {ours_error[:80]}"}
    shared = sorted(set(mine) & set(theirs))
    worst, worst_loop = 0.0, ""
    merged = [mine[k] for k in shared if len(theirs[k]) > 1]
    for key in shared:
        if len(theirs[key]) > 1:
            continue  # pysimlin scores each path through a builtin as its own loop; PolicyLab one composite
        ours = ds.relative_score.sel(loop=mine[key]).isel(run=0).values
        simlin = np.asarray(theirs[key][0].behavior_time_series, dtype=float)
        n = min(len(ours), len(simlin))
        diff = float(np.nanmax(np.abs(ours[1:n] - simlin[1:n]))) if n > 1 else 0.0
        if diff > worst:
            worst, worst_loop = diff, mine[key]
    return {**row, "ours": len(mine), "simlin": sum(len(v) for v in theirs.values()), "shared": len(shared),
            "mode": mode, "merged": merged,
            "only_ours": [mine[k] for k in mine if k not in theirs],
            "only_simlin": [" -> ".join(k) for k in theirs if k not in mine],
            "max_diff": worst, "worst": worst_loop}


def _models(args: argparse.Namespace) -> list[tuple[Path, str]]:
    if args.files:
        return [(Path(f), Path(f).name) for f in args.files]
    found = [(SHARED / "benchmarks" / "teacup.xmile", "benchmarks/teacup"), (SHARED / "benchmarks" / "rivals.xmile", "benchmarks/rivals")]
    found += [(p, f"benchmarks/models/{p.stem}") for p in sorted((ROOT / "benchmarks" / "models").glob("*.xmile"))]
    suite = SHARED / "conformance" / "xmile"
    found += [(p, str(p.relative_to(suite).with_suffix(""))) for p in sorted(suite.rglob("*.xmile"))]
    if args.flagship:
        from policylab.api import load
        from policylab.formats.xmile.writer import write_xmile

        text = write_xmile(load(ROOT / "models" / "iraq_dialogue" / "model.yaml").ir)
        path = Path(tempfile.mkdtemp()) / "iraq_dialogue.xmile"
        path.write_text(text, encoding="utf-8")
        found.append((path, "flagship (XMILE export)"))
    return found


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--flagship", action="store_true")
    parser.add_argument("--all", action="store_true", help="also list suite models without loops")
    args = parser.parse_args()
    print("| model | loops (ours / pysimlin / both) | max abs. diff. of relative scores | note |")
    print("|---|---|---|---|")
    for path, label in _models(args):
        row = compare(path, label)
        if row.get("note") == "no feedback loop" and not args.all:
            continue
        if "shared" not in row:
            print(f"| {label} | | | {row.get('note', '')} |")
            continue
        notes = []
        if row["only_ours"]:
            notes.append(f"only PolicyLab: {', '.join(row['only_ours'][:3])}")  # type: ignore[index]
        if row["only_simlin"]:
            notes.append(f"only pysimlin: {'; '.join(row['only_simlin'][:3])}")  # type: ignore[index]
        if row["merged"]:
            notes.append(f"pysimlin scores the direct path and the path through a builtin as two loops, PolicyLab "
                         f"as one with the composite link score (not compared, and the partition's other loops "
                         f"differ for it): {', '.join(row['merged'])}")  # type: ignore[arg-type]
        if row["mode"] != "exhaustive":
            notes.append(f"pysimlin mode {row['mode']}")
        print(f"| {label} | {row['ours']} / {row['simlin']} / {row['shared']} | {row['max_diff']:.1e} | {'; '.join(notes)} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
