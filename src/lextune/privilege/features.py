"""Features of a document: hashed word n-grams plus named, explainable signals (the `reasons`).

The lexicon (known attorneys, law-firm domains, opposing-counsel domains, the company's own domains) is
the user's (YAML or CSV); without one, the SYNTHETIC sample's invented people and firms are the default.
"""

from __future__ import annotations

import csv
import re
import zlib
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import yaml

from lextune.privilege import synthetic
from lextune.privilege.records import PrivilegeDoc

HASH_DIM = 1 << 12
MARKERS = {
    "marker_privileged": re.compile(r"privileged\s*(&|and)\s*confidential|attorney[- ]client privilege", re.IGNORECASE),
    "marker_work_product": re.compile(r"attorney work product|work product", re.IGNORECASE),
    "marker_legal_advice": re.compile(r"legal advice|legal opinion|counsel's advice|please advise|my advice|"
                                      r"legal assessment|legal risk|advise against", re.IGNORECASE),
    "marker_litigation": re.compile(r"anticipation of litigation|anticipated (arbitration|litigation)|"
                                    r"expected lawsuit|litigation strategy|direction of counsel|deposition", re.IGNORECASE),
    "marker_press": re.compile(r"for immediate release|press release|media relations", re.IGNORECASE),
    "marker_settlement": re.compile(r"settlement|meet-and-confer|discovery schedule|produce the documents", re.IGNORECASE),
}
LEGAL_PARA = re.compile(MARKERS["marker_legal_advice"].pattern + "|" + MARKERS["marker_litigation"].pattern, re.IGNORECASE)
PARA_BREAK = re.compile(r"\n\s*\n")  # paragraphs are separated by blank lines
EMAIL = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
NAMED = ["marker_privileged", "marker_work_product", "marker_legal_advice", "marker_litigation", "marker_press",
         "marker_settlement", "attorney_author", "attorney_recipient", "attorney_cc_only", "law_firm_party",
         "opposing_counsel_party", "external_third_party", "attorney_named_in_body_only", "doc_memo",
         "doc_press_release", "legal_paragraph", "mixed_legal_and_business", "no_attorney_party"]


@dataclass
class Lexicon:
    attorneys: list[str] = field(default_factory=list)  # names or email addresses
    firm_domains: list[str] = field(default_factory=list)  # the firm's / outside counsel's domains
    opposing_domains: list[str] = field(default_factory=list)  # opposing counsel: sharing with them waives
    own_domains: list[str] = field(default_factory=list)  # the client's own domains (not third parties)

    @classmethod
    def synthetic_default(cls) -> Lexicon:
        return cls(attorneys=synthetic.IN_HOUSE + synthetic.OUTSIDE, firm_domains=list(synthetic.OUTSIDE_FIRMS),
                   opposing_domains=list(synthetic.OPPOSING_FIRMS), own_domains=[synthetic.COMPANY_DOMAIN])

    def is_attorney(self, party: str) -> bool:
        p = party.lower()
        if any(a.lower() in p for a in self.attorneys):
            return True
        return any(d in self.firm_domains for d in _domains(party))

    def names(self) -> list[str]:
        return [a for a in self.attorneys if "@" not in a]


def _domains(party: str) -> list[str]:
    return [d.lower() for d in EMAIL.findall(party)]


def _read_list(path: Path, key: str) -> list[str]:
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        if rows and rows[0] and rows[0][0].strip().lower() in ("name", "email", "domain", key):
            rows = rows[1:]
        return [r[0].strip() for r in rows if r and r[0].strip()]
    data = yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get(key) or data.get("items") or []
    return [str(x).strip() for x in data or []]


def load_lexicon(attorneys: Path | None = None, firm_domains: Path | None = None) -> Lexicon:
    """The user's lists (YAML list / {attorneys: [...]} / CSV first column); the synthetic defaults for
    what is not given. A firm-domains YAML may also hold `opposing:` and `own:` lists."""
    lex = Lexicon.synthetic_default()
    if attorneys:
        lex.attorneys = _read_list(attorneys, "attorneys")
    if firm_domains:
        lex.firm_domains = [d.lower() for d in _read_list(firm_domains, "firm_domains")]
        if Path(firm_domains).suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(Path(firm_domains).read_text(encoding="utf-8"))
            if isinstance(data, dict):
                lex.opposing_domains = [d.lower() for d in data.get("opposing", lex.opposing_domains)]
                lex.own_domains = [d.lower() for d in data.get("own", lex.own_domains)]
    return lex


