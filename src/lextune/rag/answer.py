"""Answer a question from retrieved passages with an already loaded model, citing verified sources.

`ask` takes a `generate_fn` (conversations -> answers) so a service keeps its models warm; without one it
loads the scope's active model once (the CLI's case).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import BaseModel

from lextune.core import audit
from lextune.core.store import Store
from lextune.models.generation import generate
from lextune.rag.grounding import (
    DEFAULT_K,
    CitationCheck,
    GroundedAnswer,
    Passage,
    grounded_messages,
    retrieve,
    verify_answer,
)
from lextune.registry.versions import DEFAULT_SCOPE, active_version

GenerateFn = Callable[[list[list[dict[str, str]]]], list[str]]
MAX_NEW_TOKENS = 160


class PassageVerdict(BaseModel):
    """A shown passage with what the answer did with it (for listing under the answer)."""

    tag: str  # its citation number, as shown: [tag]
    document_id: str
    title: str
    section: str
    chunk_id: str
    start: int  # the span of the text shown, in the document
    end: int
    cited: bool  # the answer cites it
    supported: bool  # ... and the citation passed the check

    @property
    def mark(self) -> str:
        return "supported" if self.supported else "cited, not supported" if self.cited else "retrieved"


class Answer(BaseModel):
    question: str
    text: str  # the verified reply (or the refusal with the nearest passages)
    raw_text: str  # what the model said; "" when it was not asked (no confident retrieval)
    model: str  # which model answered: "stock:<base>" or "<version name> (<id>)"
    model_version_id: str | None
    mode: str  # retrieval mode used: bm25 | hybrid
    confidence: float
    confident: bool
    refused: bool
    reason: str | None
    citations: list[PassageVerdict]  # one per shown passage, in order
    checks: list[CitationCheck]  # one per citation in the answer

    def grounding(self) -> str:
        """One line saying how far the answer is backed by the passages (checked, not claimed)."""
        if self.refused:
            why = {"low_confidence": f"retrieval confidence {self.confidence:.2f} is below the threshold",
                   "model_not_found": "the model found no answer in the passages",
                   "uncited": "the model's answer cited no passage",
                   "unsupported": "no cited statement was supported by the passage it cites",
                   "no_passages": "nothing was retrieved"}.get(self.reason or "", self.reason)
            return f"refused: {why}"
        ok = sorted({c.number for c in self.checks if c.supported})
        failed = [c for c in self.checks if not c.supported]
        line = f"supported by {', '.join(f'[{n}]' for n in ok)}"
        return line + (f"; {len(failed)} citation(s) failed the check and were removed" if failed else "")


def generate_fn_for(model, tokenizer, max_new_tokens: int = MAX_NEW_TOKENS) -> GenerateFn:
    """A generate_fn over a loaded model: greedy, cut at end of turn."""
    return lambda conversations: generate(model, tokenizer, conversations, max_new_tokens=max_new_tokens)


def ask(store: Store, question: str, k: int = DEFAULT_K, scope: str = DEFAULT_SCOPE,
        base_model: str | None = None, generate_fn: GenerateFn | None = None, mode: str = "hybrid", *,
        model_label: str | None = None, model_bundle=None, document_ids: Iterable[str] | None = None,
        min_confidence: float | None = None) -> Answer:
    """Retrieve (mode asked for), answer with the given model or the scope's active one, verify citations.

    The model is only asked when the retrieval is confident; the answer, its verdicts, the retrieval mode
    and the model are recorded in the audit log.
    """
    version = active_version(store, scope)
    label = model_label or (f"{version.name} ({version.id})" if version else "stock")
    if generate_fn is None:
        from lextune.registry.loading import load_version

        model, tokenizer, label = model_bundle or load_version(version, base_model, store.settings)
        generate_fn = generate_fn_for(model, tokenizer)
    retrieval = retrieve(store, question, k, mode, document_ids=document_ids, min_confidence=min_confidence)
    raw = ""
    if retrieval.confident:
        raw = generate_fn([grounded_messages(question, retrieval.passages)])[0]
    grounded = verify_answer(raw, retrieval)
    answer = _answer(question, grounded, retrieval.mode, retrieval.confidence, retrieval.confident, label,
                     version.id if version else None)
    with store.session() as s:
        audit.record(s, "ask", version.id if version else "stock", {
            "question": question, "mode": retrieval.mode, "model": label, "confidence": retrieval.confidence,
            "refused": grounded.refused, "reason": grounded.reason,
            "chunks": [p.chunk_id for p in retrieval.passages],
            "spans": [[p.document_id, p.start, p.end] for p in retrieval.passages],
            "citations": [[c.number, c.evidence] for c in grounded.citations]})
    return answer


def _answer(question: str, g: GroundedAnswer, mode: str, confidence: float, confident: bool, label: str,
            version_id: str | None) -> Answer:
    cited = {c.number for c in g.citations}
    supported = {c.number for c in g.citations if c.supported}
    return Answer(question=question, text=g.text, raw_text=g.raw_text, model=label, model_version_id=version_id,
                  mode=mode, confidence=confidence, confident=confident, refused=g.refused, reason=g.reason,
                  citations=[_verdict(p, p.number in cited, p.number in supported) for p in g.passages],
                  checks=g.citations)


def _verdict(p: Passage, cited: bool, supported: bool) -> PassageVerdict:
    return PassageVerdict(tag=str(p.number), document_id=p.document_id, title=p.title, section=p.section,
                          chunk_id=p.chunk_id, start=p.start, end=p.end, cited=cited, supported=supported)
