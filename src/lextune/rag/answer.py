"""Answer a question from retrieved passages with the active model, citing verified sources."""

from __future__ import annotations

import re

from pydantic import BaseModel

from lextune.core import audit
from lextune.core.store import Store
from lextune.data import prompts
from lextune.models.generation import generate
from lextune.rag.retrieve import Hit, search
from lextune.registry.loading import load_version
from lextune.registry.versions import DEFAULT_SCOPE, active_version

_TAG = re.compile(r"\[(S\d+)\]")
_SPACE = re.compile(r"\s+")
# Passages about as long as the excerpts the clause tasks train on: a small model's answers
# degrade on contexts much longer than it was tuned on.
PASSAGE_CHARS = 600
DEFAULT_K = 3
MIN_QUOTE_CHARS = 20  # shorter overlaps ("the Agreement") prove nothing


class Citation(BaseModel):
    tag: str
    document_id: str
    title: str
    section: str
    chunk_id: str
    start: int
    end: int
    cited: bool  # the answer names this tag
    quoted: bool  # the answer's text appears verbatim in this passage (checked, not claimed)

    @property
    def mark(self) -> str:
        return "quoted" if self.quoted else "cited" if self.cited else "retrieved"


class Answer(BaseModel):
    question: str
    text: str
    model: str  # which model answered: "stock:<base>" or "<version name> (<id>)"
    model_version_id: str | None
    citations: list[Citation]

    def grounding(self) -> str:
        """One line saying how far the answer is backed by the passages (checked, not claimed)."""
        quoted = [c.tag for c in self.citations if c.quoted]
        if quoted:
            return f"answer quoted verbatim from {', '.join(quoted)}"
        if _norm(self.text).startswith(_norm(prompts.NOT_FOUND)):
            return "the model found no answer in the passages"
        return "answer not found verbatim in the passages: check it against the sources"


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def is_quoted_from(answer: str, passage: str) -> bool:
    """Whether the answer (ignoring case and spacing, and a trailing ellipsis) occurs in the passage."""
    a = _norm(_TAG.sub("", answer)).removesuffix("...").strip(" .\"")
    return len(a) >= MIN_QUOTE_CHARS and a in _norm(passage)


def ask(store: Store, question: str, k: int = DEFAULT_K, scope: str = DEFAULT_SCOPE,
        base_model: str | None = None, model_bundle=None) -> Answer:
    """Retrieve, answer with the scope's active model, and check which tags the answer cites."""
    hits: list[Hit] = search(store, question, k)
    version = active_version(store, scope)
    model, tokenizer, label = model_bundle or load_version(version, base_model, store.settings)
    passages = [(f"S{i}", h.chunk.text[:PASSAGE_CHARS]) for i, h in enumerate(hits, start=1)]
    messages = [{"role": "system", "content": prompts.SYSTEM},
                {"role": "user", "content": prompts.ask_prompt(question, passages)}]
    text = generate(model, tokenizer, [messages], max_new_tokens=160)[0] if hits else prompts.NOT_FOUND
    cited = set(_TAG.findall(text))
    citations = [
        Citation(tag=tag, document_id=h.chunk.document_id, title=h.title, section=h.chunk.section,
                 chunk_id=h.chunk.id, start=h.chunk.start, end=h.chunk.end, cited=tag in cited,
                 quoted=is_quoted_from(text, passage))
        for (tag, passage), h in zip(passages, hits)
    ]
    with store.session() as s:
        audit.record(s, "ask", version.id if version else "stock",
                     {"question": question, "chunks": [c.chunk_id for c in citations]})
    return Answer(question=question, text=text, model=label,
                  model_version_id=version.id if version else None, citations=citations)