def named_features(doc: PrivilegeDoc, lex: Lexicon) -> dict[str, float]:
    text = doc.text()
    f = {k: float(bool(rx.search(text))) for k, rx in MARKERS.items()}
    author_att = lex.is_attorney(doc.author)
    to_att = any(lex.is_attorney(r) for r in doc.recipients)
    cc_att = any(lex.is_attorney(r) for r in doc.cc)
    parties = [doc.author, *doc.recipients, *doc.cc]
    domains = {d for p in parties for d in _domains(p)}
    f["attorney_author"] = float(author_att)
    f["attorney_recipient"] = float(to_att)
    f["attorney_cc_only"] = float(cc_att and not author_att and not to_att)
    f["law_firm_party"] = float(bool(domains & set(lex.firm_domains)))
    f["opposing_counsel_party"] = float(bool(domains & set(lex.opposing_domains)))
    f["external_third_party"] = float(bool(domains - set(lex.firm_domains) - set(lex.opposing_domains)
                                           - set(lex.own_domains)))
    in_body = any(n.lower() in doc.body.lower() for n in lex.names())
    f["attorney_named_in_body_only"] = float(in_body and not (author_att or to_att))
    f["doc_memo"] = float(doc.doc_type == "memo")
    f["doc_press_release"] = float(doc.doc_type == "press_release")
    paras = [p for p in PARA_BREAK.split(doc.body) if p.strip()]
    legal = sum(1 for p in paras if LEGAL_PARA.search(p))
    f["legal_paragraph"] = float(legal > 0)
    f["mixed_legal_and_business"] = float(0 < legal < len(paras) and len(paras) - legal >= 2)
    f["no_attorney_party"] = float(not (author_att or to_att or cc_att))
    return f


# The signals a paragraph carries by itself (the parties are the document's, shared by all its paragraphs).
PARAGRAPH_REASONS = ["marker_privileged", "marker_work_product", "marker_legal_advice", "marker_litigation",
                     "legal_paragraph", "attorney_named_in_body_only"]


def paragraph_spans(doc: PrivilegeDoc) -> list[tuple[int, int]]:
    """[start, end) of each non-blank body paragraph (split on blank lines, as named_features does), as
    offsets into doc.text(), with surrounding whitespace trimmed."""
    base = len(doc.text()) - len(doc.body)
    spans, pos = [], 0
    for part in [*PARA_BREAK.finditer(doc.body), None]:
        end = part.start() if part else len(doc.body)
        chunk = doc.body[pos:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((base + pos + lead, base + pos + lead + len(chunk.strip())))
        if part:
            pos = part.end()
    return spans


def paragraph_docs(doc: PrivilegeDoc, spans: list[tuple[int, int]]) -> list[PrivilegeDoc]:
    """Each paragraph as a document of its own: no subject, no parties, only its text (scored on content)."""
    text = doc.text()
    return [doc.model_copy(update={"subject": "", "body": text[a:b], "author": "", "recipients": [], "cc": []})
            for a, b in spans]


TOKEN = re.compile(r"[a-z][a-z'&-]+")


def hashed_ngrams(text: str, dim: int = HASH_DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    words = TOKEN.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in pairwise(words)]
    for g in grams:
        v[zlib.crc32(g.encode()) % dim] += 1.0
    n = np.linalg.norm(v)
    return v / n if n else v


def featurize(docs: list[PrivilegeDoc], lex: Lexicon) -> tuple[np.ndarray, list[list[str]]]:
    """(X, reasons): one row per doc (named features, then hashed n-grams) and the named features that fired."""
    rows, reasons = [], []
    for d in docs:
        named = named_features(d, lex)
        reasons.append([k for k in NAMED if named[k]])
        rows.append(np.concatenate([np.array([named[k] for k in NAMED], dtype=np.float32), hashed_ngrams(d.text())]))
    return np.stack(rows) if rows else np.zeros((0, len(NAMED) + HASH_DIM), np.float32), reasons
