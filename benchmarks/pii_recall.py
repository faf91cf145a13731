"""PII removal on the labelled CUAD sample: recall and precision per entity type, lextune vs plain
Presidio, and the cost of anonymization per page (3,000 characters).

    .venv/bin/python benchmarks/pii_recall.py                 # every part; "blind2" is the reported one
    .venv/bin/python benchmarks/pii_recall.py --split blind2 --no-baseline

Splits of the shipped sample (see scripts/make_pii_sample.py): "dev" (tuned on), "heldout", "heldout2"
"test" and "blind" (each measured blind once, then used for development), "blind2" (drawn and labelled
last, measured once: the reported figures).
Definitions of recall and precision: lextune.vault.pii.measure.
"""

from __future__ import annotations

import argparse
import time

from lextune.vault.pii import measure
from lextune.vault.pii.anonymizer import Anonymizer, anonymize

TYPES = ["PARTY", "PERSON", "ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "ACCOUNT_NUMBER"]
PAGE = 3000
SPLITS = ["dev", "heldout", "heldout2", "test", "blind", "blind2"]


def ms_per_page(docs: list[measure.SampleDoc], repeats: int = 2) -> tuple[float, float]:
    """(ms per 3,000-character page, seconds to load the pipeline), best of `repeats` passes."""
    t0 = time.perf_counter()
    anon = Anonymizer()
    anon.redactions("Warm-up: ACME, INC. (\"Licensee\").")
    load_s = time.perf_counter() - t0
    chars = sum(len(d.text) for d in docs)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for d in docs:
            anonymize(d.text, anon.redactions(d.text))
        best = min(best, time.perf_counter() - t)
    return 1000 * best / (chars / PAGE), load_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", action="append", help="sample split(s) to score (default: all, blind2 last)")
    ap.add_argument("--no-baseline", action="store_true", help="skip plain Presidio")
    args = ap.parse_args()
    everything = measure.load_sample()
    ms, load_s = ms_per_page(everything)  # first, so the load time is not hidden by the scoring below
    for split in args.split or SPLITS:
        docs = measure.load_sample(split)
        rows = {"lextune": measure.score(docs, measure.ours())}
        if not args.no_baseline:
            rows["plain Presidio"] = measure.score(docs, measure.plain_presidio())
        pages = sum(len(d.text) for d in docs) / PAGE
        print(f"== split {split!r}: {len(docs)} contracts, {pages:.0f} pages of excerpts")
        print(measure.table(rows, TYPES))
        print()
    print(f"anonymization: {ms:.1f} ms per page ({PAGE} chars), over all {len(everything)} excerpts; "
          f"pipeline load {load_s:.1f} s (once per process)")


if __name__ == "__main__":
    main()
