"""Small contracts and a canned 'model' for the analysis tests."""

from __future__ import annotations

import re

from lextune.data import prompts

PREAMBLE = (
    "MASTER SERVICES AGREEMENT\n\n"
    "This Master Services Agreement (the \"Agreement\") is entered into as of January 1, 2024 by and between "
    "Acme Corp., a New York corporation (\"Customer\"), and Widget LLC, a Delaware limited liability company "
    "(\"Provider\").\n\n"
)
SERVICES = (
    "1. SERVICES\n\nProvider shall perform the services described in each statement of work signed by the "
    "parties, in a professional and workmanlike manner and in accordance with industry standards.\n\n"
)
RENEWAL = (
    "2. TERM AND RENEWAL\n\nThis Agreement has an initial term of one (1) year and shall automatically renew "
    "for successive one (1) year terms unless either party gives written notice of non-renewal at least "
    "{notice} before the end of the then-current term.\n\n"
)
CAP = (
    "3. LIMITATION OF LIABILITY\n\nIn no event shall either party's aggregate liability arising out of this "
    "Agreement exceed the fees paid by Customer in the twelve months preceding the claim, or $1,000,000, "
    "whichever is less.\n\n"
)
LAW = (
    "4. GOVERNING LAW\n\nThis Agreement shall be governed by and construed in accordance with the laws of the "
    "State of {state}, without regard to its conflict of laws principles.\n\n"
)
SIGNATURE = "IN WITNESS WHEREOF, the parties have signed this Agreement.\n\nACME CORP.\n\nBy: ____________\n"


def contract(state: str = "New York", notice: str = "ninety (90) days", cap: bool = True,
             extra: str = "") -> str:
    return (PREAMBLE + SERVICES + RENEWAL.format(notice=notice) + (CAP if cap else "")
            + LAW.format(state=state) + extra + SIGNATURE)


_TYPES = [("governed by", "Governing Law"), ("automatically renew", "Renewal Term"),
          ("aggregate liability", "Cap on Liability"), ("compete", "Non-Compete")]


def _between(text: str, before: str, after: str) -> str:
    start = text.index(before) + len(before)
    return text[start:text.index(after, start)]


def canned_answer(conversation: list[dict[str, str]]) -> str:
    """What a well-tuned model would answer: the type from keywords, the clause's body as the quote."""
    user = conversation[-1]["content"]
    if user.startswith("Which type of contract clause"):
        passage = _between(user, "Passage:\n", "\n\nAnswer with the clause type only.")
        found = next((t for key, t in _TYPES if key in passage), None)
        return found or "Something else entirely"
    if user.startswith("Contract excerpt:"):
        excerpt = _between(user, "Contract excerpt:\n", "\n\nQuote the")
        if "NOT A CLAUSE" in excerpt:
            return prompts.NOT_FOUND
        body = [p for p in re.split(r"\n\s*\n", excerpt) if p.strip() and not p.strip()[0].isdigit()]
        return body[0].strip() if body else prompts.NOT_FOUND
    return "A services agreement between Acme and Widget."


def canned(conversations: list[list[dict[str, str]]]) -> list[str]:
    return [canned_answer(c) for c in conversations]
