"""Jurisdiction Q&A from the statutes and regulations the user ingests: article -> question -> cited answer.

A document qualifies by its metadata `document_type` (statute, regulation, code by default). Each of
its provisions (a chunk whose heading names an article, section, § or rule) yields a question about
it and an answer that cites it ("... [Art. 12]"). With a teacher the pair is the teacher's, grounded
in the provision's text (an answer that forgets the citation gets it appended; an unparseable reply
falls back to the template); without one it is templated: "What does Article 12 (Heading) of the
<title> (<jurisdiction>) provide?" -> the provision's first sentences, quoted and cited. Every row
carries meta["jurisdiction"]; a document without one is warned about and tagged "unknown".
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.records import Chunk, DatasetRow
from lextune.data import instruction_prompts as P
from lextune.data.builders.base import BuildContext, Builder, DocView, register
from lextune.data.teacher import TeacherError
from lextune.vault.chunker import is_heading

_NUM = r"\d+[A-Za-z]?(?:\.\d+)*"
# A bare number counts only as the chunker's numbered headings do: at most three digits a part, and no
# lower-case word after it ("2020 was a year" is a sentence, "12.3 Time limits" a provision).
_REF = re.compile(
    rf"^\s*(?:(?P<kw>(?i:article|art\.|section|sec\.|rule|regulation|reg\.|paragraph|para\.|part|chapter|schedule))"
    rf"\s*(?P<num>{_NUM}|[IVXLCDM]+\b)|§+\s*(?P<snum>{_NUM})|(?P<bare>\d{{1,3}}(?:\.\d{{1,3}})*)(?=\.?(?:\s+[^a-z\s]|\s*$)))",
)
# keyword -> (how the question names it, how the answer cites it)
_KINDS = {
    "article": ("Article", "Art."),
    "art.": ("Article", "Art."),
    "section": ("Section", "Sec."),
    "sec.": ("Section", "Sec."),
    "rule": ("Rule", "Rule"),
    "regulation": ("Regulation", "Reg."),
    "reg.": ("Regulation", "Reg."),
    "paragraph": ("Paragraph", "Para."),
    "para.": ("Paragraph", "Para."),
    "part": ("Part", "Part"),
    "chapter": ("Chapter", "Ch."),
    "schedule": ("Schedule", "Sch."),
}
_LEGISLATION = re.compile(
    r"(?i)\b(?:act|code|regulations?|statute|law|directive|ordinance|rules|decree|"
    r"constitution|treaty|convention|order)\b"
)
_QA = re.compile(r"question\s*:\s*(?P<q>.+?)\s*\n\s*\**answer\**\s*:\s*(?P<a>.+)", re.IGNORECASE | re.DOTALL)


class StatuteQAOptions(BaseModel):
    """Options of the "statute_qa" builder."""

    model_config = ConfigDict(extra="forbid")
    document_types: list[str] = Field(
        default_factory=lambda: ["statute", "regulation", "code"],
        description="Metadata document_type values that count as legislation.",
    )
    questions_per_article: int = Field(1, ge=1, le=5, description="Question/answer rows per provision chunk.")
    answer_sentences: int = Field(3, ge=1, description="Sentences quoted by a templated answer.")
    max_answer_chars: int = Field(800, ge=100, description="Templated answers quote at most this much.")
    max_article_chars: int = Field(3000, ge=200, description="Provision text is clipped to this in prompts.")
    min_article_chars: int = Field(40, ge=1, description="Shorter provisions (a bare heading) are skipped.")
    include_article_in_prompt: bool = Field(
        False,
        description="Open book: show the provision in the prompt (off: the model learns the law itself).",
    )


def _norm_type(value: object) -> str:
    return str(value or "").strip().casefold().replace("_", " ").removesuffix("s")


def provision_ref(line: str) -> tuple[str, str] | None:
    """('Article 12', '[Art. 12]') for a heading that names a provision, else None."""
    m = _REF.match(line)
    if not m:
        return None
    if m.group("kw"):
        name, abbr = _KINDS[m.group("kw").lower()]
        num = m.group("num")
    elif m.group("snum"):
        name, abbr, num = "§", "§", m.group("snum")
    else:
        name, abbr, num = "Section", "Sec.", m.group("bare")
    return f"{name} {num}", f"[{abbr} {num}]"


@register
class StatuteQABuilder(Builder):
    name = "statute_qa"
    tasks = ("statute_qa",)
    Options = StatuteQAOptions

    def __init__(self) -> None:
        self.fallbacks: Counter[str] = Counter()  # teacher replies replaced by the template, by reason
        self.jurisdictions: Counter[str] = Counter()  # rows per jurisdiction, for the manifest
        self.no_jurisdiction: list[str] = []  # ids of legislation without jurisdiction metadata

    def describe(self) -> dict[str, object]:
        """The manifest's section: rows per jurisdiction, untagged documents, template fallbacks."""
        return {
            "rows_by_jurisdiction": dict(sorted(self.jurisdictions.items())),
            "documents_without_jurisdiction": len(self.no_jurisdiction),
            "teacher_fallbacks": dict(self.fallbacks),
        }

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterator[DatasetRow]:
        opts: StatuteQAOptions = ctx.options  # type: ignore[assignment]
        if _norm_type(doc.meta.get("document_type")) not in {_norm_type(t) for t in opts.document_types}:
            return
        jurisdiction = doc.meta.get("jurisdiction")
        if not jurisdiction:
            self.no_jurisdiction.append(doc.id)
        full = doc.text()
        title = _title(doc, full)
        kind = P.doc_kind(doc)
        for chunk in doc.chunks:
            if chunk.dup_of is None and chunk.kind in ("body", "definition"):
                yield from self._chunk_rows(
                    doc, chunk, full, title, str(jurisdiction or "unknown"), kind, ctx, opts
                )

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> Iterable[DatasetRow]:
        # One warning for the build, not one per statute: a folder of untagged acts is one mistake.
        if self.no_jurisdiction:
            shown = ", ".join(self.no_jurisdiction[:5]) + (" ..." if len(self.no_jurisdiction) > 5 else "")
            ctx.warnings.append(
                f"statute_qa: {len(self.no_jurisdiction)} document(s) have no jurisdiction metadata "
                f"({shown}); their rows are tagged 'unknown' (set it on ingest or in a sidecar file)"
            )
        if self.fallbacks:
            what = ", ".join(f"{n} {why}" for why, n in sorted(self.fallbacks.items()))
            ctx.warnings.append(f"statute_qa: teacher replies replaced by the template: {what}")
        return ()

    def _chunk_rows(
        self,
        doc: DocView,
        chunk: Chunk,
        full: str,
        title: str | None,
        jurisdiction: str,
        kind: str,
        ctx: BuildContext,
        opts: StatuteQAOptions,
    ) -> Iterator[DatasetRow]:
        path = [h for h in (P.safe_label(doc, h, full) for h in reversed(chunk.heading_path)) if h]
        # A chunk merged from short provisions holds several; each gets its own question. Text before the
        # first heading carries on a provision begun in an earlier chunk, named by the heading path.
        for n, (heads, body) in enumerate(P.split_sections(chunk.text, _opens_provision)):
            found = _reference(heads, []) if heads else (_reference([], path) if n == 0 else None)
            if found is None or len(body) < opts.min_article_chars:
                continue
            ref, cite, heading = found
            label = f"{ref} ({heading})" if heading else ref
            source = P.statute_source(label, title, None if jurisdiction == "unknown" else jurisdiction, kind)
            article = P.clip(body, opts.max_article_chars)
            rng = random.Random(f"{ctx.seed}:{doc.id}:{chunk.id}:{n}:statute_qa")
            templates = rng.sample(
                P.STATUTE_QUESTIONS, min(opts.questions_per_article, len(P.STATUTE_QUESTIONS))
            )
            for k in range(opts.questions_per_article):
                pair = self._ask_teacher(ctx, source, cite, article, k, opts.questions_per_article)
                if pair is None:
                    question = templates[k % len(templates)].format(source=source)
                    answer = P.statute_answer(source, _excerpt(body, opts), cite, continued=not heads)
                else:
                    question, answer = pair
                user = (
                    P.statute_open_book_prompt(question, cite, article)
                    if opts.include_article_in_prompt
                    else question
                )
                row = doc.row(
                    self.name, "statute_qa", user, answer, chunk.start, chunk.end, variant=f"{n}:{k}"
                )
                row.meta.update(
                    jurisdiction=jurisdiction, citation=cite, form="teacher" if pair else "template"
                )
                self.jurisdictions[jurisdiction] += 1
                if pair:
                    row.meta["teacher"] = ctx.teacher.model
                yield row

    def _ask_teacher(
        self, ctx: BuildContext, source: str, cite: str, article: str, k: int, n: int
    ) -> tuple[str, str] | None:
        if ctx.teacher is None:
            return None
        try:
            reply = ctx.teacher.complete(
                [
                    {"role": "system", "content": P.TEACHER_SYSTEM},
                    {"role": "user", "content": P.statute_teacher_prompt(source, cite, article, k, n)},
                ]
            )
        except TeacherError as e:
            if e.kind != "malformed":
                raise  # auth, timeouts, refused connections stop the build: every row would fail alike
            self.fallbacks["malformed"] += 1
            return None
        m = _QA.search(reply)
        if not m:
            self.fallbacks["not in Question/Answer form"] += 1
            return None
        question, answer = " ".join(m.group("q").split()), m.group("a").strip()
        if cite.strip("[]") not in answer:
            answer = f"{answer} {cite}"  # grounded in this provision by construction, so the cite is right
        return question, answer


