"""How long `policylab --help`, `--version` and `run --help` take, each in a fresh process (median of N).

Run: .venv/bin/python benchmarks/cli_startup.py [N]. The target (issue 20) is under 0.5 s; the
test suite checks the cause (no engine import at help time), never the time.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = (["--version"], ["--help"], ["run", "--help"])


def main(repeat: int = 7) -> None:
    print(f"python -c pass, median of {repeat}: {_median([sys.executable, '-c', 'pass'], repeat) * 1000:.0f} ms")
    for args in COMMANDS:
        seconds = _median([sys.executable, "-m", "policylab", *args], repeat)
        print(f"policylab {' '.join(args)}: {seconds * 1000:.0f} ms")


def _median(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
