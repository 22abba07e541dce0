"""The Vensim conformance suite side by side: PolicyLab and PySD on the same 106 .mdl files, one rule.

Each case listed in ``../shared/conformance/vensim/TESTS.txt`` is run by PolicyLab
(``policylab.conformance.run_test``, what ``policylab conformance`` prints) and by PySD
(``pysd.read_vensim(copy).run(return_timestamps=expected times)`` on a copy of the case's
folder in a temporary directory, since PySD writes a ``.py`` file beside each model). Both
are compared with the expected output by the same function (``policylab.conformance.compare``:
names compared XMILE-style, every cell within ``1e-5 + 1e-5·|actual|``). The table gives
each case's result for both tools with the first reason of a failure; the totals are the
acceptance figure of issue 19.

Usage::

    pip install -e '.[bench]'                                   # PySD 3.14
    .venv/bin/python benchmarks/vensim_suite.py                 # about 7 minutes (PySD most of it)
    .venv/bin/python benchmarks/vensim_suite.py --no-pysd       # PolicyLab only
    .venv/bin/python benchmarks/vensim_suite.py --round-trips   # .mdl -> .yaml -> .xmile, about a minute

Writes ``benchmarks/results/vensim_suite.{json,md}``. With ``--round-trips`` it measures instead the
round trips of issue 19: every case PolicyLab passes is written as YAML, read back, written as XMILE
and read back (``policylab.conformance.round_trip``), and its deterministic results are compared with
the ``.mdl``'s at 1e-9 relative (``policylab.conformance.same_results``); one line a case, the count
last, nothing written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from policylab.conformance import (ROUND_TRIP_RTOL, column_key, compare, expected_file, find_tests, read_expected,
                                   run_round_trip, run_test)

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT.parent / "shared" / "conformance" / "vensim"
RESULTS = ROOT / "benchmarks" / "results"


def _short(message: str, width: int = 110) -> str:
    """The first line of a reason, without the long path of the suite, cut to ``width``."""
    text = message.splitlines()[0] if message else ""
    text = text.replace(str(SUITE) + "/", "").replace("../shared/conformance/vensim/", "")
    return text if len(text) <= width else text[: width - 1] + "…"


def run_pysd(path: Path) -> tuple[bool, str]:
    """PySD's verdict on one case, run on a copy of its folder."""
    import pysd

    expected_path = expected_file(path)
    if expected_path is None:
        return False, "no expected output"
    expected = read_expected(expected_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, copy)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = pysd.read_vensim(str(copy / path.name))
                frame = model.run(return_timestamps=[float(t) for t in expected.times if not np.isnan(t)],
                                  flatten_output=True)
        except Exception as err:  # noqa: BLE001 - any failure of the peer is its verdict
            return False, f"{type(err).__name__}: {err}"
    times = np.asarray(frame.index, dtype=float)
    actual = {column_key(str(name)): np.asarray(frame[name], dtype=float) for name in frame.columns}
    problem = compare(expected, times, actual)
    return problem is None, problem or ""


def round_trips(suite: Path) -> int:
    """Print the round trip of every case PolicyLab passes, one line each, and the count; how many failed."""
    passed = tried = 0
    for path in find_tests(suite):
        case = path.relative_to(suite).as_posix()
        if not run_test(path).passed:
            print(f"SKIP {case}: does not pass conformance", flush=True)
            continue
        start = time.process_time()
        outcome = run_round_trip(path)
        tried += 1
        passed += outcome.passed
        verdict = "same" if outcome.passed else f"DIFFERS: {_short(outcome.message, 160)}"
        print(f"{case}: {verdict} ({time.process_time() - start:.1f} s CPU)", flush=True)
    print(f"{passed} of {tried} passing cases give the same results (rtol {ROUND_TRIP_RTOL:g}) after "
          ".mdl -> .yaml -> .xmile")
    return tried - passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=SUITE, help="folder of the Vensim suite (with TESTS.txt)")
    parser.add_argument("--no-pysd", action="store_true", help="run PolicyLab only")
    parser.add_argument("--round-trips", action="store_true",
                        help="measure the .mdl -> .yaml -> .xmile round trips of the cases PolicyLab passes")
    args = parser.parse_args()
    if args.round_trips:
        raise SystemExit(1 if round_trips(args.suite) else 0)
    rows = []
    seconds = {"policylab": 0.0, "pysd": 0.0}
    for path in find_tests(args.suite):
        case = path.relative_to(args.suite).as_posix()
        start = time.perf_counter()
        outcome = run_test(path)
        seconds["policylab"] += time.perf_counter() - start
        row = {"case": case, "policylab": outcome.passed, "policylab_reason": _short(outcome.message)}
        if not args.no_pysd:
            start = time.perf_counter()
            passed, reason = run_pysd(path)
            seconds["pysd"] += time.perf_counter() - start
            row.update({"pysd": passed, "pysd_reason": _short(reason)})
        rows.append(row)
        print(f"{case}: PolicyLab {'PASS' if row['policylab'] else 'FAIL'}"
              + ("" if args.no_pysd else f", PySD {'PASS' if row['pysd'] else 'FAIL'}"), flush=True)
    totals = {tool: sum(bool(r.get(tool)) for r in rows) for tool in ("policylab", "pysd")}
    lines = [f"# Vensim conformance suite: {len(rows)} cases", "",
             f"PolicyLab passes {totals['policylab']} of {len(rows)} ({seconds['policylab']:.0f} s)"
             + ("" if args.no_pysd else f"; PySD passes {totals['pysd']} of {len(rows)} ({seconds['pysd']:.0f} s)")
             + ". Rule: `../shared/conformance/xmile/README.md`.", "",
             "| case | PolicyLab | PySD | why PolicyLab fails | why PySD fails |", "|---|---|---|---|---|"]
    for r in rows:
        mark = {True: "pass", False: "FAIL", None: "—"}
        reason_pl = r["policylab_reason"].replace("|", "\\|") if not r["policylab"] else ""
        reason_py = r.get("pysd_reason", "").replace("|", "\\|") if r.get("pysd") is False else ""
        lines.append(f"| {r['case']} | {mark[r['policylab']]} | {mark[r.get('pysd')]} | {reason_pl} | {reason_py} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vensim_suite.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "vensim_suite.json").write_text(json.dumps({"totals": totals, "seconds": seconds, "cases": rows},
                                                          indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines[:3]))


if __name__ == "__main__":
    main()
