"""Questions answered from numbered passages, quoting and citing them: "Which law governs this agreement?"
over [1]..[k] -> 'The agreement names its governing law: "This Agreement shall be governed by ..." [2]'.

Gold answers come from CUAD labels: the passage holding the labelled clause is shown among distractors,
and the answer quotes it verbatim (as shown, i.e. anonymized) and cites its number. Unanswerable rows
show passages that hold no clause of the asked category and answer `prompts.CITED_NOT_FOUND`, so the
model learns to say when the passages are silent instead of citing the nearest passage.

Distractors come from the same contract, where the labels say what they do not hold. Passages retrieved
from other contracts (`retrieved_distractors`) may hold the same kind of clause, unlabelled for this
row, so they are opt-in and only ever added to answerable rows.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.records import ClauseAnnotation, DatasetRow
from lextune.data import cuad_categories, prompts
from lextune.data.builders.base import BuildContext, Builder, DocView, register
from lextune.data.spans import (
    MIN_CLAUSE_CHARS,
    ShareKeeper,
    absence_reliable,
    askable_types,
    clause_annotations,
    clip,
    merged_spans,
    overlaps,
    snap_out,
    window_around,
)

TASK = "cited_qa"
_WORD = re.compile(r"[a-z]{4,}")
MIN_DISTRACTOR_CHARS = 80  # a lone heading or page number is no test of reading


class CitedQAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clause_types: cuad_categories.CategoryNames | None = Field(
        None, description="CUAD categories to ask about; None: the build's clause types (all 41 when it names none).")
    passages: int = Field(4, ge=2, le=10, description="Numbered passages shown per question.")
    passage_chars: int = Field(500, ge=100, description="Length of a shown passage (longer when its clause is).")
    max_quote_chars: int = Field(700, ge=MIN_CLAUSE_CHARS, description="Longer clauses are not asked about.")
    unanswerable_share: float = Field(
        0.3, ge=0, le=0.9, description="Share of rows, per split, whose passages do not answer the question.")
    max_per_type: int = Field(1, ge=1, description="Answerable questions per category and document at most.")
    hard_share: float = Field(
        0.5, ge=0, le=1, description="Share of distractors chosen for sharing words with the question "
        "(the rest at random), so the answer is not found by word overlap alone.")
    retrieved_distractors: int = Field(
        0, ge=0, description="Distractors per answerable row retrieved from other documents of the split "
        "(needs the build's retriever); they may hold unlabelled clauses of the asked kind.")


@register
class CitedQABuilder(Builder):
    """cited_qa: question + numbered passages -> verbatim quote with [n], or the not-found sentence."""

    name = "cited_qa"
    tasks = (TASK,)
    Options = CitedQAOptions
    needs_annotations = True

    def __init__(self) -> None:
        self.unanswerable: ShareKeeper | None = None
        self.warned = False

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterator[DatasetRow]:
        opts: CitedQAOptions = ctx.options  # type: ignore[assignment]
        types = askable_types(self, opts.clause_types, ctx)
        anns = clause_annotations(doc)
        if not anns:
            return  # never clause-labelled (e.g. a ContractNLI NDA): no label's absence means anything
        rng = random.Random(f"{ctx.seed}:{doc.id}:cited_qa")
        answerable = [row for t in types for row in self._answerable(doc, anns, t, opts, ctx, rng)]
        if self.unanswerable is None:
            self.unanswerable = ShareKeeper(opts.unanswerable_share)
        wanted = self.unanswerable.wanted(doc.split, len(answerable))
        unanswerable = list(self._unanswerable(doc, anns, types, opts, rng, wanted))
        self.unanswerable.add(doc.split, len(answerable), len(unanswerable))
        yield from answerable
        yield from unanswerable

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> Iterable[DatasetRow]:
        if self.unanswerable is not None:
            ctx.warnings.extend(f"{self.name}: {w}" for w in self.unanswerable.shortfalls("unanswerable"))
        return ()

    def describe(self) -> dict:
        """What the manifest records besides the options: the unanswerable share reached per split."""
        return {"unanswerable_share": self.unanswerable.describe()} if self.unanswerable else {}

    def _answerable(
        self, doc: DocView, anns: list[ClauseAnnotation], clause_type: str, opts: CitedQAOptions,
        ctx: BuildContext, rng: random.Random,
    ) -> Iterator[DatasetRow]:
        spans = merged_spans(anns, clause_type)
        usable = [(s, e) for s, e in spans if MIN_CLAUSE_CHARS <= e - s <= opts.max_quote_chars]
        cat = cuad_categories.BY_NAME[clause_type]
        made = 0
        for start, end in rng.sample(usable, len(usable)):
            if made >= opts.max_per_type:
                return
            ws, we = window_around(doc, start, end, opts.passage_chars, rng, spans)
            quotes = [doc.text(s, e).strip() for s, e in spans if ws <= s and e <= we]
            gold_text = doc.text(ws, we).strip()
            if any(len(q) > opts.max_quote_chars or q not in gold_text for q in quotes):
                continue
            n_other = max(0, min(opts.retrieved_distractors, opts.passages - 2)) if ctx.retrieve else 0
            shown = [(ws, we)] + _distractors(doc, cat, spans + [(ws, we)], opts.passages - 1 - n_other, opts, rng)
            foreign = _retrieved(ctx, cat.ask, doc, n_other, opts.passage_chars)
            if len(shown) + len(foreign) < 2:  # one passage alone makes the citation a giveaway
                continue
            order = list(range(len(shown) + len(foreign)))
            rng.shuffle(order)
            gold_n = order[0] + 1  # passage i is shown as number order[i] + 1
            answer = prompts.cited_quote_answer(cat.lead, [(q, gold_n) for q in quotes])
            yield self._row(doc, cat, shown, foreign, order, answer, [gold_n], variant=f"{clause_type}:{ws}")
            made += 1

    def _unanswerable(
        self, doc: DocView, anns: list[ClauseAnnotation], types: list[str], opts: CitedQAOptions,
        rng: random.Random, wanted: int,
    ) -> Iterator[DatasetRow]:
        askable = [t for t in types if absence_reliable(t)]
        in_doc = {a.clause_type for a in anns}
        asked: set[str] = set()
        for _ in range(wanted * 3):
            if len(asked) >= wanted or not askable:
                return
            # Half the time a category the contract has elsewhere: the passages, not the contract type,
            # must decide the answer.
            elsewhere = [t for t in askable if t in in_doc and t not in asked]
            pool = elsewhere if elsewhere and rng.random() < 0.5 else [t for t in askable if t not in asked]
            if not pool:
                return
            clause_type = rng.choice(pool)
            cat = cuad_categories.BY_NAME[clause_type]
            shown = _distractors(doc, cat, merged_spans(anns, clause_type), opts.passages, opts, rng)
            asked.add(clause_type)
            if len(shown) < 2:
                continue
            order = list(range(len(shown)))
            rng.shuffle(order)
            yield self._row(doc, cat, shown, [], order, prompts.CITED_NOT_FOUND, [], variant=f"{clause_type}:none")

    def _row(
        self, doc: DocView, cat: cuad_categories.Category, shown: list[tuple[int, int]],
        foreign: list[tuple[str, dict]], order: list[int], answer: str, gold: list[int], variant: str,
    ) -> DatasetRow:
        """`order[i]` is the shown number - 1 of passage i (this document's first, then retrieved ones)."""
        texts: list[str] = [""] * len(order)
        sources: list[dict] = [{}] * len(order)
        for i, (s, e) in enumerate(shown):
            texts[order[i]] = doc.text(s, e).strip()
            sources[order[i]] = {"document_id": doc.id, "start": s, "end": e, "chunk_ids": doc.chunk_ids(s, e)}
        for j, (text, source) in enumerate(foreign):
            texts[order[len(shown) + j]] = text
            sources[order[len(shown) + j]] = source
        hull = (min(s for s, _ in shown), max(e for _, e in shown))
        row = doc.row(self.name, TASK, prompts.cited_qa_prompt(cat.ask, texts), answer, *hull,
                      variant=variant, label=cat.name)
        # The hull spans unshown text between passages; cite only the chunks whose text the row shows.
        chunk_ids = sorted({c for s, e in shown for c in doc.chunk_ids(s, e)}, key=row.chunk_ids.index)
        row = row.model_copy(update={"chunk_ids": chunk_ids})
        row.meta.update({"question": cat.ask, "clause_type": cat.name, "answerable": bool(gold),
                         "gold_citations": gold, "passages": [{"n": n, **src} for n, src in enumerate(sources, 1)]})
        return row


def _terms(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _distractors(
    doc: DocView, cat: cuad_categories.Category, avoid: list[tuple[int, int]], n: int, opts: CitedQAOptions,
    rng: random.Random,
) -> list[tuple[int, int]]:
    """Up to n passages of this document overlapping none of `avoid` (clauses of the asked category and
    the gold passage): some sharing words with the question, the rest random."""
    candidates: list[tuple[int, int]] = []
    for chunk in doc.chunks:
        if chunk.end - chunk.start < MIN_DISTRACTOR_CHARS:
            continue
        # A random window of a long chunk, so successive rows do not always show its opening.
        start = rng.randint(chunk.start, max(chunk.start, chunk.end - opts.passage_chars))
        start, end = snap_out(doc, start, min(chunk.end, start + opts.passage_chars))
        clear = not any(overlaps(start, end, s, e) for s, e in avoid + candidates)
        if clear and doc.text(start, end).strip():
            candidates.append((start, end))
    terms = _terms(f"{cat.ask} {cat.question} {cat.description}")
    n_hard = round(min(n, len(candidates)) * opts.hard_share)
    ranked = sorted(candidates, key=lambda s: (-len(terms & _terms(doc.text(*s))), s))
    chosen = ranked[:n_hard]
    rest = [c for c in candidates if c not in chosen]
    chosen += rng.sample(rest, min(len(rest), n - len(chosen)))
    return chosen


def _retrieved(ctx: BuildContext, question: str, doc: DocView, n: int, max_chars: int) -> list[tuple[str, dict]]:
    if n <= 0 or ctx.retrieve is None:
        return []
    out = []
    for p in ctx.retrieve(question, doc.split, n, doc.id):
        if p.document_id != doc.id and p.text.strip() and len(out) < n:
            source = {"document_id": p.document_id, "start": p.start, "end": p.end, "chunk_ids": [p.chunk_id]}
            out.append((clip(p.text.strip(), max_chars), source))
    return out
