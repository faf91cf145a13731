"""Entailment with evidence from ContractNLI-labelled NDAs: a hypothesis ("Receiving Party shall not reverse
engineer ...") over numbered passages -> "Entailment [2][4]", "Contradiction [1]", or NotMentioned in the
not-found words.

Every evidence span is shown, as its own passage, among distractors of the same NDA: first other
hypotheses' evidence (legal text on neighbouring topics, the hardest to tell apart), then windows of the
document's chunks. A NotMentioned hypothesis is absent from the whole NDA, so any passage of it is a fair
distractor; for the other labels no distractor overlaps the hypothesis's own evidence.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.records import ClauseAnnotation, DatasetRow
from lextune.data import prompts
from lextune.data.builders.base import BuildContext, Builder, DocView, register
from lextune.data.spans import overlaps, random_windows

TASK = "nli_evidence"
NOT_MENTIONED = prompts.NLI_LABELS[2]
MIN_PASSAGE_CHARS = 30  # ContractNLI segments list markers ("1.", "(a)") as spans: useless as distractors


class ContractNLIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hypotheses: list[str] | None = Field(None, description="Hypothesis keys to use (e.g. nda-11); None: all.")
    passages: int = Field(5, ge=2, le=12, description="Passages shown per row (more when the evidence needs it).")
    min_distractors: int = Field(2, ge=1, description="Distractor passages per row at least.")
    max_passage_chars: int = Field(
        1500, ge=100, description="Rows whose evidence span is longer are left out (clipping could cut the "
        "words that decide the label); distractor windows are about as long as evidence.")
    not_mentioned: bool = Field(True, description="Also build rows for NotMentioned hypotheses.")


@register
class ContractNLIBuilder(Builder):
    """nli_evidence: hypothesis + numbered passages -> label and the cited evidence passages."""

    name = "contract_nli"
    tasks = (TASK,)
    Options = ContractNLIOptions
    needs_annotations = True

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterator[DatasetRow]:
        opts: ContractNLIOptions = ctx.options  # type: ignore[assignment]
        nli = [a for a in doc.annotations if a.kind == "nli" and a.label in prompts.NLI_LABELS]
        for a in nli:
            if opts.hypotheses is not None and a.clause_type not in opts.hypotheses:
                continue
            if a.label == NOT_MENTIONED and not opts.not_mentioned:
                continue
            rng = random.Random(f"{ctx.seed}:{doc.id}:contract_nli:{a.clause_type}")
            row = self._row(doc, a, nli, opts, rng)
            if row is not None:
                yield row

    def _row(
        self, doc: DocView, a: ClauseAnnotation, nli: list[ClauseAnnotation], opts: ContractNLIOptions,
        rng: random.Random,
    ) -> DatasetRow | None:
        evidence = _evidence(doc, a) if a.label != NOT_MENTIONED else []
        if a.label != NOT_MENTIONED and not evidence:
            return None  # nothing to cite: the row would teach a bare label without its grounds
        if any(e - s > opts.max_passage_chars or not doc.text(s, e).strip() for s, e in evidence):
            return None
        n_distractors = max(opts.min_distractors, opts.passages - len(evidence))
        distractors = _distractors(doc, a, nli, evidence, n_distractors, opts, rng)
        if not distractors:
            return None
        shown = evidence + distractors
        order = list(range(len(shown)))
        rng.shuffle(order)
        texts = [""] * len(shown)
        for i, (s, e) in enumerate(shown):
            texts[order[i]] = doc.text(s, e).strip()
        gold = sorted(order[i] + 1 for i in range(len(evidence)))
        hypothesis = str(a.extra.get("hypothesis") or a.clause_type)
        answer = prompts.nli_answer(str(a.label), gold)
        hull = (min(s for s, _ in shown), max(e for _, e in shown))
        row = doc.row(self.name, TASK, prompts.nli_evidence_prompt(hypothesis, texts), answer, *hull,
                      variant=a.clause_type, label=a.label, choices=list(prompts.NLI_LABELS))
        # The hull spans unshown text between passages; cite only the chunks whose text the row shows.
        passages: list[dict] = [{}] * len(shown)
        for i, (s, e) in enumerate(shown):
            passages[order[i]] = {"n": order[i] + 1, "document_id": doc.id, "start": s, "end": e,
                                  "chunk_ids": doc.chunk_ids(s, e)}
        shown_chunks = {c for p in passages for c in p["chunk_ids"]}
        row = row.model_copy(update={"chunk_ids": [c for c in row.chunk_ids if c in shown_chunks]})
        row.meta.update({"hypothesis_key": a.clause_type, "hypothesis": hypothesis, "gold_citations": gold,
                         "passages": passages})
        return row


def _evidence(doc: DocView, a: ClauseAnnotation) -> list[tuple[int, int]]:
    """Evidence spans as passages. Overlapping ones would show the same words twice, and ContractNLI often
    marks a list's lead-in ("Each party shall:") or a bare number ("4.3") as evidence beside the sentence it
    introduces: spans only whitespace apart are one passage."""
    spans = a.extra.get("spans") or ([[a.start, a.end]] if a.end > a.start else [])
    out: list[tuple[int, int]] = []
    for s, e in sorted((int(s), int(e)) for s, e in spans):
        if e <= s:
            continue
        if out and (s <= out[-1][1] or not doc.text(out[-1][1], s).strip()):
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _distractors(
    doc: DocView, a: ClauseAnnotation, nli: list[ClauseAnnotation], evidence: list[tuple[int, int]], n: int,
    opts: ContractNLIOptions, rng: random.Random,
) -> list[tuple[int, int]]:
    """Other hypotheses' evidence first (hard), then chunk windows; none overlapping the evidence or each other."""
    taken = list(evidence)
    out: list[tuple[int, int]] = []

    def take(span: tuple[int, int]) -> None:
        s, e = span
        clear = len(out) < n and not any(overlaps(s, e, ts, te) for ts, te in taken)
        if clear and len(doc.text(s, e).strip()) >= MIN_PASSAGE_CHARS:
            out.append(span)
            taken.append(span)

    others = sorted({span for b in nli if b.clause_type != a.clause_type for span in _evidence(doc, b)
                     if span[1] - span[0] <= opts.max_passage_chars})
    for span in rng.sample(others, len(others)):
        take(span)
    lengths = [e - s for s, e in evidence] or [200]
    for span in random_windows(doc, lengths, MIN_PASSAGE_CHARS, 120, rng, tries=n * 10,
                               enough=lambda: len(out) >= n):
        take(span)
    return out
