"""Cited question-answering metrics over stored predictions: pure, no torch.

An answer quotes passages in double quotes, each quote followed by the numbers of the passages it comes
from ('"the words" [2]'), or says the passages are silent ("Not found in the passages."). ContractNLI
rows answer a label and the evidence passages ("Entailment [2][4]").

Every metric needs only the prediction and its meta (set by lextune.evals.tasks.cited_qa):
row_task ("cited_qa" or "nli_evidence"), passages (the shown texts, passage n at index n-1),
gold_citations, answerable, reference_quotes, gold_label (nli rows).

- citation_precision / citation_recall / citation_f1: micro over rows, predicted citation numbers vs
  gold_citations; a citation on an unanswerable row is a false positive. citation_f1 is the headline:
  it rewards citing the right passage and nothing else, and a model that never answers scores 0 on it
  (its abstentions are scored by not_found_accuracy beside it).
- answer_token_f1: SQuAD token F1 of the quoted words (all quotes joined; the whole answer less its
  citation marks when it quotes nothing) vs the reference quotes, mean over answerable cited_qa rows.
- nli_label_accuracy: label read from an nli_evidence answer (the not-found sentence alone reads as
  NotMentioned) vs the gold label, over nli_evidence rows.
- not_found_accuracy: unanswerable rows answered "not found" with no citation; not_found_on_answerable:
  answerable rows answered that way (false refusals).
- invented_citation_rate: of all citation claims (each (quote, [n]) pair, and each [n] not after a
  quote), those citing a passage that was not shown (n outside 1..k) or attributing a quote that is
  not in passage n's text (whitespace and quote style aside); split into invalid_citation_rate and
  unsupported_quote_rate (over quote claims).
A rate over no rows is None (not 0): there was nothing to measure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lextune.data import prompts
from lextune.evals.records import Prediction
from lextune.evals.scoring.span import normalize_answer, token_f1

_CITE = re.compile(r"\[(\d+)\]")
# A quote in straight or typographic double quotes, then one or more citation marks. Lazy, so a quote
# holding inner "defined terms" still ends at the quote mark that citations follow.
_CITED_QUOTE = re.compile(r'["\u201c](.+?)["\u201d]\s*((?:\[\d+\]\s*)+)', re.DOTALL)
_ANY_QUOTE = re.compile(r'["\u201c](.+?)["\u201d]', re.DOTALL)
_LABEL = re.compile(r"\b(entailment|contradiction|not\s*mentioned)\b", re.IGNORECASE)
_QUOTE_STYLE = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
NOT_MENTIONED = prompts.NLI_LABELS[2]


@dataclass
class CitedAnswer:
    """What an answer claims: quotes with the passages cited after each, and bare citations."""

    quotes: list[tuple[str, list[int]]] = field(default_factory=list)
    bare: list[int] = field(default_factory=list)
    uncited_quotes: list[str] = field(default_factory=list)

    @property
    def cited(self) -> set[int]:
        return {n for _, ns in self.quotes for n in ns} | set(self.bare)


def parse_cited_answer(text: str) -> CitedAnswer:
    """The quotes and citations of an answer (see the module docstring for the format)."""
    out = CitedAnswer()
    for m in _CITED_QUOTE.finditer(text):
        out.quotes.append((m.group(1), [int(n) for n in _CITE.findall(m.group(2))]))
    rest = _CITED_QUOTE.sub(" ", text)
    out.bare = list(dict.fromkeys(int(n) for n in _CITE.findall(rest)))
    out.uncited_quotes = _ANY_QUOTE.findall(rest)
    return out


def _plain(text: str) -> str:
    return " ".join(text.translate(_QUOTE_STYLE).split())


def says_not_found(text: str | None) -> bool:
    """The answer says the passages do not answer (it contains "not found")."""
    return bool(text) and normalize_answer(prompts.NOT_FOUND) in normalize_answer(text or "")


def nli_label(text: str | None) -> str | None:
    """The first NLI label an answer names; the not-found sentence alone reads as NotMentioned."""
    m = _LABEL.search(text or "")
    if m:
        word = m.group(1).lower().replace(" ", "")
        return {label.lower(): label for label in prompts.NLI_LABELS}[word]
    return NOT_MENTIONED if says_not_found(text) else None


def quoted_text(answer: CitedAnswer, text: str) -> str:
    """The words an answer quotes, joined; its text less citation marks when it quotes nothing."""
    quotes = [q for q, _ in answer.quotes] + answer.uncited_quotes
    return " ".join(quotes) if quotes else _CITE.sub(" ", text)


def invented_claims(answer: CitedAnswer, passages: Sequence[str]) -> tuple[int, int, int, int]:
    """(claims, invented claims, claims citing an unshown passage, quote claims not in their passage);
    each (quote, [n]) pair and each bare [n] is one claim."""
    claims = invented = invalid = unsupported = 0
    shown = [_plain(p) for p in passages]
    for quote, numbers in answer.quotes:
        q = _plain(quote)
        for n in numbers:
            claims += 1
            bad_number = not 1 <= n <= len(shown)
            not_there = not bad_number and q not in shown[n - 1]
            invalid += bad_number
            unsupported += not_there
            invented += bad_number or not_there
    for n in answer.bare:
        claims += 1
        bad_number = not 1 <= n <= len(shown)
        invalid += bad_number
        invented += bad_number
    return claims, invented, invalid, unsupported


def _rate(num: float, den: float) -> float | None:
    return num / den if den else None


def _f1(p: float | None, r: float | None) -> float:
    p, r = p or 0.0, r or 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def _metrics(predictions: Sequence[Prediction]) -> dict:
    tp = cited = gold_total = 0
    claims = invented = invalid = unsupported = quote_claims = 0
    f1s: list[float] = []
    nli_right: list[bool] = []
    abstain_unans: list[bool] = []
    abstain_ans: list[bool] = []
    for pred in predictions:
        meta = pred.meta
        text = pred.generated or ""
        answer = parse_cited_answer(text)
        gold = set(meta.get("gold_citations") or [])
        answerable = bool(meta.get("answerable", bool(gold)))
        tp += len(answer.cited & gold)
        cited += len(answer.cited)
        gold_total += len(gold)
        c, i, v, u = invented_claims(answer, meta.get("passages") or [])
        claims, invented, invalid, unsupported = claims + c, invented + i, invalid + v, unsupported + u
        quote_claims += sum(len(ns) for _, ns in answer.quotes)
        is_nli = meta.get("row_task") == "nli_evidence"
        abstains = not answer.cited and (nli_label(text) == NOT_MENTIONED if is_nli else says_not_found(text))
        (abstain_ans if answerable else abstain_unans).append(abstains)
        if is_nli:
            nli_right.append(nli_label(text) == meta.get("gold_label"))
        elif answerable:
            refs = " ".join(meta.get("reference_quotes") or [])
            f1s.append(0.0 if abstains else token_f1(quoted_text(answer, text), refs))
    precision, recall = _rate(tp, cited), _rate(tp, gold_total)
    return {
        "citation_precision": precision, "citation_recall": recall, "citation_f1": _f1(precision, recall),
        "answer_token_f1": _rate(sum(f1s), len(f1s)),
        "nli_label_accuracy": _rate(sum(nli_right), len(nli_right)),
        "not_found_accuracy": _rate(sum(abstain_unans), len(abstain_unans)),
        "not_found_on_answerable": _rate(sum(abstain_ans), len(abstain_ans)),
        "invented_citation_rate": _rate(invented, claims),
        "invalid_citation_rate": _rate(invalid, claims),
        "unsupported_quote_rate": _rate(unsupported, quote_claims),
        "citations_made": cited, "citation_claims": claims,
        "n": len(predictions), "answerable": len(abstain_ans), "unanswerable": len(abstain_unans),
    }


def cited_metrics(predictions: Sequence[Prediction]) -> dict:
    """All cited-QA metrics over every row, and the same per row task (cited_qa, nli_evidence) in by_task."""
    by_task: dict[str, list[Prediction]] = {}
    for pred in predictions:
        by_task.setdefault(str(pred.meta.get("row_task", "cited_qa")), []).append(pred)
    return {**_metrics(predictions), "by_task": {t: _metrics(ps) for t, ps in sorted(by_task.items())}}
