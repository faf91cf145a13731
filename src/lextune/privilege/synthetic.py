"""SYNTHETIC labelled privilege sample: invented emails and memos of an invented company.

Every document is made up (people, firms, domains, matters); every record carries "synthetic": true.
`python -m lextune.privilege.synthetic OUT.jsonl.gz` (or benchmarks/privilege_sample.py) regenerates the
shipped demo_data/privilege_sample.jsonl.gz from the seed.

Kinds: attorney_client (advice asked of / given by in-house or outside counsel), work_product (prepared in
anticipation of litigation), partial (business email with one legal-advice paragraph: redact it; its
"privileged_spans" gives that paragraph's [start, end) offsets into subject + "\n\n" + body), and
not-privileged ones incl. hard negatives: business, lawyer_cc_only, lawyer_signature, press_release,
opposing_counsel (sent to the other side: no privilege).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

COMPANY_DOMAIN = "northwind-corp.example"
OUTSIDE_FIRMS = ["harlowreid-law.example", "pemberton-ames.example"]
OPPOSING_FIRMS = ["baxterstone-law.example", "quillfield-llp.example"]
IN_HOUSE = ["Dana Whitfield", "Marcus Oyelaran", "Priya Castellano"]
OUTSIDE = ["Helen Reid", "Tomasz Ames", "Grace Pemberton"]
OPPOSING = ["Victor Baxter", "Lena Quillfield"]
STAFF = ["Alex Moreno", "Jordan Lee", "Sam Patel", "Chris Novak", "Taylor Brooks", "Morgan Yu", "Riley Chen",
         "Jamie Ortiz", "Casey Nguyen", "Drew Kowalski", "Avery Singh", "Quinn Harper"]
OUTSIDERS = [("Pat Greene", "supplyco.example"), ("Robin Hale", "acme-logistics.example"),
             ("Kim Dorsey", "bluepeak-capital.example")]
TOPICS = ["the Delta supply agreement", "the Orion acquisition", "the Lakeside lease renewal",
          "the warehouse safety incident", "the Q3 pricing change", "the Helix licensing deal",
          "the former employee's claims", "the data incident in March", "the distributor termination"]
BUSINESS = [
    "Can you send me the updated numbers for {t} before Friday?",
    "The team met yesterday about {t}; shipping volumes are up 4% on last quarter.",
    "Please book the conference room for the kickoff of {t} next Tuesday.",
    "Attached is the revised budget for {t}. Finance signed off on the travel line.",
    "Our vendor confirmed delivery dates for {t}; the first trucks arrive on the 12th.",
    "Let's move the status call on {t} to 3pm, marketing needs the earlier slot.",
    "Sales asked whether {t} affects the regional targets; I said we would know next month.",
    "Please advise whether the shipping schedule for {t} can slip a week.",
    "Procurement wants our opinion on the packaging for {t}; the risk is mostly cosmetic.",
    "Thanks for the slides on {t}. I added two charts about margins.",
]
ADVICE_ASK = [
    "{a}, we need your legal advice on whether {t} exposes us to liability. Please advise.",
    "{a}, could you give us your legal opinion on the indemnity terms in {t}?",
    "Requesting counsel's advice: can we terminate {t} without breaching the contract?",
    "{a}, before we respond, what is our legal risk under {t}? Your advice would help.",
    "{a}, what do you think about our exposure on {t}? Call me before the board meeting.",
    "{a}, are we on solid ground with {t}, or should we hold off?",
]
ADVICE_GIVE = [
    "In my legal opinion the limitation clause in {t} is likely enforceable, but I advise against relying on it.",
    "My advice is that we should not sign {t} until the indemnity cap is fixed; the current draft creates exposure.",
    "Legal assessment: the notice period in {t} was not met, so I recommend we cure before the deadline.",
    "Having reviewed {t}, my advice is to preserve the termination right and avoid admissions in writing.",
    "On {t}: I would hold off on sending that letter; let's discuss by phone.",
    "I looked at {t}. The clause probably survives, so keep the notices going out on time.",
]
WORK_PRODUCT = [
    "Prepared at the direction of counsel in anticipation of litigation concerning {t}.",
    "This memo summarizes witness interviews conducted for the expected lawsuit over {t}.",
    "Draft litigation strategy for {t}: key weaknesses in the opposing position and deposition outline.",
    "Counsel requested this chronology of {t} in preparation for the anticipated arbitration.",
]
MARKERS = ["PRIVILEGED & CONFIDENTIAL", "ATTORNEY-CLIENT PRIVILEGED COMMUNICATION", "Privileged and Confidential"]
WP_MARKERS = ["ATTORNEY WORK PRODUCT", "Attorney Work Product - Prepared in Anticipation of Litigation"]


def _email(name: str, domain: str) -> str:
    return f"{name} <{name.lower().replace(' ', '.')}@{domain}>"


def staff(rng: random.Random) -> str:
    return _email(rng.choice(STAFF), COMPANY_DOMAIN)


def in_house(rng: random.Random) -> tuple[str, str]:
    n = rng.choice(IN_HOUSE)
    return n, _email(n, COMPANY_DOMAIN)


def outside(rng: random.Random) -> tuple[str, str]:
    i = rng.randrange(len(OUTSIDE))
    return OUTSIDE[i], _email(OUTSIDE[i], OUTSIDE_FIRMS[i % len(OUTSIDE_FIRMS)])


def counsel(rng: random.Random) -> tuple[str, str]:
    return in_house(rng) if rng.random() < 0.55 else outside(rng)


def _business(rng: random.Random, t: str, n: int) -> list[str]:
    return [s.format(t=t) for s in rng.sample(BUSINESS, n)]


def _maybe(rng: random.Random, p: float, text: str) -> list[str]:
    return [text] if rng.random() < p else []


def make_doc(kind: str, i: int, rng: random.Random) -> dict:
    t = rng.choice(TOPICS)
    date = f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    doc_type, cc, label = "email", [], "not_privileged"
    who = staff(rng)
    if kind == "attorney_client":
        label = "privileged"
        name, lawyer = counsel(rng)
        if rng.random() < 0.5:  # the client asks
            author, recipients = who, [lawyer]
            paras = _maybe(rng, 0.6, rng.choice(MARKERS)) + [rng.choice(ADVICE_ASK).format(a=name.split()[0], t=t)]
            subject = rng.choice([f"Question on {t}", f"Legal question: {t}", f"Need advice - {t}", f"RE: {t}"])
        else:  # counsel advises
            author, recipients = lawyer, [who]
            paras = _maybe(rng, 0.6, rng.choice(MARKERS)) + [rng.choice(ADVICE_GIVE).format(t=t)]
            subject = rng.choice([f"RE: {t}", f"Advice on {t}", f"{t} - our view"])
        paras += _business(rng, t, rng.randint(0, 1))
        if rng.random() < 0.25:
            doc_type = "memo"
    elif kind == "work_product":
        label, doc_type = "privileged", rng.choice(["memo", "memo", "email"])
        name, lawyer = counsel(rng)
        author, recipients = (lawyer, [who]) if rng.random() < 0.6 else (who, [lawyer])
        paras = _maybe(rng, 0.6, rng.choice(WP_MARKERS)) + [rng.choice(WORK_PRODUCT).format(t=t)]
        subject = rng.choice([f"Litigation prep: {t}", f"Chronology - {t}", f"Interview notes, {t}"])
    elif kind == "partial":
        label = "partially_privileged"
        name, lawyer = counsel(rng)
        author, recipients = who, [staff(rng), lawyer]
        paras = _business(rng, t, rng.randint(2, 3))
        legal = (f"Separately, {name.split()[0]} gave us legal advice on {t}: "
                 + rng.choice(ADVICE_GIVE).format(t=t).lower())
        at = rng.randint(0, len(paras))
        paras.insert(at, legal)
        subject = rng.choice([f"Weekly update: {t}", f"{t} - next steps", f"Status of {t}"])
    elif kind == "business":
        author, recipients = who, [staff(rng)]
        cc = [staff(rng)] if rng.random() < 0.3 else []
        paras = _business(rng, t, rng.randint(1, 3)) + _maybe(rng, 0.15, "Confidential - internal only.")
        subject = rng.choice([f"{t} update", f"Numbers for {t}", f"Meeting: {t}"])
    elif kind == "lawyer_cc_only":
        author, recipients = who, [staff(rng)]
        cc = [counsel(rng)[1]]
        paras = _business(rng, t, rng.randint(1, 3)) + _maybe(rng, 0.3, "Copying legal for visibility.")
        subject = rng.choice([f"{t} update", f"FYI: {t}", f"Logistics for {t}"])
    elif kind == "lawyer_signature":
        name, lawyer = counsel(rng)
        author, recipients = who, [staff(rng)]
        paras = _business(rng, t, rng.randint(1, 2))
        paras.append(rng.choice([f"Lunch order for the offsite is due Thursday. -- {name}, Legal Department",
                                 f"Reminder: parking passes expire this month.\n{name}\nSenior Counsel, Legal",
                                 f"Happy birthday to the team from {name} (Counsel)!"]))
        if rng.random() < 0.5:
            author = lawyer  # a lawyer writing about non-legal matters
        subject = rng.choice(["Offsite lunch", "Parking passes", "Team celebration", f"{t} logistics"])
    elif kind == "press_release":
        doc_type, author, recipients = "press_release", _email("Media Relations", COMPANY_DOMAIN), ["press list"]
        paras = ["FOR IMMEDIATE RELEASE",
                 (f"Northwind Holdings today commented on the litigation regarding {t}. "
                  "The company believes the lawsuit is without merit and will defend itself vigorously."),
                 "Our attorneys are confident in our legal position. " + rng.choice(BUSINESS).format(t=t)]
        subject = f"Northwind statement on {t}"
    elif kind == "opposing_counsel":
        i_opp = rng.randrange(len(OPPOSING))
        opp = _email(OPPOSING[i_opp], OPPOSING_FIRMS[i_opp])
        name, lawyer = counsel(rng)
        author, recipients = (lawyer, [opp]) if rng.random() < 0.7 else (opp, [lawyer])
        paras = _maybe(rng, 0.3, "Confidential settlement communication") + [rng.choice([
            f"Counsel, we write regarding the litigation over {t}. Our client rejects your settlement proposal.",
            f"Please produce the documents requested about {t} by the agreed deadline.",
            f"Following the meet-and-confer on {t}, we propose extending the discovery schedule by two weeks.",
        ])]
        subject = rng.choice([f"{t} - discovery", f"Settlement: {t}", f"RE: {t} litigation"])
    elif kind == "third_party":
        o_name, o_dom = rng.choice(OUTSIDERS)
        author, recipients = who, [_email(o_name, o_dom)]
        paras = _business(rng, t, rng.randint(1, 2)) + _maybe(rng, 0.4, "Our legal team reviewed the contract.")
        subject = rng.choice([f"{t} invoice", f"{t} delivery", f"Question about {t}"])
    else:
        raise ValueError(kind)
    body = "\n\n".join(paras)
    doc = {"id": f"syn-{i:04d}", "synthetic": True, "kind": kind, "label": label, "date": date, "author": author,
           "recipients": recipients, "cc": cc, "subject": subject, "body": body, "doc_type": doc_type}
    if kind == "partial":  # where the legal-advice paragraph is: [start, end) in subject + "\n\n" + body
        start = len(subject) + 2 + sum(len(p) + 2 for p in paras[:at])
        doc["privileged_spans"] = [[start, start + len(paras[at])]]
    return doc


MIX = {"attorney_client": 150, "work_product": 80, "partial": 90, "business": 110, "lawyer_cc_only": 45,
       "lawyer_signature": 40, "press_release": 30, "opposing_counsel": 35, "third_party": 20}


def generate(seed: int = 12, mix: dict[str, int] | None = None) -> list[dict]:
    """The SYNTHETIC sample: labelled docs with a fixed train/validation/test split (60/20/20, by kind)."""
    rng = random.Random(seed)
    kinds = [k for k, n in (mix or MIX).items() for _ in range(n)]
    docs = [make_doc(k, i, rng) for i, k in enumerate(kinds)]
    for kind in (mix or MIX):
        own = [d for d in docs if d["kind"] == kind]
        rng.shuffle(own)
        n = len(own)
        for j, d in enumerate(own):
            d["split"] = "train" if j < 0.6 * n else "validation" if j < 0.8 * n else "test"
    rng.shuffle(docs)
    return docs


def default_sample_path() -> Path:
    return Path(__file__).resolve().parent.parent / "demo_data" / "privilege_sample.jsonl.gz"


def write_sample(path: Path, seed: int = 12) -> int:
    docs = generate(seed)
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write(("".join(json.dumps(d, sort_keys=True) + "\n" for d in docs)).encode("utf-8"))
    return len(docs)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default_sample_path()
    print(f"{write_sample(out)} SYNTHETIC documents -> {out}")
