"""A contract analysis as review candidates: each clause the model typed (clause_extraction) and each
playbook flag (contract_analysis), shown in the passage the model read with the clause or phrase highlighted.

Confidence is the quote check's verdict, not a model probability: a clause whose quote the model gave
verbatim scores 1, one whose quote is not in the passage 0, one never asked to quote has none; a flag takes
the lowest score of the clauses it rests on (none for a missing clause or a phrase the rules found).
Keyword-fallback clauses are the rules' output, not the model's, and are never queued.
"""

from __future__ import annotations

from lextune.analysis.records import Analysis, Clause, Flag
from lextune.data import prompts
from lextune.review.candidates import ReviewCandidate
from lextune.review.policy import ReviewPolicy

CONTEXT_CHARS = 600  # around a playbook phrase that is not a clause
WHOLE_DOCUMENT_CHARS = 20_000  # a flag about a missing clause shows the document, this much of it


def clause_confidence(clause: Clause) -> float | None:
    return None if clause.verified is None else float(clause.verified)


def _passage(analysis: Analysis, clause: Clause) -> tuple[int, int]:
    if clause.passage_start is not None and clause.passage_end is not None:
        return clause.passage_start, clause.passage_end
    return max(0, clause.start - CONTEXT_CHARS), min(analysis.n_chars, clause.end + CONTEXT_CHARS)


def _clause_candidate(analysis: Analysis, i: int, clause: Clause, key: str) -> ReviewCandidate:
    ps, pe = _passage(analysis, clause)
    passage = analysis.text[ps:pe]
    return ReviewCandidate(
        key=key, task="clause_extraction", source_text=passage, span_start=clause.start - ps,
        span_end=clause.end - ps, prompt=prompts.clause_quote_prompt(passage, clause.type),
        output={"label": clause.type, "text": clause.text, "verified": clause.verified},
        confidence=clause_confidence(clause),
        extra={"clause_type": clause.type, "clause": i, "section": clause.section, "document": analysis.document,
               "doc_start": clause.start, "doc_end": clause.end})


def _flag_candidate(analysis: Analysis, i: int, flag: Flag, key: str) -> ReviewCandidate:
    clauses = [analysis.clauses[s.clause] for s in flag.spans if s.clause is not None]
    scores = [clause_confidence(c) for c in clauses]
    confidence = min(scores) if scores and None not in scores else None
    extra = {"rule": flag.rule, "severity": flag.severity, "document": analysis.document, "flag": i}
    if flag.spans:
        first = flag.spans[0]
        if first.clause is not None:
            ps, pe = _passage(analysis, analysis.clauses[first.clause])
        else:
            ps, pe = max(0, first.start - CONTEXT_CHARS), min(analysis.n_chars, first.end + CONTEXT_CHARS)
        ps, pe = min(ps, first.start), max(pe, first.end)
        source, span = analysis.text[ps:pe], (first.start - ps, first.end - ps)
    else:  # nothing to point at (a required clause is missing): the document itself
        source, span = analysis.text[:WHOLE_DOCUMENT_CHARS], None
        extra["truncated"] = analysis.n_chars > WHOLE_DOCUMENT_CHARS
    output = {"label": flag.rule, "text": flag.message, "severity": flag.severity}
    if flag.recommendation:
        output["recommendation"] = flag.recommendation
    return ReviewCandidate(key=key, task="contract_analysis", source_text=source,
                           span_start=span[0] if span else None, span_end=span[1] if span else None,
                           output=output, confidence=confidence, extra=extra)


def analysis_candidates(analysis: Analysis, policy: ReviewPolicy, *, request_id: str, matter: str | None,
                        model_version: str | None, document_id: str | None = None) -> list[ReviewCandidate]:
    """The clauses and flags of one analysis that `policy` sends to review (each with why in extra)."""
    made = [_clause_candidate(analysis, i, c, f"{request_id}:clause:{i}")
            for i, c in enumerate(analysis.clauses) if c.source == "model"]
    made += [_flag_candidate(analysis, i, f, f"{request_id}:flag:{i}") for i, f in enumerate(analysis.flags)]
    out = []
    for c in made:
        why = policy.why(c.task, c.confidence, c.key)
        if why is None:
            continue
        c.extra["why"] = why
        out.append(c.model_copy(update={"matter": matter, "model_version": model_version,
                                        "request_id": request_id, "document_id": document_id}))
    return out
