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
    ):
        """Answer from retrieved passages with the active model; prints citation verdicts and the model used."""
        from lextune.core.store import Store
        from lextune.rag.answer import ask as ask_fn
        from lextune.rag.records import MODES
        from lextune.rag.vectors import embed_chunks, missing_chunks

        if mode not in MODES:
            raise typer.BadParameter(f"use one of: {', '.join(MODES)}", param_hint="--mode")
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
