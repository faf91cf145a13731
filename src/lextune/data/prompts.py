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


# What a cited answer says when the passages do not answer: it starts with NOT_FOUND so the RAG stage's
# grounding line and the evaluation's `is_not_found` read it as absent without a second convention.
CITED_NOT_FOUND = f"{NOT_FOUND} in the passages."
YES, NO = "Yes", "No"
NLI_LABELS = ["Entailment", "Contradiction", "NotMentioned"]


def clause_question_prompt(clause: str, question: str) -> str:
    """A lawyer's Yes/No question about one clause, in the form LegalBench's cuad_* tasks ask it."""
    return f"{question}\n\nClause: {clause}\n\nAnswer {YES} or {NO}."


def numbered_passages(passages: list[str]) -> str:
    return "\n\n".join(f"[{n}]\n{text}" for n, text in enumerate(passages, start=1))


def cite(numbers: list[int]) -> str:
    """Citation marks for passage numbers: [2][4]."""
    return "".join(f"[{n}]" for n in numbers)


def cited_qa_prompt(question: str, passages: list[str]) -> str:
    """A question over numbered passages [1]..[k]; shared by training rows and the RAG stage."""
    return (
        f"Passages:\n\n{numbered_passages(passages)}\n\n"
        f"Question: {question}\n"
        "Answer from the passages only: quote the words that answer the question in double quotes and "
        "cite the passage number in brackets after each quote, e.g. [2]. If the passages do not answer "
        f'it, answer exactly "{CITED_NOT_FOUND}"'
    )


def cited_quote_answer(lead: str, quotes: list[tuple[str, int]]) -> str:
    """'Lead: "quote" [n]; "quote" [m]': each verbatim quote followed by the passage it comes from."""
    return f"{lead}: " + "; ".join(f'"{quote}" [{n}]' for quote, n in quotes)


def nli_evidence_prompt(hypothesis: str, passages: list[str]) -> str:
    """Does the contract entail, contradict or not mention a hypothesis, and which passages show it."""
    entail, contradict, absent = NLI_LABELS
    return (
        f"Passages from a contract:\n\n{numbered_passages(passages)}\n\n"
        f"Hypothesis: {hypothesis}\n"
        f"Does the contract entail the hypothesis, contradict it, or not mention it? Answer {entail}, "
        f"{contradict} or {absent}; for {entail} or {contradict}, cite every passage that shows it, e.g. "
        f'"{entail} [2][4]". If no passage bears on it, answer exactly "{nli_answer(absent, [])}"'
    )


def nli_answer(label: str, citations: list[int]) -> str:
    """'Entailment [2][4]'; NotMentioned (nothing to cite) says so in the not-found words."""
    if not citations:
        return f"{label}. {CITED_NOT_FOUND}"
    return f"{label} {cite(citations)}"
