"""The self-supervised instruction forms: rows whose answer is text of the document itself.

heading -> body, body -> heading, defined term -> definition, fill the masked sentence, and clause ->
its type where the document has clause annotations. The "instructions" builder (builders/instructions.py)
decides which chunks and forms to use; each function here offers the row makers one form finds in a
chunk, through the builder's `add(task, make)`, and builds rows with its `row(task, user, answer, ...)`.
A maker builds its row only when called, so forms cost nothing until the builder picks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lextune.core.records import Chunk, ClauseAnnotation, DatasetRow, DefinedTerm
from lextune.data import instruction_prompts as P
from lextune.vault.chunker import is_heading

if TYPE_CHECKING:  # builders import this module; a runtime import back would be circular
    from lextune.data.builders.base import DocView

# Builds one row when called; None when the row turns out unusable (a teacher's odd answer).
Make = Callable[[], DatasetRow | None]
Add = Callable[[str, Make], None]  # offer a maker for a task
Row = Callable[..., DatasetRow]  # (task, user, answer, start=chunk.start, end=chunk.end, variant="", **kw)


def heading_forms(
    add: Add,
    row: Row,
    doc: DocView,
    chunk: Chunk,
    nxt: Chunk | None,
    full: str,
    kind: str,
    max_chars: int,
    draft_max_chars: int,
) -> None:
    """heading_to_body and body_to_heading, per section of the chunk (a merged chunk holds several)."""
    text = chunk.text.strip()
    heads, _ = P.split_heading(text)
    safe = [h for h in (P.safe_label(doc, h, full) for h in chunk.heading_path) if h]
    # One masked name makes the whole path unusable: fall back to the chunk's own heading lines.
    path = safe if safe and len(safe) == len(chunk.heading_path) else heads
    continued = nxt is not None and nxt.kind == chunk.kind and not P.split_heading(nxt.text)[0]
    # A merged chunk holds several sections: the heading forms work per section.
    sections = P.split_sections(text)
    for n, (sec_heads, sec_body) in enumerate(sections):
        last = n == len(sections) - 1
        # Drafting a section is only fair when all of it is here, not one the next chunk goes on with.
        whole = sec_heads and not (last and continued) and len(sec_body) >= 40
        sec_path = path if len(sections) == 1 else sec_heads
        if (
            whole
            and sec_path
            and len("\n".join(sec_heads + [sec_body])) <= draft_max_chars
        ):
            add(
                "heading_to_body",
                lambda p=sec_path, b=sec_body, n=n: row(
                    "heading_to_body", P.heading_to_body_prompt(kind, p), b, variant=n
                ),
            )
        title = " ".join(t for t in map(P.heading_title, sec_heads) if t)
        if not sec_heads and len(sections) == 1 and path:  # the whole chunk sits inside one known section
            title = P.heading_title(path[-1])
        if _heading_like(title) and len(sec_body) >= 80:
            add(
                "body_to_heading",
                lambda b=sec_body, t=title, n=n: row(
                    "body_to_heading",
                    P.body_to_heading_prompt(kind, P.clip(b, max_chars)),
                    t,
                    variant=n,
                ),
            )


def term_forms(add: Add, row: Row, doc: DocView, terms: list[DefinedTerm], kind: str, max_chars: int) -> None:
    """define_term: a term defined in the chunk -> its definition."""
    for t in terms:
        term, definition = (
            doc.text(t.start, t.end).strip(),
            doc.text(t.definition_start, t.definition_end),
        )
        if term and "[" not in term and len(definition.strip()) >= 20 and definition.strip() != term:
            add(
                "define_term",
                lambda term=term, d=definition, t=t: row(
                    "define_term",
                    P.define_term_prompt(kind, term),
                    P.clip(d, max_chars),
                    min(t.start, t.definition_start),
                    max(t.end, t.definition_end),
                    variant=t.start,
                ),
            )


def masked_span_forms(add: Add, row: Row, text: str, kind: str, max_chars: int) -> None:
    """fill_masked_span: the (stripped) chunk text with one sentence blanked -> that sentence."""
    spans = [(s, e) for s, e in P.sentences(text) if not is_heading(text[s:e])]
    for s, e in spans if len(spans) >= 2 else ():  # a lone sentence leaves nothing to infer it from
        if 30 <= e - s <= 400 and len(text[s:e].split()) >= 5:
            add(
                "fill_masked_span",
                lambda s=s, e=e: row(
                    "fill_masked_span",
                    P.fill_blank_prompt(kind, _masked(text, s, e, max_chars)),
                    text[s:e],
                    variant=s,
                ),
            )


def clause_type_forms(
    add: Add, row: Row, clauses: list[ClauseAnnotation], clause_types: list[str], max_chars: int
) -> None:
    """clause_type_of: an annotated clause -> its type, one of the build's clause types."""
    for a in clauses:
        if len(a.text.strip()) >= 20:
            add(
                "clause_type_of",
                lambda a=a: row(
                    "clause_type_of",
                    P.clause_type_prompt(P.clip(a.text, max_chars), clause_types),
                    a.clause_type,
                    a.start,
                    a.end,
                    label=a.clause_type,
                    choices=list(clause_types),
                ),
            )


def _heading_like(title: str) -> bool:
    # A numbered list item ("1. The Licensee shall pay ...") opens a "section" too; a heading is short.
    return bool(title) and "[" not in title and len(title) <= 80 and len(title.split()) <= 10


def _masked(text: str, s: int, e: int, max_chars: int) -> str:
    """The passage with [s, e) blanked, cut to a window around the blank when it is too long."""
    masked = text[:s] + P.BLANK + text[e:]
    if len(masked) <= max_chars:
        return masked
    lo = max(0, s - max_chars // 2)
    hi = min(len(masked), lo + max_chars)
    return ("... " if lo else "") + masked[lo:hi].strip() + (" ..." if hi < len(masked) else "")
