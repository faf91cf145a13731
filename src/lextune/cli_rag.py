"""`lextune ask`: a cited answer from the vault, with each citation's verdict and the model that answered."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

stdout = Console()


def register(app: typer.Typer) -> None:
    """Define the `ask` command on the app."""

    @app.command()
    def ask(
        question: Annotated[str, typer.Argument(help="A question about the ingested documents.")],
        k: Annotated[int, typer.Option(help="Passages to retrieve and show the model.")] = 4,
        base_model: Annotated[str | None, typer.Option(help="Base model when no version is active.")] = None,
        mode: Annotated[str, typer.Option(help="Retrieval: 'hybrid' (BM25 + MiniLM vectors, fused by RRF) or "
                                               "'bm25' (full-text only, no embedder).")] = "hybrid",
        document: Annotated[list[str] | None, typer.Option(
            "--document", help="Search only this document id (repeatable).")] = None,
        min_confidence: Annotated[float | None, typer.Option(
            help="Retrieval confidence below which the answer is a refusal (default: the mode's calibrated one).")] = None,
        server: Annotated[str | None, typer.Option(
            help="Ask a running `lextune serve` (its /v1 URL, e.g. http://127.0.0.1:8000/v1) instead of loading "
                 "the model here: the model stays warm between questions.")] = None,
        model: Annotated[str, typer.Option(help="With --server: active, a scope, a version or stock.")] = "active",
        api_key: Annotated[str | None, typer.Option(
            envvar="LEXTUNE_API_KEY", show_default=False,
            help="With --server: your API key (or LEXTUNE_API_KEY); needed once the service has keys.")] = None,
    ):
        """Answer from retrieved passages with the active model; prints citation verdicts and the model used."""
        from lextune.core.store import Store
        from lextune.rag.answer import ask as ask_fn
        from lextune.rag.records import MODES
        from lextune.rag.vectors import embed_chunks, missing_chunks

        if mode not in MODES:
            raise typer.BadParameter(f"use one of: {', '.join(MODES)}", param_hint="--mode")
        if server:
            _ask_server(server, model, question, k, mode, api_key)
            return
        store = Store()
        if mode == "hybrid":
            from lextune.progress import ticker
            from lextune.rag.embeddings import get_embedder

            embedder = get_embedder()
            todo = missing_chunks(store, embedder.name)
            if todo:  # first hybrid question on this vault: embed its chunks once, with a progress bar
                with ticker("embedding chunks", total=todo) as t:
                    embed_chunks(store, embedder, progress=lambda done, _total: t.set(done))
        answer = ask_fn(store, question, k=k, base_model=base_model, mode=mode, document_ids=document or None,
                        min_confidence=min_confidence)
        stdout.print(answer.text, highlight=False, markup=False)
        for c in answer.citations:
            stdout.print(f"  [{c.tag}] {c.mark}: {c.title} / {c.section or '(no heading)'} chars {c.start}-{c.end}",
                         highlight=False, markup=False)
        for check in answer.checks:
            if not check.supported:
                stdout.print(f"  removed [{check.number}] ({check.evidence}): {check.sentence}", highlight=False,
                             markup=False)
        stdout.print(f"grounding: {answer.grounding()}", highlight=False, markup=False)
        stdout.print(f"retrieval: {answer.mode}, confidence {answer.confidence:.2f}", highlight=False, markup=False)
        stdout.print(f"answered by: {answer.model}", highlight=False, markup=False)


def _ask_server(url: str, model: str, question: str, k: int, mode: str, api_key: str | None = None) -> None:
    """The same question through a running service (the official openai client), printed the same way."""
    import openai

    from lextune.core.errors import LextuneError

    client = openai.OpenAI(base_url=url, api_key=api_key or "none", max_retries=0, timeout=600)
    try:
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                               max_tokens=160, extra_body={"lextune": {"retrieve": True, "k": k,
                                                                                       "mode": mode}})
    except openai.APIConnectionError:
        raise LextuneError(f"no lextune service at {url} (start one with `lextune serve`)") from None
    except openai.APIStatusError as e:
        raise LextuneError(f"{url}: {e.status_code}: {e.message}") from None
    trace = reply.model_extra["lextune"]
    shown = {p["chunk_id"]: p for p in trace["retrieval"]["passages"]}
    stdout.print(reply.choices[0].message.content, highlight=False, markup=False)
    for c in trace["citations"]:
        p = shown.get(c["chunk_id"] or "", {})
        verdict = "verified" if c["supported"] else "removed"
        stdout.print(f"  [{c['number']}] {verdict} ({c['evidence']}): {p.get('title', '?')} / "
                     f"{p.get('section') or '(no heading)'} chars {c['start']}-{c['end']}", highlight=False, markup=False)
    stdout.print(f"retrieval: {trace['retrieval']['mode']}, confidence {trace['retrieval']['confidence']:.2f}",
                 highlight=False, markup=False)
    stdout.print(f"answered by: {trace['model_version']} (request {trace['request_id']})", highlight=False, markup=False)
