"""Instruction pairs from any document: about three rows per usable chunk, labelled or not.

With a teacher (ctx.teacher, see data/teacher.py) a chunk is summarized, searched for a clause type
(CUAD-style "Not found" when absent) and rewritten in the firm's house style, the teacher's answer
being the target (row.meta["teacher"] names its model). Without one, or for the remaining rows, the
self-supervised forms (data/instruction_forms.py): heading -> body, body -> heading, defined term ->
definition, fill the masked sentence, and clause -> its type where the document has clause annotations.

A *usable* chunk is one that is not a duplicate (`dup_of`), not a signature block or preamble, and
at least `min_chunk_chars` long. The vault-size rule sees the whole vault, not one document:

- `InstructionsBuilder.check_vault(n, ctx)` raises DatasetError under 10 usable chunks and appends a
  warning to ctx.warnings under 300; `InstructionsBuilder.count_usable(chunks, options)` counts them.
  An orchestrator calls it once before building, with every chunk of the vault (data/dataset.py
  runs the same rule on its own count of the vault before any builder);
- `corpus_rows`, which runs once after every document went through `document_rows`, repeats the check
  with the usable chunks this builder saw, so the rule holds even for a caller that checked nothing.
  Its warning is skipped when ctx.warnings already carries one about usable chunks.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.errors import DatasetError
from lextune.core.records import Chunk, ClauseAnnotation, DatasetRow, DefinedTerm
from lextune.data import instruction_prompts as P
from lextune.data.builders.base import BuildContext, Builder, DocView, register
from lextune.data.instruction_forms import (
    Make,
    clause_type_forms,
    heading_forms,
    masked_span_forms,
    term_forms,
)
from lextune.data.teacher import TeacherError

TEACHER_TASKS = ("summarize", "extract_clauses", "rewrite_house_style")
SELF_TASKS = ("heading_to_body", "body_to_heading", "define_term", "fill_masked_span", "clause_type_of")
Task = Literal[
    "summarize",
    "extract_clauses",
    "rewrite_house_style",
    "heading_to_body",
    "body_to_heading",
    "define_term",
    "fill_masked_span",
    "clause_type_of",
]
T = TypeVar("T")
MIN_USABLE_CHUNKS = 10
FEW_USABLE_CHUNKS = 300
USABLE_KINDS = frozenset({"body", "recital", "definition"})
# Chunk kinds where each form makes sense: nobody summarizes or rewrites a signature block.
TASK_KINDS: dict[str, frozenset[str]] = {
    "summarize": USABLE_KINDS,
    "extract_clauses": frozenset({"body", "definition"}),
    "rewrite_house_style": frozenset({"body", "definition"}),
    "heading_to_body": frozenset({"body"}),
    "body_to_heading": frozenset({"body", "definition"}),
    "define_term": USABLE_KINDS,
    "fill_masked_span": USABLE_KINDS,
    "clause_type_of": USABLE_KINDS,
}


class InstructionOptions(BaseModel):
    """Options of the "instructions" builder."""

    model_config = ConfigDict(extra="forbid")
    # clause_type_of is off by default: the "clauses" builder already makes clause-typing rows.
    tasks: list[Task] = Field(
        default_factory=lambda: [t for t in TEACHER_TASKS + SELF_TASKS if t != "clause_type_of"],
        description="Forms to build; teacher forms are used only when a teacher is set.",
    )
    rows_per_chunk: int = Field(
        3, ge=1, le=8, description="Rows per usable chunk (fewer where fewer forms fit)."
    )
    min_chunk_chars: int = Field(120, ge=1, description="Shorter chunks are not usable.")
    max_chunk_chars: int = Field(2000, ge=200, description="Passages are clipped to this length in prompts.")
    heading_to_body_max_chars: int = Field(
        1200, ge=100, description="Longest section to ask a model to draft."
    )
    house_style: str | None = Field(
        None, description="The firm's style guide; rewriting needs it and a teacher."
    )
    house_style_in_prompt: bool = Field(
        False,
        description="Put the style guide in training prompts too (off: the model learns the style itself).",
    )
    extract_types: list[str] | None = Field(
        None, description="Clause types to extract; default: the build's."
    )


@register
class InstructionsBuilder(Builder):
    name = "instructions"
    tasks = TEACHER_TASKS + SELF_TASKS
    Options = InstructionOptions

    def __init__(self) -> None:
        self.n_usable = 0  # usable chunks seen by document_rows, for the corpus_rows safety net
        self.skipped: Counter[str] = Counter()  # teacher answers dropped, by reason

    def describe(self) -> dict[str, object]:
        """The manifest's instructions section: usable chunks seen, teacher answers dropped."""
        return {"usable_chunks": self.n_usable, "teacher_answers_dropped": dict(self.skipped)}

    # --- the vault-size rule ---------------------------------------------------------------------

    @staticmethod
    def is_usable(chunk: Chunk, options: InstructionOptions | None = None) -> bool:
        min_chars = (options or InstructionOptions()).min_chunk_chars
        return chunk.dup_of is None and chunk.kind in USABLE_KINDS and len(chunk.text.strip()) >= min_chars

    @classmethod
    def count_usable(cls, chunks: Iterable[Chunk], options: InstructionOptions | None = None) -> int:
        return sum(cls.is_usable(c, options) for c in chunks)

    @classmethod
    def check_vault(cls, n_usable_chunks: int, ctx: BuildContext) -> None:
        """Refuse a vault under 10 usable chunks; warn (ctx.warnings) under 300."""
        if n_usable_chunks < MIN_USABLE_CHUNKS:
            raise DatasetError(
                f"instructions: the vault has {n_usable_chunks} usable chunks (non-duplicate body, recital "
                f"or definition chunks), fewer than {MIN_USABLE_CHUNKS}: too little to tune on; ingest more "
                "documents or use retrieval (lextune ask) alone"
            )
        if n_usable_chunks < FEW_USABLE_CHUNKS and not any("usable chunks" in w for w in ctx.warnings):
            _warn_once(
                ctx,
                f"instructions: only {n_usable_chunks} usable chunks (under {FEW_USABLE_CHUNKS}): "
                "tuning will likely overfit; retrieval alone may serve better",
            )

    # --- rows ------------------------------------------------------------------------------------

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterator[DatasetRow]:
        opts: InstructionOptions = ctx.options  # type: ignore[assignment]
        self._warn_about_options(opts, ctx)
        usable = [c for c in doc.chunks if self.is_usable(c, opts)]
        self.n_usable += len(usable)
        if not usable:
            return
        full = doc.text()
        # Terms and clauses grouped by the chunk they start in, once per document, not once per chunk.
        starts = [c.start for c in usable]
        terms = _by_chunk(usable, starts, doc.defined_terms, lambda t: t.start)
        span_types: dict[tuple[int, int], set[str]] = {}
        for a in doc.annotations:
            if a.kind == "clause" and a.clause_type in ctx.clause_types:
                span_types.setdefault((a.start, a.end), set()).add(a.clause_type)
        # A span labelled with two of the build's types has no single right answer.
        clauses = _by_chunk(
            usable,
            starts,
            [
                a
                for a in doc.annotations
                if a.kind == "clause"
                and a.clause_type in ctx.clause_types
                and len(span_types[(a.start, a.end)]) == 1
            ],
            lambda a: a.start,
        )
        following = dict(zip((c.id for c in doc.chunks), doc.chunks[1:], strict=False))
        for chunk in usable:
            rng = random.Random(f"{ctx.seed}:{doc.id}:{chunk.id}:instructions")
            nxt = following.get(chunk.id)
            made = 0
            cands = self._candidates(
                doc, chunk, nxt, full, terms.get(chunk.id, []), clauses.get(chunk.id, []), opts, ctx
            )
            for make in self._ordered(cands, rng):
                row = make()
                if row is not None:
                    made += 1
                    yield row
                if made == opts.rows_per_chunk:
                    break

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> Iterable[DatasetRow]:
        self.check_vault(self.n_usable, ctx)
        if self.skipped:
            what = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            _warn_once(ctx, f"instructions: teacher answers dropped: {what}")
        return ()

    @staticmethod
    def _ordered(cands: dict[str, list[Make]], rng: random.Random) -> Iterator[Make]:
        """Round-robin over the chunk's forms, teacher forms first, so rows spread over tasks."""
        first = [t for t in TEACHER_TASKS if t in cands]
        rest = [t for t in SELF_TASKS if t in cands]
        rng.shuffle(first)
        rng.shuffle(rest)
        pools = {t: rng.sample(cands[t], len(cands[t])) for t in cands}
        order = first + rest
        while order:
            for t in list(order):
                yield pools[t].pop()
                if not pools[t]:
                    order.remove(t)

    def _candidates(
        self,
        doc: DocView,
        chunk: Chunk,
        nxt: Chunk | None,
        full: str,
        terms: list[DefinedTerm],
        clauses: list[ClauseAnnotation],
        opts: InstructionOptions,
        ctx: BuildContext,
    ) -> dict[str, list[Make]]:
        """Row makers per form that fits this chunk; a maker runs (and calls the teacher) only if picked."""
        kind = P.doc_kind(doc)
        text = chunk.text.strip()
        passage = P.clip(text, opts.max_chunk_chars)
        out: dict[str, list[Make]] = {}

        def add(task: str, make: Make) -> None:
            if task in opts.tasks and chunk.kind in TASK_KINDS[task]:
                out.setdefault(task, []).append(make)

        def row(
            task: str,
            user: str,
            answer: str,
            start: int = chunk.start,
            end: int = chunk.end,
            variant: object = "",
            **kw: object,
        ) -> DatasetRow:
            r = doc.row(self.name, task, user, answer, start, end, variant=variant, **kw)  # type: ignore[arg-type]
            r.meta["form"] = "teacher" if task in TEACHER_TASKS else "self"
            if task in TEACHER_TASKS:
                r.meta["teacher"] = ctx.teacher.model
            return r

        if ctx.teacher is not None:
            sum_q = P.summarize_prompt(kind, passage)
            add("summarize", lambda: self._teach(ctx, lambda a: row("summarize", sum_q, a), sum_q))
            types = opts.extract_types or ctx.clause_types
            if types:
                ctype = _pick_type(doc, chunk, types, random.Random(f"{ctx.seed}:{doc.id}:{chunk.id}:type"))
                q = P.extract_prompt(kind, passage, ctype)
                add(
                    "extract_clauses",
                    lambda: self._teach(
                        ctx,
                        lambda a: row("extract_clauses", q, a, label=ctype),
                        q,
                        check=lambda a: _quotes(a, text),
                    ),
                )
            if opts.house_style:
                train_q = P.rewrite_prompt(passage, opts.house_style if opts.house_style_in_prompt else None)
                add(
                    "rewrite_house_style",
                    lambda: self._teach(
                        ctx,
                        lambda a: row("rewrite_house_style", train_q, a),
                        P.rewrite_prompt(passage, opts.house_style),
                    ),
                )

        # The self-supervised forms, from instruction_forms.py.
        max_chars = opts.max_chunk_chars
        heading_forms(add, row, doc, chunk, nxt, full, kind, max_chars, opts.heading_to_body_max_chars)
        term_forms(add, row, doc, terms, kind, max_chars)
        masked_span_forms(add, row, text, kind, max_chars)
        clause_type_forms(add, row, clauses, ctx.clause_types, max_chars)
        return out

    def _teach(
        self,
        ctx: BuildContext,
        make: Callable[[str], DatasetRow],
        user: str,
        check: Callable[[str], str | None] | None = None,
    ) -> DatasetRow | None:
        """Ask the teacher; its answer becomes the target. An odd answer skips the row, not the build."""
        try:
            answer = ctx.teacher.complete(
                [{"role": "system", "content": P.TEACHER_SYSTEM}, {"role": "user", "content": user}]
            )
        except TeacherError as e:
            if e.kind != "malformed":
                raise
            self.skipped["malformed"] += 1
            return None
        if check is not None:
            fixed = check(answer)
            if fixed is None:
                self.skipped["not quoted verbatim"] += 1
                return None
            answer = fixed
        return make(answer)

    def _warn_about_options(self, opts: InstructionOptions, ctx: BuildContext) -> None:
        asked = set(opts.tasks) if "tasks" in opts.model_fields_set else set()
        if ctx.teacher is None and asked & set(TEACHER_TASKS):
            _warn_once(
                ctx,
                f"instructions: {sorted(asked & set(TEACHER_TASKS))} need a teacher "
                "(LEXTUNE_TEACHER_BASE_URL); built the self-supervised forms only",
            )
        if ctx.teacher is not None and "rewrite_house_style" in asked and not opts.house_style:
            _warn_once(ctx, "instructions: rewrite_house_style needs options.house_style; skipped")


