"""After ``kill -9`` of a multi-worker ``explore``, no PolicyLab process remains (workers nor resource tracker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOISY = ROOT / "tests" / "explore" / "noisy.yaml"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.timeout(600)
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_of_a_two_worker_explore_leaves_no_process_behind(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "POLICYLAB_STORE": str(tmp_path / "store")}
    command = [sys.executable, "-c", "from policylab.cli import main; main()", "explore", str(NOISY),
               "--runs", "200000", "--chunk-size", "500", "--workers", "2", "--backend", "numpy", "--quiet"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # generous: spawning two interpreters on a loaded machine
        workers: list[psutil.Process] = []
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            workers = [p for p in _descendants(proc.pid) if "resource_tracker" not in " ".join(p.cmdline())]
            time.sleep(0.5)
        assert proc.poll() is None, "explore finished before it could be killed; give it more runs"
        assert len(workers) >= 2, "the workers never started"
        left = _descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    gone, alive = psutil.wait_procs(left, timeout=120)
    assert not alive, f"still running after the parent was killed: {[p.cmdline() for p in alive]}"
