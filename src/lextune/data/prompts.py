"""The instructions of each task; one place so training and evaluation ask the same way."""

from __future__ import annotations

SYSTEM = "You are a careful contract analyst. Answer exactly as instructed."
NOT_FOUND = "Not found"


def clause_type_prompt(passage: str, clause_types: list[str]) -> str:
    options = "; ".join(clause_types)
    return (
        f"Which type of contract clause is this passage? Options: {options}.\n\n"
        f"Passage:\n{passage}\n\nAnswer with the clause type only."
    )


def clause_quote_prompt(excerpt: str, clause_type: str) -> str:
    return (
        f"Contract excerpt:\n{excerpt}\n\n"
        f'Quote the "{clause_type}" clause from the excerpt word for word. '
        f'If the excerpt has no such clause, answer exactly "{NOT_FOUND}".'
    )


def ask_prompt(question: str, passages: list[tuple[str, str]]) -> str:
    """Question answering over retrieved passages, each given as (citation tag, text)."""
    context = "\n\n".join(f"[{tag}]\n{text}" for tag, text in passages)
    return (
        f"Passages from the firm's documents:\n\n{context}\n\n"
        f"Question: {question}\n"
        f'Answer from the passages only, citing the passage tag in brackets. If they do not say, '
        f'answer "{NOT_FOUND}".'
    )