def _opens_provision(line: str) -> bool:
    # "§ 4 Penalties" opens a provision though the chunker reads it as text.
    return is_heading(line) or (line.startswith("§") and provision_ref(line) is not None)


def _title(doc: DocView, full: str) -> str | None:
    """The act's name for questions: its recorded title, else its first line, if either reads like the
    name of legislation and appears as such in the anonymized text (a file name such as "act" does not)."""
    first_line = full.strip().split("\n", 1)[0].strip()
    for candidate in (doc.document.title, first_line):
        title = P.safe_label(doc, candidate, full)
        if (
            title
            and len(title) <= 120
            and len(title.split()) >= 2
            and "[" not in title
            and _LEGISLATION.search(title)
        ):
            return title
    return None


def _reference(heads: list[str], path: list[str]) -> tuple[str, str, str] | None:
    """(ref, cite, heading) from the chunk's own heading lines first, then its heading path inside out."""
    for i, line in enumerate(heads):
        found = provision_ref(line)
        if found:
            title = P.heading_title(line) or next(
                (P.heading_title(h) for h in heads[i + 1 :] if P.heading_title(h)), ""
            )
            return *found, title
    for line in path:
        found = provision_ref(line)
        if found:
            return *found, P.heading_title(line)
    return None


def _excerpt(body: str, opts: StatuteQAOptions) -> str:
    spans = P.sentences(body)[: opts.answer_sentences]
    if not spans:
        return P.clip(body, opts.max_answer_chars)
    quoted = body[spans[0][0] : spans[-1][1]]
    quoted = " ".join(quoted.split())  # line breaks inside a quote read as noise in a one-line answer
    clipped = P.clip(quoted, opts.max_answer_chars)
    more = clipped == quoted and spans[-1][1] < len(body.rstrip())
    return clipped + (" ..." if more else "")
