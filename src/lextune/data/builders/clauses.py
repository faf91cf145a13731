"""Clause rows from labelled contracts: name a passage's clause type, or quote a type's clauses from an
excerpt ("Not found" when it has none), for any subset of the 41 CUAD categories."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.records import ClauseAnnotation, DatasetRow
from lextune.data import cuad_categories, prompts
from lextune.data.builders.base import BuildContext, Builder, DocView, register
from lextune.data.spans import (
    MIN_CLAUSE_CHARS,
    ShareKeeper,
    absence_reliable,
    clause_annotations,
    clip,
    merged_spans,
    overlaps,
    selected_types,
    snap_out,
    window_around,
)


class ClausesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clause_types: cuad_categories.CategoryNames | None = Field(
        None, description="CUAD categories to use; None: the build's clause types (all 41 when it names none).")
    not_found_share: float = Field(
        0.25, ge=0, le=0.9, description="Share of clause_quote rows, per split, whose answer is 'Not found'.")
    excerpt_chars: int = Field(600, ge=100, description="Length of quoting excerpts (longer when a clause is).")
    max_clause_chars: int = Field(
        1000, ge=MIN_CLAUSE_CHARS, description="Clauses longer than this are not quoted (the excerpt must hold "
        "the whole clause, and the answer repeats it).")
    max_passage_chars: int = Field(300, ge=50, description="clause_type passages are clipped to this length.")
    max_per_type: int = Field(
        2, ge=1, description="Per document and clause type: at most this many clause_type rows and this many "
        "quoting excerpts, so long contracts and frequent types do not dominate.")


@register
class ClausesBuilder(Builder):
    """clause_type: passage -> its CUAD category; clause_quote: excerpt + category -> the clauses verbatim."""

    name = "clauses"
    tasks = ("clause_type", "clause_quote")
    Options = ClausesOptions
    needs_annotations = True

    def __init__(self) -> None:
        self.not_found: ShareKeeper | None = None

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterator[DatasetRow]:
        opts: ClausesOptions = ctx.options  # type: ignore[assignment]
        if not clause_annotations(doc):
            return  # never clause-labelled (e.g. a ContractNLI NDA): no label's absence means anything
        types = selected_types(opts.clause_types, ctx)
        anns = [a for a in clause_annotations(doc) if a.clause_type in types]
        rng = random.Random(f"{ctx.seed}:{doc.id}:clauses")
        yield from self._type_rows(doc, anns, types, opts, rng)
        if self.not_found is None:
            self.not_found = ShareKeeper(opts.not_found_share)
        positives = list(self._quote_rows(doc, anns, types, opts, rng))
        negatives = list(self._not_found_rows(
            doc, anns, types, opts, rng, self.not_found.wanted(doc.split, len(positives))))
        self.not_found.add(doc.split, len(positives), len(negatives))
        yield from positives
        yield from negatives

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> Iterable[DatasetRow]:
        if self.not_found is not None:
            ctx.warnings.extend(f"{self.name}: {w}" for w in self.not_found.shortfalls("'Not found' clause_quote"))
        return ()

    def describe(self) -> dict:
        """What the manifest records besides the options: the 'Not found' share reached per split."""
        return {"not_found_share": self.not_found.describe()} if self.not_found else {}

    def _type_rows(
        self, doc: DocView, anns: list[ClauseAnnotation], types: list[str], opts: ClausesOptions,
        rng: random.Random,
    ) -> Iterator[DatasetRow]:
        types_by_span: dict[tuple[int, int], set[str]] = {}
        for a in anns:
            types_by_span.setdefault((a.start, a.end), set()).add(a.clause_type)
        # A span labelled with two selected types has no single right answer: leave it out.
        single = [(span, next(iter(ts))) for span, ts in sorted(types_by_span.items()) if len(ts) == 1]
        per_type: dict[str, list[tuple[int, int]]] = {}
        seen: set[str] = set()
        for (start, end), label in single:
            passage = doc.text(start, end).strip()
            if len(passage) >= MIN_CLAUSE_CHARS and passage not in seen:
                seen.add(passage)
                per_type.setdefault(label, []).append((start, end))
        for label in sorted(per_type):
            spans = per_type[label]
            for start, end in sorted(rng.sample(spans, min(len(spans), opts.max_per_type))):
                passage = clip(doc.text(start, end).strip(), opts.max_passage_chars)
                yield doc.row(self.name, "clause_type", prompts.clause_type_prompt(passage, types), label,
                              start, end, label=label, choices=list(types))

    def _quote_rows(
        self, doc: DocView, anns: list[ClauseAnnotation], types: list[str], opts: ClausesOptions,
        rng: random.Random,
    ) -> Iterator[DatasetRow]:
        for clause_type in types:
            spans = merged_spans(anns, clause_type)
            usable = [(s, e) for s, e in spans if MIN_CLAUSE_CHARS <= e - s <= opts.max_clause_chars]
            covered: list[tuple[int, int]] = []
            made = 0
            for start, end in rng.sample(usable, len(usable)):
                if made >= opts.max_per_type:
                    break
                # A clause already answered inside an earlier excerpt would make a near-copy of that row.
                if any(s <= start and end <= e for s, e in covered):
                    continue
                ws, we = window_around(doc, start, end, opts.excerpt_chars, rng, spans)
                row = self._quote_row(doc, clause_type, ws, we, [(s, e) for s, e in spans if ws <= s and e <= we])
                if row is not None:
                    covered.append((ws, we))
                    made += 1
                    yield row

    def _quote_row(
        self, doc: DocView, clause_type: str, ws: int, we: int, inside: list[tuple[int, int]],
    ) -> DatasetRow | None:
        excerpt = doc.text(ws, we).strip()
        # Every clause of the type in the excerpt is the answer, in order: answering only the first would
        # teach the model that the others are not clauses of that type.
        quotes = [doc.text(s, e).strip() for s, e in inside]
        if not quotes or not all(q and q in excerpt for q in quotes):
            return None
        answer = "\n".join(quotes)
        return doc.row(self.name, "clause_quote", prompts.clause_quote_prompt(excerpt, clause_type), answer,
                       ws, we, variant=clause_type, label=clause_type)

    def _not_found_rows(
        self, doc: DocView, anns: list[ClauseAnnotation], types: list[str], opts: ClausesOptions,
        rng: random.Random, wanted: int,
    ) -> Iterator[DatasetRow]:
        n = len(doc)
        askable = [t for t in types if absence_reliable(t)]
        if wanted <= 0 or n < opts.excerpt_chars // 2 or not askable:
            return
        in_doc = {a.clause_type for a in anns}
        made: set[str] = set()
        for _ in range(wanted * 10):
            if len(made) >= wanted:
                break
            ws = rng.randint(0, max(0, n - opts.excerpt_chars))
            ws, we = snap_out(doc, ws, min(n, ws + opts.excerpt_chars))
            present = {a.clause_type for a in anns if overlaps(a.start, a.end, ws, we)}
            absent = [t for t in askable if t not in present]
            # Half the time ask for a type the contract has elsewhere: the model must read the excerpt,
            # not guess from the kind of contract.
            elsewhere = [t for t in absent if t in in_doc]
            pool = elsewhere if elsewhere and rng.random() < 0.5 else absent
            if not pool:
                continue
            clause_type = rng.choice(pool)
            excerpt = doc.text(ws, we).strip()
            row = doc.row(self.name, "clause_quote", prompts.clause_quote_prompt(excerpt, clause_type),
                          prompts.NOT_FOUND, ws, we, variant=clause_type, label=clause_type)
            if excerpt and row.id not in made:
                made.add(row.id)
                yield row
