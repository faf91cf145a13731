from __future__ import annotations

import pytest

from lextune.core.errors import DatasetError
from lextune.data.leakage import LeakageError, check_leakage, find_cross_split_duplicates
from lextune.vault import dedup

CHUNKS = {
    "gov": "This Agreement shall be governed by and construed in accordance with the laws of the State of "
           "New York, without giving effect to any choice of law or conflict of law rules or provisions "
           "that would cause the application of the laws of any jurisdiction other than New York.",
    "term": "Either party may terminate this Agreement for convenience upon ninety days prior written "
            "notice to the other party, provided that all fees accrued through the effective date of "
            "termination have been paid in full and confidential information has been returned.",
    "audit": "Licensee shall keep complete and accurate books and records and shall permit an independent "
             "accountant selected by Licensor to audit such records once per calendar year upon thirty "
             "days notice, at Licensor's expense unless a discrepancy exceeding five percent is found.",
    "ins": "Supplier shall maintain commercial general liability insurance with limits of not less than "
           "two million dollars per occurrence and shall name Customer as an additional insured under "
           "each such policy, furnishing certificates of insurance upon request.",
}


def _planted_copy(text: str) -> str:
    # A chunk copied into another document with small edits: a renamed party and re-wrapped lines.
    return text.replace("New York", "New  York").replace("Agreement", "AGREEMENT").replace(", ", ",\n")


def test_planted_near_duplicate_across_splits_is_found_and_fails_the_build():
    copy = _planted_copy(CHUNKS["gov"]) + " Venue lies in Manhattan."
    assert copy != CHUNKS["gov"] and dedup.exact_key(copy) != dedup.exact_key(CHUNKS["gov"])
    items = [("c-gov", "train", CHUNKS["gov"]), ("c-term", "train", dedup.signature_bytes(CHUNKS["term"])),
             ("c-audit", "test", dedup.minhash(CHUNKS["audit"])), ("c-copy", "test", copy)]
    pairs = find_cross_split_duplicates(items, threshold=0.8)
    assert len(pairs) == 1
    key_a, split_a, key_b, split_b, sim = pairs[0]
    assert (key_a, split_a, key_b, split_b) == ("c-gov", "train", "c-copy", "test") and 0.8 <= sim <= 1.0
    with pytest.raises(LeakageError) as err:
        check_leakage(items, threshold=0.8)
    assert isinstance(err.value, DatasetError)
    assert "1 near-duplicate pair" in str(err.value) and "c-gov (train) ~ c-copy (test)" in str(err.value)


def test_distinct_texts_and_same_split_duplicates_are_not_reported():
    items = [(k, split, t) for (k, t), split in zip(CHUNKS.items(), ["train", "dev", "test", "train"])]
    # Copies inside one split: "term" is in dev, "ins" in train. Boilerplate, but not a leak.
    items += [("term-upper", "dev", CHUNKS["term"].upper()),
              ("ins-again", "train", _planted_copy(CHUNKS["ins"]))]
    assert find_cross_split_duplicates(items) == []
    assert check_leakage(items) == []


def test_many_copies_report_every_leaking_key_without_quadratic_pairs():
    items = [(f"tr{i}", "train", CHUNKS["ins"]) for i in range(50)]
    items += [(f"te{i}", "test", CHUNKS["ins"]) for i in range(50)]
    items += [("dv0", "dev", _planted_copy(CHUNKS["ins"]))]
    pairs = find_cross_split_duplicates(items)
    keys = {p[0] for p in pairs} | {p[2] for p in pairs}
    assert keys == {k for k, _, _ in items}
    assert len(pairs) < 300
    assert all(sa != sb for _, sa, _, sb, _ in pairs)
    with pytest.raises(LeakageError, match=r"and \d+ more"):
        check_leakage(items)
