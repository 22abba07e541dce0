"""Dashboard latency and a loopback load test, against `policylab serve` running in its own process.

1. **Slider round trip**: POST /api/models/{id}/run with a new maximum-pressure level each
   time (so no cached answer), a 200-run ensemble of the flagship (else the SIR example's
   first lever) — the request the dashboard sends when a slider stops moving. Reports p50
   and p95 of the wall time from sending the request to having parsed the response.
2. **Two at once**: pairs of slider moves (new levels) sent one after the other, then both
   at once from two threads; the medians of each pair's wall time. With the server's two
   simulation slots running in parallel, a concurrent pair takes less than a sequential one.
3. **Load**: C concurrent clients for S seconds on loopback, each looping over what a
   dashboard user triggers — list and describe models, fetch link evidence and the
   diagram, and slider moves among a few positions (cached after the first) — and counts
   errors (any non-2xx or transport failure).

Slider moves run in the model's default scenario (the flagship's ``historical``, where a lever's
level holds from the start), or in ``--scenario`` (e.g. ``rebalance``, whose levels hold from its
policy date: the server resumes each move from the state kept there, ``simulate/resume.py``).

The server simulates with ``--backend`` (numpy, numba or auto — numba when installed, the
default, as for ``policylab serve``); it warms each model up before it answers, so the
time to start includes loading (or, after an installation, compiling) numba's machine code.

4. **Under attack** (``--attack``): the slider round trips again while an attacker on
   loopback sends, for as long as they last, the attacks of issue 16 — slider values far
   outside their ranges (1e20), slow clients holding connections with unfinished headers
   (up to ``--slow-clients`` at once), reads of a missing and of a damaged stored run,
   oversized and malformed bodies. Reports the slider p95 with and without the attacker
   and what the attacker got back (every answer should be a 4xx/5xx, never a hang).

5. **Against another checkout** (``--against ../main/src``): on a shared machine single runs vary
   by 2x from minute to minute, so this starts two servers at once — this checkout's and one
   running the other ``src`` folder — and alternates phases between them (``--rounds`` rounds,
   each: slider moves, pairs, and with ``--attack`` slider moves under attack, on one server
   then the other, the order swapped every round), so both see the same load. Reports the
   same figures per server over all rounds, with the load average at the start and end.

Usage: python benchmarks/latency.py [--requests 30] [--pairs 10] [--clients 50] [--seconds 30] [--runs 200] [--backend auto]
       [--attack] [--slow-clients 200] [--against OTHER/src --rounds 4] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import random
import socket
import tempfile
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "iraq_dialogue" / "model.yaml"
SIR = ROOT / "models" / "sir" / "model.yaml"
START_SECONDS = int(os.environ.get("POLICYLAB_BENCH_START_SECONDS", "300"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: Path, port: int, backend: str = "auto", store: Path | None = None,
                 src: Path | None = None) -> subprocess.Popen:
    """``policylab serve`` on ``model`` (from the ``src`` folder given, else the installed package)."""
    exe = Path(sys.executable).with_name("policylab")
    env = dict(os.environ)
    env.setdefault("POLICYLAB_SOURCES", str(ROOT.parent / "shared" / "seed"))
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    if store is not None:
        env["POLICYLAB_STORE"] = str(store)
    # the server's log goes to a file: a pipe nobody reads fills up (64 KiB) and then blocks the server's logging
    log = tempfile.NamedTemporaryFile(prefix="policylab-latency-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen([str(exe), "serve", "--port", str(port), "--model", str(model), "--backend", backend],
                               env=env, stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    deadline = time.monotonic() + START_SECONDS  # the first start after an installation compiles numba's kernels
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {Path(log.name).read_text(errors='replace')[-4000:]}")
    process.terminate()
    raise SystemExit(f"the server did not start within {START_SECONDS} s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def move(runs: int, lever: str, level: float, scenario: str | None = None) -> dict[str, object]:
    """A slider move's request body (the model's default scenario unless ``scenario`` is given)."""
    body: dict[str, object] = {"runs": runs, "params": {lever: level}}
    if scenario is not None:
        body["scenario"] = scenario
    return body


def slider_round_trips(base: str, model_id: str, lever: str, runs: int, requests: int,
                       offset: float = 0.5, scenario: str | None = None) -> dict[str, object]:
    """``requests`` slider moves, each to a level no earlier call used (``offset`` in (0, 1) picks the set)."""
    wall, server, engines, refused = [], [], set(), []
    with httpx.Client(base_url=base, timeout=300) as client:
        started = time.perf_counter()  # the first slider move after the server started (it warms up before answering)
        client.post(f"/api/models/{model_id}/run", json=move(runs, lever, 0.999, scenario)).raise_for_status()
        first = 1000 * (time.perf_counter() - started)
        for i in range(requests):
            level = round((i + offset) / requests, 6)  # a new level every time: no cache hit
            started = time.perf_counter()
            response = client.post(f"/api/models/{model_id}/run", json=move(runs, lever, level, scenario))
            if response.status_code >= 300:  # refused (e.g. every connection taken): the user sees no answer
                refused.append(response.status_code)
                continue
            response.json()
            wall.append(1000 * (time.perf_counter() - started))
            server.append(response.json()["elapsed_ms"])
            engines.add(response.json().get("backend", "?"))
    return {"p50_ms": percentile(wall, 0.5), "p95_ms": percentile(wall, 0.95), "mean_ms": statistics.fmean(wall),
            "server_p50_ms": percentile(server, 0.5), "server_p95_ms": percentile(server, 0.95), "n": len(wall),
            "first_ms": first, "refused": refused,
            "backend": ",".join(sorted(engines)), "wall": wall, "server": server}


def slider_pairs(base: str, model_id: str, lever: str, runs: int, pairs: int, offset: float = 0.25,
                 scenario: str | None = None) -> dict[str, object]:
    """Median wall time of two slider moves in sequence and of two sent at once (each a new level; ``offset`` as above)."""
    from concurrent.futures import ThreadPoolExecutor

    def moved(client: httpx.Client, level: float) -> None:
        client.post(f"/api/models/{model_id}/run", json=move(runs, lever, level, scenario)).raise_for_status()

    sequential, concurrent = [], []
    with httpx.Client(base_url=base, timeout=300) as one, httpx.Client(base_url=base, timeout=300) as two, \
            ThreadPoolExecutor(max_workers=2) as pool:
        for i in range(pairs):
            a, b, c, d = (round((4 * i + k + offset) / (4 * pairs), 6) for k in range(4))
            started = time.perf_counter()
            moved(one, a)
            moved(one, b)
            sequential.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            list(pool.map(lambda job: moved(*job), [(one, c), (two, d)]))
            concurrent.append(1000 * (time.perf_counter() - started))
    return {"sequential_ms": statistics.median(sequential), "concurrent_ms": statistics.median(concurrent), "n": pairs,
            "sequential": sequential, "concurrent": concurrent}


async def _client(base: str, model_id: str, lever: str, link: tuple[str, str] | None, runs: int, stop: float,
                  rng: random.Random, latencies: dict[str, list[float]], errors: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        while time.monotonic() < stop:
            roll = rng.random()
            if roll < 0.25:
                kind, request = "list", client.get("/api/models")
            elif roll < 0.5:
                kind, request = "describe", client.get(f"/api/models/{model_id}")
            elif roll < 0.65 and link is not None:
                kind, request = "evidence", client.get(f"/api/models/{model_id}/links/{link[0]}/{link[1]}")
            elif roll < 0.75:
                kind, request = "diagram", client.get(f"/api/models/{model_id}/diagram.svg")
            else:
                level = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0])
                kind, request = "slider", client.post(f"/api/models/{model_id}/run",
                                                      json={"runs": runs, "params": {lever: level}})
            started = time.perf_counter()
            try:
                response = await request
                if response.status_code >= 300:
                    errors.append(f"{kind}: HTTP {response.status_code}")
            except httpx.HTTPError as error:
                errors.append(f"{kind}: {type(error).__name__}")
                continue
            latencies.setdefault(kind, []).append(1000 * (time.perf_counter() - started))


def load_test(base: str, model_id: str, lever: str, link: tuple[str, str] | None, runs: int, clients: int,
              seconds: float) -> tuple[dict[str, list[float]], list[str], float]:
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    started = time.monotonic()
    stop = started + seconds

    async def main() -> None:
        await asyncio.gather(*(_client(base, model_id, lever, link, runs, stop, random.Random(i), latencies, errors)
                               for i in range(clients)))

    asyncio.run(main())
    return latencies, errors, time.monotonic() - started


def damaged_store(folder: Path) -> str:
    """A store holding one exploration whose first chunk is truncated; returns its run id."""
    from policylab.explore import ExploreRequest, start
    from policylab.scale import InProcess
    from policylab.store import Store

    store = Store(folder)
    run_id = start(policylab_load(SIR), ExploreRequest(samples=20, backend="numpy"), store, InProcess(), chunk_size=10)
    chunk = folder / store.info(run_id).chunks["outcomes_file"][0]
    chunk.write_bytes(chunk.read_bytes()[:100])
    return run_id


def policylab_load(path: Path):  # type: ignore[no-untyped-def]
    import policylab

    return policylab.load(path)


class Attacker(multiprocessing.Process):
    """Sends issue 16's attacks at ``base`` until ``stop`` is set (a bounded loop: at most ``limit`` requests).

    A process of its own, as a real attacker is: in a thread of this process it would hold the
    GIL against the slider client being timed, and its own Python would count as the server's latency.
    """

    def __init__(self, base: str, model_id: str, lever: str, damaged_run: str, slow_clients: int,
                 limit: int = 20_000) -> None:
        super().__init__(name="attacker", daemon=True)
        self.base, self.model_id, self.lever, self.damaged_run = base, model_id, lever, damaged_run
        self.slow_clients, self.limit = slow_clients, limit
        self.stop = multiprocessing.Event()
        self.results: multiprocessing.Queue = multiprocessing.Queue()
        self.answers: dict[str, dict[int | str, int]] = {}

    def collect(self) -> None:
        """Stop the attacker and read back what it got (its answers live in its own process)."""
        self.stop.set()
        try:
            self.answers = self.results.get(timeout=60)
        except queue.Empty:
            self.answers = {"attacker": {"no report": 1}}
        self.join(timeout=60)

    def _note(self, kind: str, status: int | str) -> None:
        counts = self.answers.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1

    def run(self) -> None:
        host, port = self.base.removeprefix("http://").split(":")
        held: list[socket.socket] = []
        attacks = [
            ("out-of-range slider", "POST", f"/api/models/{self.model_id}/run", {"json": {"params": {self.lever: 1e20}}}),
            ("missing run", "GET", "/api/runs/20200101-000000-abcdef", {}),
            ("damaged run", "GET", f"/api/runs/{self.damaged_run}", {}),
            ("oversized body", "POST", f"/api/models/{self.model_id}/run", {"content": b"{" + b" " * 200_000 + b"}",
                                                                          "headers": {"content-type": "application/json"}}),
            ("malformed body", "POST", f"/api/models/{self.model_id}/run", {"content": b"{\"runs\": [[[[",
                                                                          "headers": {"content-type": "application/json"}}),
        ]
        sent = 0
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set() and sent < self.limit:
                for kind, method, path, extra in attacks:
                    try:
                        self._note(kind, client.request(method, path, **extra).status_code)
                    except httpx.HTTPError as error:
                        self._note(kind, type(error).__name__)
                    sent += 1
                held = [s for s in held if s.fileno() != -1]
                while len(held) < self.slow_clients:
                    try:
                        sock = socket.create_connection((host, int(port)), timeout=5)
                        sock.setblocking(False)
                        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                        held.append(sock)
                        self._note("slow client", "opened")
                    except OSError as error:
                        self._note("slow client", type(error).__name__)
                        break
                for sock in list(held):
                    try:
                        if sock.recv(1, socket.MSG_PEEK) == b"":
                            self._note("slow client", "closed by server")
                            sock.close()
                            held.remove(sock)
                    except BlockingIOError:
                        pass
                    except OSError:
                        sock.close()
                        held.remove(sock)
        for sock in held:
            sock.close()
        self.results.put(self.answers)


def _served(base: str) -> tuple[str, str, tuple[str, str] | None, dict]:
    """The served model's id, the lever to move (maximum pressure, else the first), a sourced link, its description."""
    model_id = httpx.get(f"{base}/api/models", timeout=60).json()[0]["id"]
    described = httpx.get(f"{base}/api/models/{model_id}", timeout=300).json()
    names = [lv["name"] for lv in described["levers"]]
    lever = "maximum_pressure" if "maximum_pressure" in names else names[0]
    sourced = [lk for lk in described["links"] if lk["evidence"]]
    link = (sourced[0]["source"], sourced[0]["target"]) if sourced else None
    return model_id, lever, link, described


