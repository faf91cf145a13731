"""`lextune analyze FILE`: clauses by type, playbook flags, summary; JSON and an offline HTML page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lextune.core.errors import LextuneError
from lextune.progress import console, ticker

Conversations = list[list[dict[str, str]]]
GenerateN = Callable[[Conversations, int], list[str]]  # conversations, max_new_tokens -> answers
STOCK = "stock"
stdout = Console()


def register(app: typer.Typer) -> None:
    """Add the `analyze` command to `app`."""
    app.command("analyze")(analyze)


def load_generator(model: str | None, scope: str,
                   batch_size: int = 8) -> tuple[GenerateN, str, list[str] | None, dict]:
    """Load the model once for a version name or id, 'stock', or (None) the scope's active model.

    Returns (generate, label, the clause types its dataset was built with or None, trace)."""
    from lextune.core.store import Store
    from lextune.core.tables import DatasetRowDB
    from lextune.models.generation import generate
    from lextune.registry.loading import load_version
    from lextune.registry.versions import active_version, get_version

    store = Store()
    if model == STOCK:
        version = None
    elif model:
        version = get_version(store, model)
    else:
        version = active_version(store, scope)
    clause_types = None
    if version is not None:
        with store.session() as s:
            row = s.get(DatasetRowDB, version.dataset_id)
            clause_types = list(row.clause_types) if row is not None and row.clause_types else None
    loaded, tokenizer, label = load_version(version, settings=store.settings)

    def run(conversations: Conversations, max_new_tokens: int) -> list[str]:
        with ticker("asking the model", total=len(conversations)) as t:
            return generate(loaded, tokenizer, conversations, max_new_tokens=max_new_tokens,
                            batch_size=batch_size, progress=t.advance)

    trace = {"model_version": label, "fine_tuned": version is not None, "scope": None if model else scope,
             "adapter": version.id if version else None}
    return run, label, clause_types, trace


def analyze(
    file: Annotated[Path, typer.Argument(help="The contract: .txt .md .html .eml .pdf .docx (one document).")],
    playbook: Annotated[Path | None, typer.Option(help="Playbook YAML (default: the shipped example).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the analysis as JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write an offline HTML page here.")] = None,
    model: Annotated[str | None, typer.Option(help="Model version (name or id), or 'stock' "
                                                   "(default: the scope's active model).")] = None,
    scope: Annotated[str, typer.Option(help="Scope whose active model answers.")] = "default",
    verify: Annotated[bool, typer.Option(help="Ask the model to quote each clause it typed; drops "
                                              "'Not found' ones.")] = True,
    keyword_fallback: Annotated[bool, typer.Option(help="Fill clause types the model found nowhere from "
                                                        "keywords (marked 'keywords').")] = False,
    summarize: Annotated[bool, typer.Option(help="Also ask the model for a short summary.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Passages per model call.")] = 8,
    review: Annotated[bool, typer.Option(help="Send every clause the model typed and every flag to the "
                                              "lawyers' review queue (the screen at /review).")] = False,
    matter: Annotated[str | None, typer.Option(help="Matter name put on queued review items.")] = None,
):
    """Analyze a contract: clauses found by the model with spans, flags from the playbook, recommendations."""
    try:
        analysis = _analyze(file, playbook, json_out, html_out, model, scope, verify, keyword_fallback, summarize,
                            batch_size)
        if review:
            _queue(analysis, matter)
    except LextuneError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _analyze(file, playbook_path, json_out, html_out, model, scope, verify, keyword_fallback, summarize,
             batch_size):
    from lextune.analysis import AnalyzeOptions, analyze_document, load_playbook, read_document, render_html

    # Bad input fails before the model is loaded.
    name, text = read_document(file)
    playbook = load_playbook(playbook_path)
    generate, label, clause_types, trace = load_generator(model, scope, batch_size)
    options = AnalyzeOptions(clause_types=clause_types, verify=verify, keyword_fallback=keyword_fallback)

    def asker(max_new_tokens: int):
        return lambda conversations: generate(conversations, max_new_tokens)

    analysis = analyze_document(
        text, playbook, asker(options.classify_tokens), quote=asker(options.quote_tokens) if verify else None,
        summarize=asker(options.summary_tokens) if summarize else None, name=name, options=options, model=label)
    analysis.trace = trace
    for path, content in ((json_out, lambda: analysis.model_dump_json(indent=2)),
                          (html_out, lambda: render_html(analysis))):
        if path is not None:
            _write(path, content())
    _print(analysis)
    return analysis


def _queue(analysis, matter: str | None) -> None:
    """Every model clause and flag of the analysis into the review queue (the service samples; a person
    asking for review here wants all of it)."""
    import uuid

    from lextune.core.store import Store
    from lextune.review.candidates import enqueue
    from lextune.review.from_analysis import analysis_candidates
    from lextune.review.policy import ReviewPolicy

    candidates = analysis_candidates(
        analysis, ReviewPolicy(sample_rate=1.0), request_id=f"cli-analysis-{uuid.uuid4().hex}", matter=matter,
        model_version=str(analysis.trace.get("model_version") or analysis.model))
    store = Store()
    try:
        ids = enqueue(store, candidates)
    finally:
        store.close()
    console.print(f"review: {len(ids)} item(s) queued (clauses and flags) for /review", highlight=False)


def _write(path: Path, content: str) -> None:
    from lextune.core.atomic import write_text

    try:
        write_text(path, content + "\n")
    except OSError as e:
        raise LextuneError(f"{path}: cannot write: {e.strerror or e}") from None


def _print(analysis) -> None:
    clauses = Table(title=f"Clauses in {analysis.document} ({analysis.model})")
    for col in ("type", "chars", "found by", "values (rules)", "text"):
        clauses.add_column(col)
    for c in analysis.clauses:
        values = "; ".join(f"{k}={v.value}" for k, v in c.extracted.items())
        preview = " ".join(c.text.split())
        clauses.add_row(escape(c.type), f"{c.start}-{c.end}", c.source, escape(values),
                        escape(preview[:80] + ("..." if len(preview) > 80 else "")))
    stdout.print(clauses)
    flags = Table(title=f"Flags (playbook: {analysis.playbook})")
    for col in ("severity", "flag", "where", "recommendation"):
        flags.add_column(col)
    colour = {"high": "red", "medium": "yellow", "low": "blue"}
    for f in analysis.flags:
        where = ", ".join(f"{s.start}-{s.end}" for s in f.spans[:4]) + (" ..." if len(f.spans) > 4 else "")
        flags.add_row(f"[{colour[f.severity]}]{f.severity}[/]", escape(f.message), where, escape(f.recommendation))
    stdout.print(flags)
    stdout.print(escape(analysis.summary), soft_wrap=True)
    for w in analysis.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
