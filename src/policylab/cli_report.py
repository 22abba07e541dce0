"""CLI verbs ``report`` (one self-contained HTML report) and ``serve`` (the HTTP API and dashboard).

``policylab.cli`` calls :func:`register`. The CLI module is imported inside the commands
so that importing this module first does not re-enter a half-built ``policylab.cli``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from policylab.choices import Backend
from policylab.errors import UsageError

MODEL_SUFFIXES = (".yaml", ".yml", ".xmile", ".stmx", ".itmx")


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``serve`` to the ``policylab`` app."""
    app.command(name="report")(report)
    app.command(name="serve")(serve)


def _is_model_file(text: str) -> bool:
    return Path(text).suffix.lower() in MODEL_SUFFIXES or Path(text).is_file()


def report(
    target: Annotated[Optional[str], typer.Argument(metavar="MODEL_OR_RUN_ID", help="Model file, or the id of a stored exploration (see `policylab runs`); default: the flagship.")] = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
    scenario: Annotated[Optional[list[str]], typer.Option("--scenario", "-s", help="Scenario to include (repeat; default: all).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, max=100_000, help="Ensemble size per scenario for the fan charts.")] = 200,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root random seed (run k uses stream k).")] = 0,
    sources: Annotated[Optional[list[Path]], typer.Option("--sources", help="Extra folder to look for source documents in.")] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="Results store folder (default: $POLICYLAB_STORE, else ~/.policylab).")] = None,
    condition: Annotated[Optional[str], typer.Option("--condition", help="For a stored exploration: PRIM box for OUTCOME>=VALUE (default: each outcome's threshold).")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation engine for the fan charts: numpy, numba (compiled) or auto (numba if installed).")] = "auto",
) -> None:
    """Write one self-contained HTML report: fan charts, scenario comparison, causal-loop diagram, evidence, model card."""
    from policylab.api import check_backend, load
    from policylab.cli import _errors, default_model, err
    from policylab.report.build import build_report

    with _errors():
        check_backend(backend, "--backend")
        findings = None
        if target is None or _is_model_file(target):
            path = Path(target) if target is not None else default_model()
            model = load(path)
        else:
            model, findings = _stored(target, store, condition)
        extra = [str(s) for s in sources or []]
        progress = (lambda name: err.print(f"simulating {name} × {runs}", highlight=False)) if err.is_terminal else None
        html = build_report(model, scenario or None, runs, seed, extra, findings, progress, backend)
        output.write_text(html, encoding="utf-8")
        err.print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)", highlight=False)


def _stored(run_id: str, store_root: Path | None, condition: str | None):  # type: ignore[no-untyped-def]
    """The model and exploration findings of a stored run."""
    try:
        from policylab.store import RunNotFoundError, Store
    except ImportError as error:
        raise UsageError(f"{run_id!r} is not a model file, and this PolicyLab has no results store") from error
    from policylab.api import load
    from policylab.report.explored import findings_from_store, stored_model_path

    store = Store(store_root)
    try:
        model_path = stored_model_path(store, run_id)
    except RunNotFoundError as error:
        raise UsageError(f"{run_id!r} is neither a model file nor a stored run ({error})") from error
    if not model_path.is_file():
        raise UsageError(f"stored run {run_id} ran {model_path}, which no longer exists")
    model = load(model_path)
    return model, findings_from_store(store, run_id, model, condition)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    token: Annotated[Optional[str], typer.Option("--token", help="Require `Authorization: Bearer TOKEN` on the API (default: $POLICYLAB_TOKEN).")] = None,
    model: Annotated[Optional[list[Path]], typer.Option("--model", help="Model file to serve (repeat; default: every bundled model).")] = None,
    sources: Annotated[Optional[list[Path]], typer.Option("--sources", help="Extra folder to look for source documents in.")] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="Results store folder for explorations.")] = None,
    max_runs: Annotated[int, typer.Option("--max-runs", min=1, help="Largest ensemble one request may ask for.")] = 1000,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation engine: numpy, numba (compiled) or auto (numba if installed).")] = "auto",
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) and the dashboard at / ."""
    from policylab.api import check_backend, resolve_backend
    from policylab.cli import _errors, err, models_folder
    from policylab.server.config import ServerConfig, check_bind, discover_models

    with _errors():
        check_backend(backend, "--backend")
        secret = token or os.environ.get("POLICYLAB_TOKEN") or None
        check_bind(host, secret)
        registry = discover_models([Path(m) for m in model] if model else None, models_folder())
        config = ServerConfig(models=registry, token=secret, max_runs=max_runs,
                              sources=tuple(str(s) for s in sources or []), store_root=store, backend=backend)
        from policylab.server.runner import serve_forever

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/" + (f"#token={secret}" if secret else "")
        def bound() -> None:
            err.print(f"warming up the {resolve_backend(backend)} backend…", highlight=False)

        def ready() -> None:
            err.print(f"PolicyLab ready at {url}  (API reference at http://{shown}:{port}/docs; Ctrl+C to stop)",
                      highlight=False, markup=False)

        serve_forever(config, host, port, on_ready=ready, on_bound=bound)
