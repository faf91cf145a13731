"""Lawyer-style Yes/No questions about one clause ("Does this clause give a party the right to audit ...?").

Positives are clauses labelled with the asked category. Most negatives are *hard*: other labelled clauses
of the same contract (same drafting, same parties, often the same section), so the model must read what
the clause does rather than recognise the contract; the rest are unlabelled passages of the contract.
A clause that overlaps a label of the asked category is never a negative, whatever else it is labelled.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.records import ClauseAnnotation, DatasetRow
from lextune.data import cuad_categories, prompts
from lextune.data.builders.base import BuildContext, Builder, DocView, register
from lextune.data.spans import (
    MIN_CLAUSE_CHARS,
    absence_reliable,
    askable_types,
    clause_annotations,
    merged_spans,
    overlaps,
    random_windows,
)

TASK = "clause_question"
CHOICES = [prompts.YES, prompts.NO]


class ClauseQuestionsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clause_types: cuad_categories.CategoryNames | None = Field(
        None, description="CUAD categories to ask about; None: the build's clause types (all 41 when it names "
        "none). Document Name and Parties are never asked: CUAD labels only some of their mentions.")
    negatives_per_positive: float = Field(1.0, ge=0, le=10, description="'No' rows per 'Yes' row (1.0: balanced).")
    hard_negative_share: float = Field(
        0.75, ge=0, le=1, description="Share of 'No' rows that are other labelled clauses of the same contract; "
        "the rest are unlabelled passages of it.")
    max_positives_per_type: int = Field(2, ge=1, description="'Yes' rows per category and document at most.")
    max_clause_chars: int = Field(
        1000, ge=MIN_CLAUSE_CHARS, description="Longer clauses are left out rather than clipped, since clipping "
        "could cut the words that make the answer Yes.")


@register
class ClauseQuestionsBuilder(Builder):
    """clause_question: a clause + a category's Yes/No question -> Yes or No."""

    name = "clause_questions"
    tasks = (TASK,)
    Options = ClauseQuestionsOptions
    needs_annotations = True

    def __init__(self) -> None:
        self.warned = False

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterator[DatasetRow]:
        opts: ClauseQuestionsOptions = ctx.options  # type: ignore[assignment]
        types = [t for t in askable_types(self, opts.clause_types, ctx) if absence_reliable(t)]
        anns = clause_annotations(doc)
        for clause_type in types:
            rng = random.Random(f"{ctx.seed}:{doc.id}:clause_questions:{clause_type}")
            yield from self._type_rows(doc, anns, clause_type, opts, rng)

    def _type_rows(
        self, doc: DocView, anns: list[ClauseAnnotation], clause_type: str, opts: ClauseQuestionsOptions,
        rng: random.Random,
    ) -> Iterator[DatasetRow]:
        asked = merged_spans(anns, clause_type)
        usable = [s for s in asked if self._fits(doc, s, opts)]
        positives = sorted(rng.sample(usable, min(len(usable), opts.max_positives_per_type)))
        if not positives:
            return
        wanted = round(opts.negatives_per_positive * len(positives))
        # Rounded at random, not to nearest: with one or two positives per type, nearest would never
        # leave room for a random negative at the default share.
        exact = wanted * opts.hard_negative_share
        n_hard = int(exact) + (rng.random() < exact - int(exact))
        hard = self._hard_pool(doc, anns, clause_type, asked, opts)
        hard = rng.sample(hard, min(len(hard), n_hard))
        lengths = [e - s for s, e in positives]
        random_ = self._random_passages(doc, anns, wanted - len(hard), lengths, rng)
        if len(hard) + len(random_) < wanted:  # few unlabelled passages: lean on the other labelled clauses
            extra = [s for s in self._hard_pool(doc, anns, clause_type, asked, opts) if s not in hard]
            hard += rng.sample(extra, min(len(extra), wanted - len(hard) - len(random_)))
        negatives = [(s, "hard") for s in hard] + [(s, "random") for s in random_]
        if opts.negatives_per_positive > 0:
            # Too few negatives for this contract: drop positives rather than tilt the Yes/No balance.
            positives = positives[: max(0, round(len(negatives) / opts.negatives_per_positive))]
        question = cuad_categories.BY_NAME[clause_type].question
        for (start, end), answer, source in (
            [(s, prompts.YES, "positive") for s in positives] + [(s, prompts.NO, src) for s, src in negatives]
        ):
            clause = doc.text(start, end).strip()
            row = doc.row(self.name, TASK, prompts.clause_question_prompt(clause, question), answer, start, end,
                          variant=clause_type, label=answer, choices=list(CHOICES))
            row.meta.update({"clause_type": clause_type, "source": source})
            yield row

    @staticmethod
    def _fits(doc: DocView, span: tuple[int, int], opts: ClauseQuestionsOptions) -> bool:
        return MIN_CLAUSE_CHARS <= span[1] - span[0] <= opts.max_clause_chars and bool(doc.text(*span).strip())

    def _hard_pool(
        self, doc: DocView, anns: list[ClauseAnnotation], clause_type: str, asked: list[tuple[int, int]],
        opts: ClauseQuestionsOptions,
    ) -> list[tuple[int, int]]:
        """Other labelled clauses of this contract that overlap no label of the asked category."""
        seen: set[str] = set()
        pool = []
        for start, end in sorted({(a.start, a.end) for a in anns if a.clause_type != clause_type}):
            if any(overlaps(start, end, s, e) for s, e in asked) or not self._fits(doc, (start, end), opts):
                continue
            text = doc.text(start, end).strip()
            if text not in seen:
                seen.add(text)
                pool.append((start, end))
        return pool

    @staticmethod
    def _random_passages(
        doc: DocView, anns: list[ClauseAnnotation], n: int, lengths: list[int], rng: random.Random,
    ) -> list[tuple[int, int]]:
        """Unlabelled passages of the contract, about as long as the positives so length gives nothing away."""
        out: list[tuple[int, int]] = []
        for start, end in random_windows(doc, lengths, MIN_CLAUSE_CHARS, 80, rng, tries=n * 10,
                                         enough=lambda: len(out) >= n):
            # No label of any category: an unlabelled passage must not be a clause CUAD would call "Yes".
            if any(overlaps(a.start, a.end, start, end) for a in anns) or (start, end) in out:
                continue
            if len(doc.text(start, end).strip()) >= MIN_CLAUSE_CHARS:
                out.append((start, end))
        return out
