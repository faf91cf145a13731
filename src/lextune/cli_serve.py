"""`lextune serve`: the OpenAI-compatible service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lextune.progress import console

stdout = Console()


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    config: Annotated[Path | None, typer.Option(help="Serve config YAML (batching, adapters, per-scope "
                                                "retrieval); see the README.")] = None,
    base_model: Annotated[str | None, typer.Option(help="Base of the stock model (overrides the config).")] = None,
    engine: Annotated[str, typer.Option(help="local (transformers + PEFT here) or vllm (generation proxied to "
                                        "--vllm-url).")] = "local",
    vllm_url: Annotated[str | None, typer.Option(help="Base URL of a vLLM OpenAI server, e.g. "
                                                 "http://gpu-host:8000/v1 (with --engine vllm).")] = None,
    warm: Annotated[bool, typer.Option(help="Load the active model before accepting requests.")] = True,
):
    """Serve the base model and every registered version over an OpenAI-compatible API."""
    import uvicorn

    from lextune.core.errors import ConfigError
    from lextune.core.store import Store
    from lextune.serve.app import create_app
    from lextune.serve.config import load_serve_config

    cfg = load_serve_config(config)
    if base_model:
        cfg = cfg.model_copy(update={"base_model": base_model})
    from lextune.core.config import root_settings
    from lextune.security.tenancy import any_api_keys

    store = Store(root_settings())  # the control plane: each request's API key picks its tenant's store
    if not any_api_keys(store):
        if not _loopback(host):
            raise ConfigError(f"--host {host}: no API key exists yet, and without keys the service would answer "
                              "anyone as the local admin; create one first (lextune api-keys create --user NAME)")
        console.print("no API keys yet: answering requests from this machine as the local admin")
    chosen = None
    if engine == "vllm":
        if not vllm_url:
            raise ConfigError("--engine vllm needs --vllm-url (the vLLM server's /v1 base URL)")
        from lextune.serve.vllm_proxy import VllmEngine

        chosen = VllmEngine(vllm_url, store, cfg.base_model)
    elif engine != "local":
        raise ConfigError(f"--engine must be local or vllm, not '{engine}'")
    from lextune.core.audit import verify_trail

    verdict = verify_trail(store)  # the service writes to the trail: say at once if it was tampered with
    if verdict.ok:
        console.print(f"audit trail intact ({verdict.rows} rows)")
    else:
        console.print(f"[bold red]audit trail NOT intact[/bold red]: first problem: {verdict.problem} (see lextune audit verify)")
    app = create_app(store, cfg, engine=chosen, warm=warm and chosen is None)
    console.print(f"lextune serving on http://{host}:{port}/v1 (OpenAI-compatible; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
