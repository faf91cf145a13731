"""The grounded-answer API the CLI and the service share: retrieve, prompt, verify.

    retrieval = retrieve(store, question, k, mode="hybrid")          # passages exactly as shown
    answer_text = generate_fn([grounded_messages(question, retrieval.passages)])[0]
    grounded = verify_answer(answer_text, retrieval)                 # strip, flag or refuse
"""

from __future__ import annotations

from lextune.data import prompts
from lextune.rag.records import REFUSAL, CitationCheck, GroundedAnswer, Passage, Retrieval
from lextune.rag.retrieve import DEFAULT_K, MIN_CONFIDENCE, PASSAGE_CHARS, retrieve, rrf
from lextune.rag.vectors import embed_chunks
from lextune.rag.verify import OVERLAP_MIN, refusal_text, verify_answer

__all__ = [
    "DEFAULT_K", "MIN_CONFIDENCE", "OVERLAP_MIN", "PASSAGE_CHARS", "REFUSAL", "CitationCheck", "GroundedAnswer",
    "Passage", "Retrieval", "embed_chunks", "grounded_messages", "refusal_text", "retrieve", "rrf", "verify_answer",
]


def grounded_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    """System + user messages: the cited_qa prompt the training rows use, over the passages as shown."""
    ordered = sorted(passages, key=lambda p: p.number)
    if [p.number for p in ordered] != list(range(1, len(ordered) + 1)):
        raise ValueError("passages must be numbered 1..k: the prompt shows them as [1]..[k]")
    return [{"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": prompts.cited_qa_prompt(question, [p.text for p in ordered])}]
