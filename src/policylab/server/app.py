"""The FastAPI app: the HTTP API under ``/api``, the dashboard at ``/``, the schema at ``/openapi.json``.

``create_app(config)`` builds everything from a :class:`ServerConfig` fixed at start.
Handlers are thin: they look the model up in the catalogue (by id — never a path),
delegate to the simulator, catalogue or job queue, and return pydantic models.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import anyio
import plotly
from swagger_ui_bundle import swagger_ui_path
from fastapi import FastAPI, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from policylab.api import __version__
from policylab.compile.graph import suggest
from policylab.errors import PolicyLabError, UsageError
from policylab.report.card import model_card_html
from policylab.report.diagram import DiagramError
from policylab.server import problems
from policylab.server import schemas as s
from policylab.server.catalogue import Catalogue, Entry
from policylab.server.config import ServerConfig
from policylab.server.guards import Guards
from policylab.server.jobs import Busy, Jobs, Unavailable
from policylab.server.simulation import Overloaded, Simulator, warm_up
from policylab.server.stored import StoredRuns

log = logging.getLogger("policylab.server")
ModelId = Annotated[str, PathParam(min_length=1, max_length=200, description="A model id from GET /api/models.")]
VarName = Annotated[str, PathParam(min_length=1, max_length=200)]
JobId = Annotated[str, PathParam(min_length=1, max_length=64)]
RunId = Annotated[str, PathParam(min_length=1, max_length=64)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such model, link, job or run"}}
BUSY: dict[int | str, dict[str, Any]] = {503: {"description": "Too many simulations waiting; retry shortly"}}
STORE_BUSY: dict[int | str, dict[str, Any]] = {503: {"description": "The store is busy being written; retry shortly"},
                                                500: {"description": "The stored run is damaged"}}
STATIC = resources.files("policylab.server").joinpath("static")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _entry(catalogue: Catalogue, model_id: str) -> Entry:
    entry = catalogue.get(model_id)
    if entry is None:
        raise HTTPException(404, f"no model {model_id!r}.{suggest(model_id, catalogue.entries)} "
                                 f"This server has: {', '.join(catalogue.entries) or '(none)'}")
    return entry


def create_app(config: ServerConfig) -> Guards:
    """The ASGI application: the FastAPI app behind the request guards."""
    catalogue = Catalogue(config)
    simulator = Simulator(config)
    jobs = Jobs(config)
    stored = StoredRuns(config)
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if config.warm_up:  # before the first request is accepted: the first slider move is as quick as the rest
            await anyio.to_thread.run_sync(_warm_up, catalogue, config)
        yield
        jobs.close()

    app = FastAPI(title="PolicyLab", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Run, compare and explore the system-dynamics models this server was started with. "
                              "Errors are RFC 7807 problem details naming the offending field.")
    app.state.catalogue, app.state.simulator, app.state.jobs, app.state.config = catalogue, simulator, jobs, config
    problems.install(app)

    @app.get("/api/health", tags=["server"])
    def health() -> dict[str, str]:
        """Liveness: the server answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/models", tags=["models"])
    def list_models() -> list[s.ModelSummary]:
        """The models this server was started with."""
        return [catalogue.summary(e) for e in catalogue.entries.values()]

    @app.get("/api/models/{model_id}", tags=["models"], responses=NOT_FOUND)
    def describe_model(model_id: ModelId) -> s.ModelDescription:
        """Variables with units, levers, judgement parameters, scenarios, events, causal links with evidence, loops."""
        return catalogue.describe(_entry(catalogue, model_id))

    @app.get("/api/models/{model_id}/card", tags=["models"], responses=NOT_FOUND)
    def model_card(model_id: ModelId) -> s.ModelCard:
        """The model card: the README.md beside the model file, rendered."""
        return s.ModelCard(html=model_card_html(_entry(catalogue, model_id).model.ir))

    @app.get("/api/models/{model_id}/validation", tags=["models"], responses={**NOT_FOUND, **BUSY})
    async def model_validation(model_id: ModelId) -> s.ValidationTable:
        """The model's checks (`checks:`, holdouts aside) and units, as `policylab validate` reports them."""
        try:
            return await simulator.validation(_entry(catalogue, model_id))
        except Overloaded as error:
            raise HTTPException(503, str(error), headers={"retry-after": "1"}) from error

    @app.get("/api/models/{model_id}/diagram.svg", tags=["models"], response_class=Response,
             responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}, "description": "SVG"},
                        **NOT_FOUND, 503: {"description": "Graphviz is not installed"}})
    def diagram(model_id: ModelId, view: Annotated[str, Query(max_length=4000, description=(
            "all (the whole graph), core, sector:NAME, loop:ID or loops:ID,ID, as `policylab diagram --view`; "
            "GET /api/models/{id}/views lists the readable ones"))] = "all") -> Response:
        """The causal-loop diagram (Graphviz SVG), or one readable view of it; each link's <title> is `source->target`."""
        entry = _entry(catalogue, model_id)
        try:
            return Response(catalogue.view_svg(entry, view), media_type="image/svg+xml")
        except DiagramError as error:
            raise HTTPException(503, str(error)) from error
        except UsageError as error:
            raise HTTPException(404, str(error)) from error

    @app.get("/api/models/{model_id}/views", tags=["models"], responses=NOT_FOUND)
    def diagram_views(model_id: ModelId) -> list[s.DiagramView]:
        """The readable views of the diagram: each sector, the stock-and-flow core, the whole graph."""
        return catalogue.view_list(_entry(catalogue, model_id))

    @app.get("/api/models/{model_id}/loops", tags=["models"], responses={**NOT_FOUND, **BUSY})
    async def loop_dominance(model_id: ModelId, scenario: Annotated[str | None, Query(max_length=200)] = None
                             ) -> s.LoopDominance:
        """Which feedback loops dominate over time (Loops That Matter over the dashboard's ensemble), as a chart."""
        try:
            return await simulator.loops(_entry(catalogue, model_id), scenario)
        except Overloaded as error:
            raise HTTPException(503, str(error), headers={"retry-after": "1"}) from error

    @app.get("/api/models/{model_id}/links/{source}/{target}", tags=["models"], responses=NOT_FOUND)
    def link_evidence(model_id: ModelId, source: VarName, target: VarName) -> s.LinkEvidence:
        """A causal link's evidence, each quote located in its source's text (read from the sources path)."""
        entry = _entry(catalogue, model_id)
        found = catalogue.evidence(entry, source, target)
        if found is None:
            raise HTTPException(404, f"{entry.id} has no causal link {source} -> {target}")
        return found

    @app.post("/api/models/{model_id}/run", tags=["simulate"], response_model=s.RunResult,
              responses={**NOT_FOUND, **BUSY})
    async def run(model_id: ModelId, body: s.RunRequest) -> Response:
        """Simulate one scenario with overrides: bands (5/25/50/75/95 %) per variable and the outcome table."""
        entry = _entry(catalogue, model_id)
        body = body.model_copy(update={"params": s.checked_params(body.params, entry.model.ir, entry.id)})
        try:
            return _json(await simulator.run(entry, body))
        except Overloaded as error:
            raise HTTPException(503, str(error), headers={"retry-after": "1"}) from error

    @app.post("/api/models/{model_id}/compare", tags=["simulate"], response_model=s.CompareResult,
              responses={**NOT_FOUND, **BUSY})
    async def compare(model_id: ModelId, body: s.CompareRequest) -> Response:
        """Several scenarios with the same overrides and common random numbers, side by side."""
        entry = _entry(catalogue, model_id)
        body = body.model_copy(update={"params": s.checked_params(body.params, entry.model.ir, entry.id)})
        try:
            return _json(await simulator.compare(entry, body))
        except Overloaded as error:
            raise HTTPException(503, str(error), headers={"retry-after": "1"}) from error

    @app.post("/api/models/{model_id}/explorations", tags=["explore"], status_code=202,
              responses={**NOT_FOUND, 429: {"description": "Too many explorations queued"},
                         501: {"description": "No exploration engine or store installed"}})
    def start_exploration(model_id: ModelId, body: s.ExploreRequestBody) -> s.JobStatus:
        """Start an exploration in the background; poll GET /api/jobs/{id}, then read GET /api/runs/{run_id}."""
        entry = _entry(catalogue, model_id)
        try:
            return jobs.submit(entry, body).status()
        except Unavailable as error:
            raise HTTPException(501, str(error)) from error
        except Busy as error:
            raise HTTPException(429, str(error)) from error

    @app.get("/api/jobs/{job_id}", tags=["explore"], responses=NOT_FOUND)
    def job_status(job_id: JobId) -> s.JobStatus:
        """An exploration job's state and progress (runs done of total)."""
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (jobs are kept until the server stops)")
        return job.status()

    @app.get("/api/runs", tags=["explore"], responses={501: {"description": "No store installed"}, **STORE_BUSY})
    def stored_runs() -> list[s.StoredRun]:
        """Explorations in the results store, newest first."""
        return stored.list()

    @app.get("/api/runs/{run_id}", tags=["explore"], responses={**NOT_FOUND, 501: {"description": "No store installed"},
                                                                **STORE_BUSY})
    def stored_run(run_id: RunId) -> s.StoredRunSummary:
        """One stored exploration: its manifest and per-policy outcome percentiles."""
        return stored.summary(run_id)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"cache-control": "max-age=86400"})

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(str(STATIC.joinpath("index.html")), media_type="text/html")

    # Swagger UI from the pinned swagger-ui-bundle package, served here: it works offline and under the CSP
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    docs_page = STATIC.joinpath("docs.html").read_text(encoding="utf-8").replace(
        "{token}", "required" if config.token else "none")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The page shell (no data): whether a token is needed, so it asks before fetching the schema."""
        return HTMLResponse(docs_page)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = problems.document(schema, {"400": "Bad request (Host header or malformed request)",
                                                            "422": "A request value is invalid or over a cap"},
                                                   secured=bool(config.token))
            _enumerate_models(app.openapi_schema, list(catalogue.entries))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return Guards(app, config)


def _json(body: bytes) -> Response:
    """A simulation's answer, serialised once in its worker thread (FastAPI's own pass took 5x as long)."""
    return Response(body, media_type="application/json")


def _warm_up(catalogue: Catalogue, config: ServerConfig) -> None:
    """Simulate every served model once (a model that fails is logged, and its requests will say why)."""
    for entry in catalogue.entries.values():
        try:
            seconds = warm_up(entry, config)
        except PolicyLabError as error:
            log.warning("warm-up of %r failed: %s", entry.id, error)
        else:
            log.info("warmed up %r (backend %s) in %.1f s", entry.id, config.backend, seconds)


def _enumerate_models(schema: dict[str, Any], ids: list[str]) -> None:
    """Document ``model_id`` as one of the models registered at start (requests cannot name others)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "model_id" and ids:
                    parameter["schema"]["enum"] = ids
