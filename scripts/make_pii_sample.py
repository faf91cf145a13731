"""Rebuild the labelled PII sample shipped in src/lextune/demo_data (dev-time only; needs ../shared).

How the sample was drawn:
- 40 contracts, a seeded random sample (`random.Random(7)`) of the CUAD v1 *train* contracts
  (never dev or the held-out test part), sorted by title before sampling so the draw is stable.
- From each, excerpts where personal data sits: the first 4,000 characters (title, preamble,
  parties), the last 3,000 (signature blocks, notice addresses in exhibits) and, when the contract
  has a Notices section elsewhere, 2,500 characters from its heading. Overlapping excerpts are
  merged; excerpts are joined with EXCERPT_SEP, and `pieces` records where each came from.
- Split by contract: after a second seeded shuffle, the first 20 are "dev" (recognizers may be
  tuned on them) and the other 20 "heldout" (only measured).
- "heldout2": 16 more train contracts (`random.Random(9)` over those not drawn above), drawn and
  labelled after the recognizers had been measured once on "heldout" and changed again (on dev
  errors only).
- "test": 20 more (`random.Random(10)` over those not drawn above), drawn and labelled after the
  first two held-out parts had been measured and then used for development too; measured once
  (PARTY recall 0.924), then used for development too.
- "blind": 20 more (`random.Random(11)` over those not drawn above), drawn and labelled by reading
  each excerpt, under the same conventions, before the anonymizer was run on any of them; the
  reported figures come from these, measured once at the end (PARTY 0.831, PERSON 0.842), then
  used for development too.
- "blind2": 24 more (`random.Random(12)` over those not drawn above), drawn and labelled by reading
  each excerpt, under the same conventions, before the anonymizer was run on any of them, after
  the recognizers were revised on the errors of all earlier parts; measured once.
- Gold spans: every word-bounded, exact occurrence in the excerpt of each labelled string, where the
  labels are (a) CUAD's "Parties" answers minus role aliases ("Licensee", "Company"), typed PARTY
  (organizations) or PERSON (people), and (b) labels written by hand after reading each excerpt,
  kept in scripts/pii_sample_labels.json: people (signatories, notice contacts, witnesses), street
  addresses (street number or P.O. Box through postcode/country), e-mail addresses, phone and fax
  numbers, and the other private organizations the excerpt names (law firms, banks, affiliates).
  Names judged not personal (public bodies, well-known brands and products, places, web
  addresses) are labelled NEUTRAL: not counted for recall, and a redaction over one is neither
  right nor wrong. Any run of whitespace in a label matches any other (names wrap and are padded).
  A labelled string that does not occur in its excerpt stops the build, so a label cannot vanish.

Usage: python scripts/make_pii_sample.py ../shared/data/cuad src/lextune/demo_data/pii_sample.jsonl.gz
       [--dump DIR]   (also writes each excerpt as DIR/<n>_<split>_<id>.txt, for labelling)
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

N_CONTRACTS = 40
N_SECOND = 16
N_THIRD = 20
N_FOURTH = 20
N_FIFTH = 24
HEAD, TAIL, NOTICES = 4000, 3000, 2500
EXCERPT_SEP = "\n\n[...]\n\n"
LABELS = Path(__file__).with_name("pii_sample_labels.json")
NOTICES_HEADING = re.compile(
    r"(?m)^[ \t]*(?:(?:Section|SECTION|Article|ARTICLE)\s+)?(?:[\dA-Z]{1,3}(?:\.\d+)*\.?\)?[ \t]+)?"
    r"(?:Notices?|NOTICES?)\b"
)


def _pieces(text: str) -> list[tuple[int, int]]:
    spans = [(0, min(HEAD, len(text))), (max(0, len(text) - TAIL), len(text))]
    m = next((m for m in NOTICES_HEADING.finditer(text) if HEAD <= m.start() < len(text) - TAIL), None)
    if m:
        spans.append((m.start(), min(len(text), m.start() + NOTICES)))
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    # Word-bounded so "Bank" inside "Banking" is not gold; any run of whitespace matches any other,
    # since the contract texts wrap names over lines and pad them with several spaces.
    body = r"\s+".join(re.escape(w) for w in needle.split())
    pat = re.compile(r"(?<!\w)" + body + r"(?!\w)")
    return [(m.start(), m.end()) for m in pat.finditer(text)]


def draw(shared: Path) -> list[dict]:
    with gzip.open(shared / "cuad_train.contracts.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = sorted((json.loads(line) for line in f), key=lambda r: r["title"])
    sample = random.Random(7).sample(rows, N_CONTRACTS)
    order = list(range(N_CONTRACTS))
    random.Random(8).shuffle(order)
    drawn = {r["id"] for r in sample}
    second = random.Random(9).sample([r for r in rows if r["id"] not in drawn], N_SECOND)
    drawn |= {r["id"] for r in second}
    third = random.Random(10).sample([r for r in rows if r["id"] not in drawn], N_THIRD)
    drawn |= {r["id"] for r in third}
    fourth = random.Random(11).sample([r for r in rows if r["id"] not in drawn], N_FOURTH)
    drawn |= {r["id"] for r in fourth}
    fifth = random.Random(12).sample([r for r in rows if r["id"] not in drawn], N_FIFTH)
    splits = ["dev" if rank < N_CONTRACTS // 2 else "heldout" for rank in range(N_CONTRACTS)]
    splits += ["heldout2"] * N_SECOND + ["test"] * N_THIRD + ["blind"] * N_FOURTH + ["blind2"] * N_FIFTH
    out = []
    for row, split in zip([sample[i] for i in order] + second + third + fourth + fifth, splits, strict=True):
        pieces = _pieces(row["text"])
        out.append({
            "id": row["id"],
            "title": row["title"],
            "split": split,
            "pieces": pieces,
            "text": EXCERPT_SEP.join(row["text"][s:e] for s, e in pieces),
            "cuad_parties": sorted({c["text"] for c in row["clauses"].get("Parties", [])}),
        })
    return out


def label(records: list[dict], labels: dict) -> list[dict]:
    """Turn the label strings into exact gold spans; fail loudly on a label that is not found."""
    out = []
    for rec in records:
        lab = labels.get(rec["id"])
        if lab is None:
            raise SystemExit(f"no labels for {rec['id']} {rec['title']}")
        gold: dict[tuple[int, int], str] = {}
        pairs = [(s, t) for s, t in lab["cuad"] if t != "DROP"] + [tuple(p) for p in lab["manual"]]
        unknown = set(rec["cuad_parties"]) - {s for s, _ in lab["cuad"]}
        if unknown:
            raise SystemExit(f"{rec['id']}: CUAD parties without a decision: {sorted(unknown)}")
        for needle, etype in pairs:
            occ = _occurrences(rec["text"], needle)
            if not occ and needle not in rec["cuad_parties"]:
                raise SystemExit(f"{rec['id']}: label {needle!r} not in the excerpt")
            for span in occ:
                gold[span] = etype
        # A label inside a longer label of the same occurrence ("Acme" in "Acme Corp.") is dropped:
        # the longer span is the unit a reader would redact.
        spans = sorted(gold.items())
        kept = [(s, e, t) for (s, e), t in spans
                if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for (s2, e2), _ in spans)]
        out.append({
            "id": rec["id"], "title": rec["title"], "split": rec["split"], "pieces": rec["pieces"],
            "text": rec["text"],
            "spans": [{"start": s, "end": e, "entity_type": t, "text": rec["text"][s:e]} for s, e, t in kept],
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("shared", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dump", type=Path)
    args = ap.parse_args()
    records = draw(args.shared)
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for n, rec in enumerate(records):
            path = args.dump / f"{n:02d}_{rec['split']}_{rec['id']}.txt"
            path.write_text(f"# {rec['title']}\n# CUAD parties: {rec['cuad_parties']}\n\n{rec['text']}")
        if not LABELS.exists():
            return
    labelled = label(records, json.loads(LABELS.read_text(encoding="utf-8")))
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        for rec in labelled:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    n = sum(len(r["spans"]) for r in labelled)
    print(f"wrote {args.out}: {len(labelled)} contracts, {n} gold spans")


if __name__ == "__main__":
    main()
