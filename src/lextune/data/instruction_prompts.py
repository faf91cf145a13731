"""Wording of the instruction-pair and statute Q&A tasks, and the pieces of a document they may quote.

Training prompts and teacher prompts live side by side so the row a model trains on asks what the
teacher was asked. Only text from a `DocView` (anonymized) goes into them; strings kept outside the
document text (heading paths, the title) pass `safe_label` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from lextune.data.prompts import NOT_FOUND
from lextune.vault.chunker import is_heading

if TYPE_CHECKING:  # builders import this module; a runtime import back would be circular
    from lextune.data.builders.base import DocView

BLANK = "[BLANK]"
TEACHER_SYSTEM = (
    "You write reference answers for training a legal assistant. Use only the text you are given. "
    "Bracketed placeholders such as [PARTY_1] or [PERSON_2] stand for redacted names: copy them exactly "
    "and never guess what they hide."
)
# A sentence ends at . ! ? before whitespace (so "Section 3.2" and "U.S.C." stay whole) or at a line end.
_SENTENCE = re.compile(r"[^\n]+?(?:[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)|$)", re.MULTILINE)
# The numbering a heading carries ("ARTICLE 12", "12.3", "Section 4.", "§ 5"), stripped to get its title.
# Roman numerals count only after a keyword or before "." / ")", so "MISCELLANEOUS" keeps its "M".
_NUMBERING = re.compile(
    r"^\s*(?:(?i:article|section|art\.|sec\.|schedule|part|chapter|rule|regulation)\s+"
    r"(?:\d+[A-Za-z]?(?:\.\d+)*|[IVXLCDM]+|[A-Z])\b|§+\s*\d+[A-Za-z]?(?:\.\d+)*"
    r"|\d+[A-Za-z]?(?:\.\d+)*|[IVXLCDM]+(?=[.)]))?\.?\s*[-\u2013\u2014:.)]?\s*"
)


# --- what a prompt may quote -------------------------------------------------------------------------


def doc_kind(doc: DocView) -> str:
    """'lease', 'statute', or 'document': user-set metadata, never the (raw) title."""
    return str(doc.meta.get("document_type") or "document").strip().replace("_", " ") or "document"


def a(kind: str) -> str:
    return ("an " if kind[:1].lower() in "aeiou" else "a ") + kind


def safe_label(doc: DocView, label: str | None, anonymized_text: str) -> str | None:
    """`label` if it appears verbatim, as whole words, in the document's anonymized text, else None.

    Heading paths and titles are copies made before anonymization; a name redacted in the text
    would survive in them, so they are used only where the anonymized text still says the same.
    """
    label = (label or "").strip()
    if not label or re.search(rf"(?<!\w){re.escape(label)}(?!\w)", anonymized_text) is None:
        return None
    return label


def clip(text: str, max_chars: int) -> str:
    """Shorten at a word boundary, marking the cut, so prompts stay within the model's context."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars].rstrip() + " ..."


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence-like piece of `text`, whitespace-trimmed."""
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def split_sections(
    text: str, opens: Callable[[str], bool] = is_heading, max_lines: int = 3
) -> list[tuple[list[str], str]]:
    """(heading lines, body) of each section in a chunk's text. A chunk merged from small sections holds
    several; the first has no heading lines when the chunk starts inside a section."""
    out: list[tuple[list[str], list[str]]] = [([], [])]
    for line in text.strip().split("\n"):
        stripped = line.strip()
        heads, body = out[-1]
        if stripped and opens(stripped):
            if any(b.strip() for b in body):
                out.append(([stripped], []))
                continue
            if len(heads) < max_lines:
                heads.append(stripped)
                continue
        body.append(line)
    sections = [(heads, "\n".join(body).strip()) for heads, body in out]
    return [s for s in sections if s[0] or s[1]]


def split_heading(text: str, max_lines: int = 3) -> tuple[list[str], str]:
    """The heading lines a chunk opens with (at most max_lines) and the body after them."""
    lines = text.lstrip().split("\n")
    heads: list[str] = []
    while lines and len(heads) < max_lines and is_heading(lines[0].strip()):
        heads.append(lines.pop(0).strip())
    return heads, "\n".join(lines).strip()


def heading_title(heading: str) -> str:
    """'12.3 Indemnification' -> 'Indemnification'; '' when the heading is only a number."""
    return _NUMBERING.sub("", heading, count=1).strip(" .:-\u2013\u2014")


# --- instruction pairs -------------------------------------------------------------------------------


def summarize_prompt(kind: str, passage: str) -> str:
    return (
        f"Summarize this section of {a(kind)} in two or three plain sentences. Keep bracketed "
        f"placeholders as they are.\n\nSection:\n{passage}"
    )


def extract_prompt(kind: str, passage: str, clause_type: str) -> str:
    return (
        f"Passage from {a(kind)}:\n{passage}\n\n"
        f'Quote every "{clause_type}" clause in the passage word for word, one per line. '
        f'If the passage has none, answer exactly "{NOT_FOUND}".'
    )


def rewrite_prompt(passage: str, house_style: str | None) -> str:
    # The training row may leave the style guide out, so the tuned model learns the style itself.
    style = f"\n\nHouse style:\n{house_style.strip()}" if house_style else ""
    return f"Rewrite this clause in our house style, keeping its legal meaning.{style}\n\nClause:\n{passage}"


def heading_to_body_prompt(kind: str, heading_path: list[str]) -> str:
    return f'Draft the section "{" > ".join(heading_path)}" of {a(kind)}. Answer with the section text only.'


def body_to_heading_prompt(kind: str, body: str) -> str:
    return (
        f"Write the heading of this section of {a(kind)}. Answer with the heading only.\n\nSection:\n{body}"
    )


def define_term_prompt(kind: str, term: str) -> str:
    return f'In this {kind}, what does "{term}" mean? Quote its definition.'


def fill_blank_prompt(kind: str, masked: str) -> str:
    return (
        f"A passage of {a(kind)} has one sentence replaced by {BLANK}. Write the missing sentence "
        f"only.\n\nPassage:\n{masked}"
    )


def clause_type_prompt(passage: str, clause_types: list[str]) -> str:
    return (
        f"Which type of contract clause is this passage? Options: {'; '.join(clause_types)}.\n\n"
        f"Passage:\n{passage}\n\nAnswer with the clause type only."
    )


# --- statute Q&A -------------------------------------------------------------------------------------


def statute_source(ref: str, title: str | None, jurisdiction: str | None, kind: str) -> str:
    """'Article 12 of the GDPR (EU)', or 'Article 12 of this regulation' when the title is unsafe."""
    if title:
        where = title if title.lower().startswith("the ") else f"the {title}"
    else:
        where = f"this {kind}"
    return f"{ref} of {where}" + (f" ({jurisdiction})" if jurisdiction else "")


STATUTE_QUESTIONS = (
    "What does {source} provide?",
    "What rule does {source} lay down?",
    "What is set out in {source}?",
    "What does {source} say?",
)


def statute_teacher_prompt(source: str, cite: str, article: str, k: int = 0, n: int = 1) -> str:
    which = f" This is question {k + 1} of {n}: pick a point the others would not ask about." if n > 1 else ""
    return (
        f"Here is {source}:\n\n{article}\n\n"
        "Write one question a lawyer might ask that this provision answers, and its answer. The answer "
        f"must rest on the provision's text only and cite it as {cite}.{which} Reply in exactly this "
        f"form:\nQuestion: <the question>\nAnswer: <the answer, citing {cite}>"
    )


def statute_answer(source: str, excerpt: str, cite: str, continued: bool) -> str:
    verb = "also provides" if continued else "provides"
    return f'{source[:1].upper()}{source[1:]} {verb}: "{excerpt}" {cite}'


def statute_open_book_prompt(question: str, cite: str, article: str) -> str:
    return f"{cite}\n{article}\n\nQuestion: {question}\nAnswer from the provision above, citing it as {cite}."
