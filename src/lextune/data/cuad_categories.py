"""The 41 CUAD clause categories, each with a short description and the questions lawyers ask about it.

Names are exactly CUAD v1's, so they match the annotations its files carry. Descriptions are short
paraphrases of CUAD's category descriptions (CUAD v1, The Atticus Project, CC BY 4.0; see
demo_data/ATTRIBUTION.md); the questions are our own wording, in the Yes/No form LegalBench's
cuad_* tasks ask ("Does the clause ...?"), so the tuned model is trained on the question form it is
tested on. The table ships in the package: nothing reads ../shared at run time.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from lextune.core.errors import DatasetError


@dataclass(frozen=True)
class Category:
    name: str  # exactly as in CUAD
    description: str
    question: str  # Yes/No question about one clause: "Does this clause ...?"
    ask: str  # how a lawyer asks about a whole agreement, for cited QA: "Which law governs this agreement?"
    lead: str  # opening of a cited answer, before the quote: 'Yes: "..." [2]'
    # False where CUAD labels only some mentions of something that recurs everywhere (party names, the
    # title): an unlabelled passage may still hold it, so it never makes a "No" / "Not found" row.
    absence_reliable: bool = True


_YES = "Yes"

CATEGORIES: tuple[Category, ...] = (
    Category("Document Name", "The name of the contract.",
             "Does this clause state the title of the agreement?",
             "What is this agreement called?", "The agreement gives its title", absence_reliable=False),
    Category("Parties", "The parties that signed the contract.",
             "Does this clause identify the parties that signed the agreement?",
             "Who are the parties to this agreement?", "The agreement names its parties",
             absence_reliable=False),
    Category("Agreement Date", "The date the contract was made.",
             "Does this clause state the date on which the agreement was made?",
             "What is the date of this agreement?", "The agreement states its date"),
    Category("Effective Date", "The date the contract takes effect.",
             "Does this clause state when the agreement takes effect?",
             "When does this agreement take effect?", "The agreement states when it takes effect"),
    Category("Expiration Date", "When the contract's initial term ends.",
             "Does this clause state when the agreement's initial term ends?",
             "When does the initial term of this agreement end?",
             "The agreement states when its initial term ends"),
    Category("Renewal Term", "How the contract renews after its initial term, automatically or by notice.",
             "Does this clause renew or extend the agreement after its initial term, automatically or "
             "at a party's option?",
             "Does this agreement renew after its initial term, and for how long?",
             "The agreement provides for renewal"),
    Category("Notice Period to Terminate Renewal", "The notice needed to stop the contract from renewing.",
             "Does this clause set how much notice a party must give to stop the agreement from renewing?",
             "How much notice is needed to stop this agreement from renewing?",
             "The agreement sets the notice period"),
    Category("Governing Law", "The state's or country's law that governs the contract.",
             "Does this clause choose the law of a state or country to govern the agreement?",
             "Which law governs this agreement?", "The agreement names its governing law"),
    Category("Most Favored Nation",
             "A buyer gets the better terms the seller later gives a third party for the same things.",
             "Does this clause entitle a buyer to the better terms the seller gives a third party for the "
             "same goods, services or technology?",
             "Does this agreement have a most-favored-nation clause?", _YES),
    Category("Competitive Restriction Exception",
             "Exceptions or carve-outs to non-compete, exclusivity or customer non-solicitation terms.",
             "Does this clause carve out an exception to a non-compete, exclusivity or customer "
             "non-solicitation restriction?",
             "Are there exceptions to the agreement's restrictions on competition or exclusivity?", _YES),
    Category("Non-Compete", "A party may not compete with the other, or work in a region, business or field.",
             "Does this clause stop a party from competing with the other party, or from operating in a "
             "region, line of business or technology field?",
             "Is a party restricted from competing?", _YES),
    Category("Exclusivity",
             "A party must deal only with the other: buy all its requirements there, or not sell, license "
             "or work with others.",
             "Does this clause bind a party to deal exclusively with the other party, such as buying all "
             "its requirements from it or not selling, licensing or partnering with anyone else?",
             "Is there an exclusivity obligation?", _YES),
    Category("No-Solicit of Customers", "A party may not solicit or contract with the other's customers.",
             "Does this clause bar a party from soliciting or contracting with the other party's customers "
             "or partners?",
             "Is a party barred from soliciting the other party's customers?", _YES),
    Category("No-Solicit of Employees", "A party may not solicit or hire the other's employees or contractors.",
             "Does this clause bar a party from soliciting or hiring the other party's employees or "
             "contractors?",
             "Is a party barred from soliciting or hiring the other party's employees?", _YES),
    Category("Non-Disparagement", "A party may not disparage the other.",
             "Does this clause forbid a party from disparaging the other party?",
             "Is there a non-disparagement obligation?", _YES),
    Category("Termination for Convenience", "A party may end the contract without cause, by notice alone.",
             "Does this clause let a party end the agreement without cause, just by giving notice?",
             "Can a party terminate this agreement for convenience?", _YES),
    Category("Rofr/Rofo/Rofn", "A right of first refusal, first offer or first negotiation.",
             "Does this clause give a party a right of first refusal, first offer or first negotiation?",
             "Does a party have a right of first refusal, first offer or first negotiation?", _YES),
    Category("Change of Control",
             "Rights to terminate, consent or be notified when a party merges, is sold or changes control.",
             "Does this clause give a party rights, such as to terminate, consent or be notified, when the "
             "other party undergoes a change of control such as a merger or a sale of its business?",
             "What happens if a party undergoes a change of control?",
             "The agreement addresses a change of control"),
    Category("Anti-Assignment", "Consent or notice is needed to assign the contract to a third party.",
             "Does this clause require a party's consent to, or notice of, an assignment of the agreement "
             "to a third party?",
             "What does this agreement say about assigning it?", "The agreement restricts assignment"),
    Category("Revenue/Profit Sharing", "A party must share revenue or profit with the other.",
             "Does this clause require a party to share its revenue or profits with the other party?",
             "Does a party share revenue or profits with the other?", _YES),
    Category("Price Restrictions", "Limits on a party's ability to raise or lower prices.",
             "Does this clause limit a party's ability to raise or lower its prices?",
             "Are there restrictions on changing prices?", _YES),
    Category("Minimum Commitment", "A minimum order, amount or number of units a party must buy per period.",
             "Does this clause oblige a party to buy a minimum quantity or amount over a period?",
             "Is there a minimum purchase commitment?", _YES),
    Category("Volume Restriction", "Extra fees or consent when a party's use exceeds a threshold.",
             "Does this clause impose extra fees or require consent when a party's usage goes beyond a set "
             "threshold?",
             "Are there limits or extra charges when usage exceeds a threshold?", _YES),
    Category("IP Ownership Assignment", "Intellectual property one party creates becomes the other's.",
             "Does this clause make intellectual property created by one party the property of the other "
             "party?",
             "Who owns the intellectual property created under this agreement?",
             "The agreement assigns ownership of intellectual property"),
    Category("Joint IP Ownership", "The parties own some intellectual property jointly.",
             "Does this clause give the parties joint or shared ownership of intellectual property?",
             "Is any intellectual property jointly owned?", _YES),
    Category("License Grant", "One party grants the other a license.",
             "Does this clause grant a license from one party to the other?",
             "What license does this agreement grant?", "The agreement grants a license"),
    Category("Non-Transferable License", "Limits on transferring a granted license to a third party.",
             "Does this clause restrict a party from transferring the license it is granted to a third "
             "party?",
             "What limits apply to transferring the license?", "The agreement limits transfer of the license"),
    Category("Affiliate License-Licensor",
             "A license granted by the licensor's affiliates, or covering their intellectual property.",
             "Does this clause grant a license from the licensor's affiliates, or one covering intellectual "
             "property the licensor's affiliates own?",
             "Does the license include rights of the licensor's affiliates?", _YES),
    Category("Affiliate License-Licensee", "A license that extends to the licensee's affiliates.",
             "Does this clause extend a license grant to the licensee's affiliates?",
             "Does the license extend to the licensee's affiliates?", _YES),
    Category("Unlimited/All-You-Can-Eat-License", "An enterprise-wide, unlimited-use license.",
             "Does this clause grant an enterprise-wide, unlimited-use or \"all you can eat\" license?",
             "Is there an unlimited or enterprise-wide license?", _YES),
    Category("Irrevocable or Perpetual License", "A license that is irrevocable or perpetual.",
             "Does this clause grant a license that is irrevocable or perpetual?",
             "Is the license irrevocable or perpetual?", _YES),
    Category("Source Code Escrow",
             "Source code deposited with an escrow agent, released to the other party on events like "
             "bankruptcy.",
             "Does this clause require a party to place source code in escrow, to be released to the other "
             "party on events such as bankruptcy?",
             "Is source code held in escrow?", _YES),
    Category("Post-Termination Services",
             "Obligations that continue after the contract ends: transition, payment, wind-down, last buy.",
             "Does this clause impose obligations on a party after the agreement ends, such as transition "
             "services, payments, a wind-down or last-buy rights?",
             "What obligations continue after this agreement ends?",
             "The agreement sets obligations after it ends"),
    Category("Audit Rights", "A right to audit the other party's books, records or premises.",
             "Does this clause give a party the right to audit or inspect the other party's books, records "
             "or premises?",
             "Does a party have the right to audit the other?", _YES),
    Category("Uncapped Liability",
             "Liability without limit for a breach, or a kind of breach such as IP infringement.",
             "Does this clause leave a party's liability unlimited for a breach, or for a type of breach such "
             "as IP infringement or breach of confidentiality?",
             "Is any liability uncapped?", _YES),
    Category("Cap on Liability", "A maximum amount, or a time limit for claims, on liability for breach.",
             "Does this clause cap a party's liability for breach, by a maximum amount or a time limit for "
             "bringing claims?",
             "Is there a cap on liability?", _YES),
    Category("Liquidated Damages", "Liquidated damages for breach, or a fee on termination.",
             "Does this clause award liquidated damages for a breach, or a fee on termination?",
             "Are there liquidated damages or a termination fee?", _YES),
    Category("Warranty Duration", "How long a warranty against defects or errors lasts.",
             "Does this clause state how long a warranty against defects or errors lasts?",
             "How long do the warranties last?", "The agreement states the warranty period"),
    Category("Insurance", "Insurance one party must keep for the other's benefit.",
             "Does this clause require a party to carry insurance for the other party's benefit?",
             "Must a party carry insurance?", _YES),
    Category("Covenant Not to Sue",
             "A party may not challenge the other's intellectual property or sue on unrelated matters.",
             "Does this clause bar a party from challenging the other party's intellectual property or from "
             "bringing claims unrelated to the agreement?",
             "Is a party barred from suing or from challenging the other party's intellectual property?", _YES),
    Category("Third Party Beneficiary", "Someone who is not a party may enforce rights under the contract.",
             "Does this clause let someone who is not a party enforce rights under the agreement?",
             "Does anyone who is not a party have rights under this agreement?", _YES),
)

BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}
NAMES: list[str] = [c.name for c in CATEGORIES]
_BY_FOLDED = {c.name.casefold(): c.name for c in CATEGORIES}


def category(name: str) -> Category:
    """The category called `name` (case-insensitive); DatasetError naming close matches otherwise."""
    return BY_NAME[resolve([name])[0]]


def resolve(names: Iterable[str] | None) -> list[str]:
    """Canonical CUAD names for `names` in the given order, without repeats; all 41 when None or empty.

    Unknown names are an error rather than skipped: a typo would otherwise drop a clause type silently.
    """
    names = list(names or [])
    if not names:
        return list(NAMES)
    out: list[str] = []
    unknown: list[str] = []
    for name in names:
        canonical = _BY_FOLDED.get(str(name).strip().casefold())
        if canonical is None:
            unknown.append(str(name))
        elif canonical not in out:
            out.append(canonical)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.6)
            hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise DatasetError(f"unknown CUAD clause type(s) {', '.join(hints)}; known: {', '.join(NAMES)}")
    return out


def canonical(names: Iterable[str]) -> list[str]:
    """CUAD names spelled canonically, other names (a firm's own clause labels) kept as given; no repeats."""
    out: list[str] = []
    for name in names:
        name = _BY_FOLDED.get(str(name).strip().casefold(), str(name))
        if name not in out:
            out.append(name)
    return out


def _validated(names: list[str]) -> list[str]:
    try:
        return resolve(names)
    except DatasetError as e:  # pydantic reports ValueErrors as validation errors of the field
        raise ValueError(str(e)) from None


# A builder option naming CUAD categories: checked (and spelled canonically) when the options are validated,
# so a typo fails the build before any row is made.
CategoryNames = Annotated[list[str], AfterValidator(_validated)]
