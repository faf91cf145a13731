"""`lextune serve`: the FastAPI application (OpenAI-compatible API + lextune's own routes)."""

from __future__ import annotations

import importlib
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from lextune import __version__
from lextune.core.store import Store
from lextune.serve.auth import Gate
from lextune.serve.config import ServeConfig
from lextune.serve.engine import Engine
from lextune.serve.limits import BodyLimit
from lextune.serve.openai_errors import install_error_handlers
from lextune.serve.pool import ModelPool

# Routers beside the inference routes: uploads and fine-tuning jobs, contract analysis.
_ROUTERS = ["lextune.serve.routes_openai", "lextune.serve.routes_files", "lextune.serve.routes_fine_tuning",
            "lextune.serve.routes_analyze", "lextune.serve.routes_review"]


def create_app(store: Store, config: ServeConfig | None = None, engine: Engine | None = None,
               warm: bool = False) -> FastAPI:
    """The service over `store`; `engine` defaults to local generation on a warm ModelPool."""
    config = config or ServeConfig()
    engine = engine or Engine(ModelPool(store.settings, max_adapters=config.max_adapters), store,
                              config.base_model, max_batch=config.max_batch,
                              batch_window_s=config.batch_window_ms / 1000)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.start()
        if warm:
            from starlette.concurrency import run_in_threadpool

            from lextune.serve.pool import resolve

            target = await run_in_threadpool(resolve, store, "active", config.base_model)
            await run_in_threadpool(engine.warm, target)
        try:
            yield
        finally:
            engine.stop()
            gate.close()

    app = FastAPI(title="lextune", version=__version__, lifespan=lifespan)
    app.state.store = store  # the default tenant's (the control plane's) store
    app.state.gate = gate = Gate(store, config.rate_limit_per_minute, config.rate_limit_burst)
    app.state.config = config
    app.state.engine = engine
    install_error_handlers(app)

    app.add_middleware(BodyLimit, max_request_bytes=config.max_request_bytes,
                       max_upload_bytes=config.max_upload_bytes)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "rounds": engine.rounds,
                             "batched_rows": engine.batched_rows})

    for name in _ROUTERS:
        app.include_router(importlib.import_module(name).router)
    return app