def _warn_once(ctx: BuildContext, msg: str) -> None:
    if msg not in ctx.warnings:
        ctx.warnings.append(msg)


def _pick_type(doc: DocView, chunk: Chunk, types: list[str], rng: random.Random) -> str:
    """A clause type the chunk likely has (annotated, or named in its heading) 70% of the time, so
    extraction rows are not nearly all "Not found"; otherwise any type."""
    hint = " ".join(chunk.heading_path + [chunk.text[:200]]).lower()
    likely = sorted(
        {
            a.clause_type
            for a in doc.annotations
            if a.clause_type in types and a.start < chunk.end and chunk.start < a.end
        }
        | {t for t in types if _named_in(t, hint)}
    )
    return rng.choice(likely) if likely and rng.random() < 0.7 else rng.choice(sorted(types))


def _named_in(clause_type: str, hint: str) -> bool:
    words = [w for w in clause_type.lower().split() if len(w) > 3]
    return bool(words) and all(w in hint for w in words)


def _quotes(answer: str, text: str) -> str | None:
    """The teacher's extraction if it says Not found or quotes the passage verbatim, else None."""
    if answer.strip().strip('".').casefold() == P.NOT_FOUND.casefold():
        return P.NOT_FOUND
    norm = " ".join(text.split())
    lines = [ln.strip().lstrip("-*\u2022 ").strip().strip('"\u201c\u201d') for ln in answer.splitlines()]
    lines = [ln for ln in lines if ln]
    ok = lines and all(" ".join(ln.rstrip(".").split()) in norm for ln in lines)
    return "\n".join(lines) if ok else None


def _by_chunk(
    usable: list[Chunk], starts: list[int], items: Iterable[T], start_of: Callable[[T], int]
) -> dict[str, list[T]]:
    """Items keyed by the id of the usable chunk their start falls in (items elsewhere are dropped)."""
    out: dict[str, list[T]] = {}
    for item in items:
        pos = start_of(item)
        i = bisect.bisect_right(starts, pos) - 1
        if i >= 0 and pos < usable[i].end:
            out.setdefault(usable[i].id, []).append(item)
    return out
