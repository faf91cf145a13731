"""Contract analysis: clauses by type with spans, playbook flags, a summary and recommendations.

The model is never loaded here. The work is a generator of ModelRequests (`analysis_steps`) so that one
pipeline serves both callers: `analyze_document` answers them with plain callables (the CLI's loaded
model), and the service answers them with `await`ed calls to its warm engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.errors import IngestError
from lextune.data import cuad_categories
from lextune.data.dataset import DEFAULT_CLAUSE_TYPES
from lextune.vault.loaders import load_path

from . import find
from .extract import extract
from .playbook import Playbook, default_playbook
from .records import Analysis, AnalysisError
from .rules import apply_playbook
from .summary import recommendations, summary_conversation, summary_text

Conversation = list[dict[str, str]]
Generate = Callable[[list[Conversation]], list[str]]


class AnalyzeOptions(BaseModel):
    """How a document is cut into passages and which questions the model is asked."""

    model_config = ConfigDict(extra="forbid")
    clause_types: list[str] | None = Field(
        None, description="Options of the clause-type question: the types the model was trained on "
        "(default: lextune's ten demo types). Types the playbook needs are appended.")
    max_chunk_chars: int = Field(600, ge=50, description="Longest passage the model types.")
    min_chunk_chars: int = Field(100, ge=0, description="Shorter passages merge with the next of their kind.")
    passage_chars: int = Field(600, ge=50, description="Passages are clipped to this length in the prompt.")
    verify: bool = Field(True, description="Ask the model to quote each typed clause; 'Not found' drops it.")
    keyword_fallback: bool = Field(False, description="Fill types the model found nowhere from keywords "
                                                      "(marked source='keywords').")
    summarize: bool = Field(False, description="Also ask the model for a short summary.")
    classify_tokens: int = Field(16, ge=1)
    quote_tokens: int = Field(256, ge=1)
    summary_tokens: int = Field(160, ge=1)


@dataclass
class ModelRequest:
    """One batched model call the pipeline needs: conversations in, one answer each out."""

    purpose: Literal["classify", "quote", "summarize"]
    conversations: list[Conversation]
    max_new_tokens: int


def read_document(path: Path | str) -> tuple[str, str]:
    """(name, text) of the one document in `path`, through the vault's loaders; IngestError naming the file."""
    path = Path(path)
    result = load_path(path)
    docs = result.documents
    if len(docs) != 1:
        titles = ", ".join(repr(d.title) for d in docs[:5])
        raise IngestError(path, f"holds {len(docs)} documents ({titles}); analyze one document per file")
    return docs[0].title or path.name, docs[0].text


def option_types(playbook: Playbook, clause_types: list[str] | None) -> tuple[list[str], list[str]]:
    """The clause-type question's options and the playbook types appended to the trained ones."""
    trained = cuad_categories.canonical(clause_types or DEFAULT_CLAUSE_TYPES)
    extra = [t for t in playbook.clause_types() if t not in trained]
    return trained + extra, extra


def analysis_steps(
    text: str, name: str, playbook: Playbook, options: AnalyzeOptions | None = None, model: str = "",
) -> Generator[ModelRequest, list[str], Analysis]:
    """Yield the model calls an analysis needs (send back the answers); return the Analysis."""
    opts = options or AnalyzeOptions()
    if not text.strip():
        raise AnalysisError(f"{name}: the document has no text to analyze")
    types, extra = option_types(playbook, opts.clause_types)
    warnings = []
    if extra:
        warnings.append(f"playbook clause type(s) {', '.join(extra)} are not among the model's trained types "
                        "and were added to the question; answers for them are less reliable")
    chunks = find.passages(text, opts.max_chunk_chars, opts.min_chunk_chars)
    answers: list[str] = []
    if chunks:
        answers = yield ModelRequest(
            "classify", find.type_conversations(text, chunks, types, opts.passage_chars), opts.classify_tokens)
    _check(answers, chunks, "clause-type")
    typed = find.read_types(chunks, answers, types)
    quotes = None
    if opts.verify and typed.candidates:
        quotes = yield ModelRequest("quote", find.quote_conversations(text, typed.candidates), opts.quote_tokens)
        _check(quotes, typed.candidates, "quote")
    clauses, rejected = find.clauses_from(text, typed.candidates, quotes)
    if opts.keyword_fallback:
        found = {c.type for c in clauses}
        clauses += find.keyword_clauses(text, chunks, types, found)
    clauses.sort(key=lambda c: (c.start, c.end, c.type))
    for c in clauses:
        c.extracted = extract(c)
    flags = apply_playbook(playbook, clauses, text)
    model_summary = None
    if opts.summarize:
        written = yield ModelRequest("summarize", [summary_conversation(text)], opts.summary_tokens)
        _check(written, [text], "summary")
        model_summary = written[0].strip()
    if typed.unmatched:
        warnings.append(f"{len(typed.unmatched)} model answer(s) named no known clause type and were ignored")
    return Analysis(
        document=name, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), n_chars=len(text), text=text,
        model=model, playbook=playbook.name, clause_types=types, clauses=clauses, flags=flags,
        summary=summary_text(name, clauses, flags, playbook.name), model_summary=model_summary,
        recommendations=recommendations(flags), passages=len(chunks), unmatched_answers=len(typed.unmatched),
        rejected_by_quote=rejected, warnings=warnings,
    )


def _check(answers: list[str], asked: list, what: str) -> None:
    if len(answers) != len(asked):
        raise AnalysisError(f"the model returned {len(answers)} {what} answers for {len(asked)} questions")


def run_steps(steps: Generator[ModelRequest, list[str], Analysis],
              answer: Callable[[ModelRequest], list[str]]) -> Analysis:
    """Drive `analysis_steps` synchronously, answering each request with `answer`."""
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as done:
        return done.value


def analyze_document(
    source: Path | str,
    playbook: Playbook | None = None,
    classify: Generate | None = None,
    *,
    quote: Generate | None = None,
    summarize: Generate | None = None,
    name: str | None = None,
    options: AnalyzeOptions | None = None,
    model: str = "",
) -> Analysis:
    """Analyze a file (a Path) or a text (a str) with `classify` answering the clause-type questions.

    `quote` answers the quoting check (skipped without it), `summarize` writes a model summary (optional).
    """
    if classify is None:
        raise TypeError("analyze_document needs a classify callable (conversations -> answers)")
    if isinstance(source, Path):
        doc_name, text = read_document(source)
    else:
        doc_name, text = "document", source
    opts = (options or AnalyzeOptions()).model_copy(
        update={"verify": (options.verify if options else True) and quote is not None,
                "summarize": summarize is not None})
    callables = {"classify": classify, "quote": quote, "summarize": summarize}
    steps = analysis_steps(text, name or doc_name, playbook or default_playbook(), opts, model)
    return run_steps(steps, lambda r: list(callables[r.purpose](r.conversations)))  # type: ignore[misc]
