"""Clause tasks from labelled contracts: name a passage's clause type; quote a clause or 'Not found'."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from lextune.core.records import Chunk, ClauseAnnotation, DatasetRow, Span
from lextune.data import prompts
from lextune.data.splits import Split


def _row_id(*parts: object) -> str:
    return "row-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def overlapping_chunks(chunks: list[Chunk], start: int, end: int) -> list[str]:
    return [c.id for c in chunks if c.start < end and start < c.end]


def _clip(text: str, max_chars: int) -> str:
    """Shorten at a word boundary; long clauses keep their opening, which carries the type."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars].rstrip() + " ..."


def _messages(user: str, answer: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": prompts.SYSTEM},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]


def clause_type_rows(
    doc_id: str, split: Split, annotations: list[ClauseAnnotation], chunks: list[Chunk],
    clause_types: list[str], max_passage_chars: int,
) -> list[DatasetRow]:
    """One row per distinct labelled passage whose span carries exactly one selected type."""
    types_by_span: dict[tuple[int, int], set[str]] = defaultdict(set)
    text_by_span: dict[tuple[int, int], str] = {}
    for a in annotations:
        if a.clause_type in clause_types:
            types_by_span[(a.start, a.end)].add(a.clause_type)
            text_by_span[(a.start, a.end)] = a.text
    rows = []
    seen_text: set[str] = set()
    for (start, end), types in sorted(types_by_span.items()):
        passage = text_by_span[(start, end)].strip()
        # A span labelled with two selected types has no single right answer: leave it out.
        if len(types) != 1 or len(passage) < 20 or passage in seen_text:
            continue
        seen_text.add(passage)
        label = next(iter(types))
        rows.append(DatasetRow(
            id=_row_id("clause_type", doc_id, start, end), task="clause_type", split=split,
            messages=_messages(prompts.clause_type_prompt(_clip(passage, max_passage_chars), clause_types), label),
            answer=label, label=label, choices=list(clause_types), document_id=doc_id,
            chunk_ids=overlapping_chunks(chunks, start, end), span=Span(start=start, end=end),
        ))
    return rows


def clause_quote_rows(
    doc_id: str, split: Split, text: str, annotations: list[ClauseAnnotation], chunks: list[Chunk],
    clause_types: list[str], excerpt_chars: int, negatives_per_doc: int, seed: int,
) -> list[DatasetRow]:
    """Excerpts around labelled clauses (answer: the clause verbatim) and excerpts without the
    asked type (answer: 'Not found'), so the model learns to say when the text is silent."""
    rng = random.Random(f"{seed}:{doc_id}")
    selected = [a for a in annotations if a.clause_type in clause_types]
    rows: list[DatasetRow] = []
    used_types: set[str] = set()
    for a in selected:
        # One positive per type and document keeps the task balanced across long contracts.
        if a.clause_type in used_types or len(a.text) > excerpt_chars * 0.6 or len(a.text) < 20:
            continue
        used_types.add(a.clause_type)
        slack = excerpt_chars - (a.end - a.start)
        start = max(0, a.start - rng.randint(0, slack))
        end = min(len(text), start + excerpt_chars)
        rows.append(_quote_row(doc_id, split, text, start, end, a.clause_type, a.text.strip(), chunks))
    tries = 0
    while sum(r.answer == prompts.NOT_FOUND for r in rows) < negatives_per_doc and tries < 50:
        tries += 1
        if len(text) <= excerpt_chars:
            break
        start = rng.randint(0, len(text) - excerpt_chars)
        end = start + excerpt_chars
        present = {a.clause_type for a in annotations if a.start < end and start < a.end}
        absent = [t for t in clause_types if t not in present]
        if absent:
            rows.append(_quote_row(doc_id, split, text, start, end, rng.choice(absent),
                                   prompts.NOT_FOUND, chunks))
    return rows


def _quote_row(
    doc_id: str, split: Split, text: str, start: int, end: int, clause_type: str, answer: str,
    chunks: list[Chunk],
) -> DatasetRow:
    excerpt = text[start:end].strip()
    return DatasetRow(
        id=_row_id("clause_quote", doc_id, start, end, clause_type), task="clause_quote", split=split,
        messages=_messages(prompts.clause_quote_prompt(excerpt, clause_type), answer),
        answer=answer, label=clause_type, document_id=doc_id,
        chunk_ids=overlapping_chunks(chunks, start, end), span=Span(start=start, end=end),
    )
