"""Privilege-log wording: what privilege is asserted and a description of the document's nature.

FRCP 26(b)(5)(A): describe the nature of what is withheld "in a manner that, without revealing information
itself privileged or protected, will enable other parties to assess the claim". The template uses only the
document type, the parties' roles and which signals fired; never the subject line or the body. An LLM's
draft is accepted only when it shares no 4-word run with the subject or body (else the template is used).
"""

from __future__ import annotations

import re

from lextune.privilege.features import Lexicon
from lextune.privilege.records import PrivilegeCall, PrivilegeDoc

DOC_NAMES = {"email": "Email", "memo": "Memorandum", "press_release": "Press release"}


def asserted(call: PrivilegeCall) -> str:
    if call.category == "not_privileged":
        return ""
    wp = "marker_work_product" in call.reasons or "marker_litigation" in call.reasons
    acp = any(r in call.reasons for r in ("attorney_author", "attorney_recipient", "law_firm_party",
                                          "marker_legal_advice", "marker_privileged"))
    kinds = [k for k, on in (("Attorney-Client Privilege", acp or not wp), ("Work Product", wp)) if on]
    text = "; ".join(kinds)
    return text + " (redacted in part)" if call.category == "partially_privileged" else text


def _counsel(doc: PrivilegeDoc, lex: Lexicon) -> str:
    names = []
    for p in [doc.author, *doc.recipients, *doc.cc]:
        if lex.is_attorney(p):
            name = p.split("<")[0].strip() or p
            if name not in names:
                names.append(name)
    return ", ".join(f"{n}, Esq." for n in names) or "counsel"


def describe(doc: PrivilegeDoc, call: PrivilegeCall, lex: Lexicon) -> str:
    """A template description of the nature of the document; empty for a document not withheld."""
    if call.category == "not_privileged":
        return ""
    kind = DOC_NAMES.get(doc.doc_type, doc.doc_type.replace("_", " ").capitalize() or "Document")
    counsel = _counsel(doc, lex)
    r = set(call.reasons)
    if "marker_work_product" in r or "marker_litigation" in r:
        nature = f"prepared by or at the direction of counsel ({counsel}) in anticipation of litigation"
    elif "attorney_author" in r:
        nature = f"from counsel ({counsel}) providing legal advice"
    elif "attorney_recipient" in r or "law_firm_party" in r:
        nature = f"to counsel ({counsel}) requesting legal advice"
    else:
        nature = f"reflecting legal advice of counsel ({counsel})"
    if call.category == "partially_privileged":
        return (f"{kind} concerning business matters, containing a portion {nature}; "
                "the privileged portion is redacted and the remainder produced.")
    return f"Confidential {kind.lower()} {nature}."


WORD = re.compile(r"[a-z0-9']+")
# Standard log wording (the legal standards themselves): repeating it reveals nothing about the document.
BOILERPLATE = ("prepared by or at the direction of counsel in anticipation of litigation; attorney work product; "
               "privileged and confidential; attorney client privileged communication; requesting legal advice; "
               "providing legal advice; reflecting legal advice of counsel")


def leaks(description: str, doc: PrivilegeDoc, n: int = 4) -> bool:
    """Whether `description` repeats any run of `n` words of the document's subject or body."""
    def grams(text: str) -> set[tuple[str, ...]]:
        w = WORD.findall(text.lower())
        return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}

    return bool((grams(description) & (grams(doc.body) | grams(doc.subject))) - grams(BOILERPLATE))


def safe_description(draft: str | None, doc: PrivilegeDoc, call: PrivilegeCall, lex: Lexicon) -> str:
    """The LLM's draft when it is usable and reveals no content; else the template."""
    draft = (draft or "").strip().splitlines()[0][:300] if (draft or "").strip() else ""
    if call.category == "not_privileged" or len(draft.split()) < 5 or leaks(draft, doc):
        return describe(doc, call, lex)
    return draft