def _attacked_trips(base: str, model_id: str, lever: str, damaged_run: str, args: argparse.Namespace,
                    offset: float) -> tuple[dict[str, object], Attacker]:
    """Slider round trips while an attacker process runs against the same server."""
    attacker = Attacker(base, model_id, lever, damaged_run, args.slow_clients)
    attacker.start()
    try:
        return slider_round_trips(base, model_id, lever, args.runs, args.requests, offset=offset,
                                  scenario=args.scenario), attacker
    finally:
        attacker.collect()


def _summary(wall: list[float], server: list[float]) -> str:
    return (f"p50 {percentile(wall, 0.5):4.0f} ms, p95 {percentile(wall, 0.95):4.0f} ms (inside the server "
            f"p50 {percentile(server, 0.5):4.0f}, p95 {percentile(server, 0.95):4.0f}; n={len(wall)})")


def interleaved(args: argparse.Namespace, model: Path, store: Path, damaged_run: str) -> None:
    """This checkout's server against one running ``args.against``, both up at once, phases alternating."""
    sources = {"this checkout": ROOT / "src", f"against {args.against}": Path(args.against).resolve()}
    servers, bases = {}, {}
    try:
        for name, src in sources.items():
            port = _free_port()
            servers[name] = start_server(model, port, args.backend, store, src)
            bases[name] = f"http://127.0.0.1:{port}"
        model_id, lever, _, described = _served(next(iter(bases.values())))
        print(f"model {described['name']} ({described['time']['n_steps']} steps), lever {lever}, {args.runs}-run "
              f"ensembles, {os.cpu_count()} CPUs; {args.rounds} rounds of {args.requests} moves, {args.pairs} pairs"
              + (f", {args.requests} moves under attack" if args.attack else "") + f" per server; load average "
              f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in bases}
        phases = 2 * args.rounds  # each server's phases get levels no other phase used: nothing is cached
        for r in range(args.rounds):
            for name in (list(bases) if r % 2 == 0 else list(reversed(bases))):
                base, got = bases[name], figures[name]
                trips = slider_round_trips(base, model_id, lever, args.runs, args.requests, offset=(2 * r + 0.5) / phases,
                                           scenario=args.scenario)
                got.setdefault("wall", []).extend(trips["wall"])  # type: ignore[arg-type]
                got.setdefault("server", []).extend(trips["server"])  # type: ignore[arg-type]
                pairs = slider_pairs(base, model_id, lever, args.runs, args.pairs, offset=(r + 0.5) / args.rounds,
                                     scenario=args.scenario)
                got.setdefault("sequential", []).extend(pairs["sequential"])  # type: ignore[arg-type]
                got.setdefault("concurrent", []).extend(pairs["concurrent"])  # type: ignore[arg-type]
                if args.attack:
                    attacked, _ = _attacked_trips(base, model_id, lever, damaged_run, args, (2 * r + 1.5) / phases)
                    got.setdefault("attack wall", []).extend(attacked["wall"])  # type: ignore[arg-type]
                    got.setdefault("attack server", []).extend(attacked["server"])  # type: ignore[arg-type]
            print(f"  round {r + 1} done, load average {os.getloadavg()[0]:.2f}", flush=True)
        for name, got in figures.items():
            print(f"{name}:\n  slider round trip: {_summary(got['wall'], got['server'])}")
            if args.attack:
                print(f"  under attack:      {_summary(got['attack wall'], got['attack server'])}")
            print(f"  two moves (medians of {len(got['sequential'])} pairs): one after the other "
                  f"{statistics.median(got['sequential']):.0f} ms, both at once {statistics.median(got['concurrent']):.0f} ms")
        print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="slider round trips to time")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients in the load test")
    parser.add_argument("--seconds", type=float, default=30, help="length of the load test")
    parser.add_argument("--runs", type=int, default=200, help="ensemble size per slider move")
    parser.add_argument("--pairs", type=int, default=10, help="pairs of slider moves, in sequence and at once")
    parser.add_argument("--backend", default="auto", choices=["numpy", "numba", "auto"], help="the server's backend")
    parser.add_argument("--attack", action="store_true", help="also time the slider while an attacker runs")
    parser.add_argument("--slow-clients", type=int, default=200, help="connections the attacker holds half-open")
    parser.add_argument("--against", metavar="SRC", help="another checkout's src folder: compare, phases interleaved")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of phases with --against")
    parser.add_argument("--scenario", help="the scenario slider moves run in (default: the model's default)")
    args = parser.parse_args()
    model = FLAGSHIP if FLAGSHIP.exists() else SIR
    store = Path(tempfile.mkdtemp(prefix="policylab-latency-")) / "store"
    damaged_run = damaged_store(store) if args.attack else ""
    if args.against:
        interleaved(args, model, store, damaged_run)
        return
    port = _free_port()
    began = time.monotonic()
    server = start_server(model, port, args.backend, store)
    ready = time.monotonic() - began
    base = f"http://127.0.0.1:{port}"
    try:
        model_id, lever, link, described = _served(base)
        steps = described["time"]["n_steps"]
        print(f"model {described['name']} ({steps} steps), lever {lever}, {args.runs}-run ensembles, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; server ready in {ready:.1f} s")
        trips = slider_round_trips(base, model_id, lever, args.runs, args.requests, scenario=args.scenario)
        print(f"slider round trip ({trips['n']} requests, each a new level, backend {trips['backend']}): "
              f"p50 {trips['p50_ms']:.0f} ms, p95 {trips['p95_ms']:.0f} ms, mean {trips['mean_ms']:.0f} ms "
              f"(inside the server: p50 {trips['server_p50_ms']:.0f} ms, p95 {trips['server_p95_ms']:.0f} ms); "
              f"target p95 < 150 ms; the first move after start took {trips['first_ms']:.0f} ms; "
              f"load average now {os.getloadavg()[0]:.2f}")
        both = slider_pairs(base, model_id, lever, args.runs, args.pairs, scenario=args.scenario)
        print(f"two slider moves ({both['n']} pairs, medians): one after the other {both['sequential_ms']:.0f} ms, "
              f"both at once {both['concurrent_ms']:.0f} ms")
        if args.attack:
            attacked, attacker = _attacked_trips(base, model_id, lever, damaged_run, args, offset=0.25)
            print(f"slider round trip under attack ({attacked['n']} requests): p50 {attacked['p50_ms']:.0f} ms, "
                  f"p95 {attacked['p95_ms']:.0f} ms (without: p95 {trips['p95_ms']:.0f} ms; inside the server under "
                  f"attack: p50 {attacked['server_p50_ms']:.0f} ms, p95 {attacked['server_p95_ms']:.0f} ms); "
                  "target p95 < 150 ms; "
                  f"refused: {len(attacked['refused'])} {sorted(set(attacked['refused']))}")
            for kind, counts in attacker.answers.items():
                print(f"  attacker {kind:20s} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))
        latencies, errors, elapsed = load_test(base, model_id, lever, link, args.runs, args.clients, args.seconds)
        total = sum(len(v) for v in latencies.values())
        print(f"load: {args.clients} clients for {elapsed:.0f} s: {total} responses ({total / elapsed:.0f}/s), "
              f"{len(errors)} errors" + (f" (first: {errors[0]})" if errors else ""))
        for kind, values in sorted(latencies.items()):
            print(f"  {kind:9s} n={len(values):6d}  p50 {percentile(values, 0.5):7.0f} ms  p95 {percentile(values, 0.95):7.0f} ms")
        if errors:
            raise SystemExit(1)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
