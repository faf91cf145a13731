"""The leakage check every build runs: no chunk of one split may be a (near-)copy of a chunk of another.

It is deliberately independent of the vault's deduplication: it recomputes signatures from the texts
it is given (or re-reads the signature bytes) and compares across splits itself, so a copy that
slipped past upstream dedup (a changed threshold, a document ingested before dedup existed, a bug)
still fails the build instead of inflating the test scores.
"""

from __future__ import annotations

from collections.abc import Iterable

from datasketch import MinHash

from lextune.core.errors import DatasetError
from lextune.vault.dedup import DEFAULT_THRESHOLD, Signature, as_minhash, new_lsh

LeakPair = tuple[str, str, str, str, float]  # key_a, split_a, key_b, split_b, estimated Jaccard


class LeakageError(DatasetError):
    """Near-duplicate chunks cross splits: a held-out split would contain (a copy of) training text."""

    def __init__(self, pairs: list[LeakPair], threshold: float | None = None, show: int = 5):
        self.pairs = pairs
        self.threshold = threshold
        shown = "; ".join(f"{a} ({sa}) ~ {b} ({sb}) {sim:.2f}" for a, sa, b, sb, sim in pairs[:show])
        more = f"; and {len(pairs) - show} more" if len(pairs) > show else ""
        at = f" at Jaccard >= {threshold:g}" if threshold is not None else ""
        super().__init__(
            f"leakage: {len(pairs)} near-duplicate pair(s) cross splits{at}: {shown}{more}. "
            "Split by document family (or drop the copies) and rebuild."
        )


def _group_pairs(
    members: list[tuple[int, str, str]], others: list[tuple[int, str, str]], sim: float, out: set
) -> None:
    """Pairs between two groups (or within one), linear in their sizes.

    Every member is paired with the first member of each other split in the other group, not with
    all of them: k copies of one clause across splits give about k pairs, not k^2, and every key
    that leaks still appears in at least one pair.
    """
    first_by_split: dict[str, tuple[int, str, str]] = {}
    for item in others:
        first_by_split.setdefault(item[2], item)
    for item in members:
        for split, first in first_by_split.items():
            if split != item[2]:
                a, b = sorted((item, first))  # input order: key_a came first
                out.add((a[1], a[2], b[1], b[2], sim))


def find_cross_split_duplicates(
    items: Iterable[tuple[str, str, Signature]], threshold: float = DEFAULT_THRESHOLD
) -> list[LeakPair]:
    """Pairs of keys in different splits whose estimated Jaccard is >= threshold, most similar first.

    `items` are (key, split, text | signature bytes | MinHash). Same-split duplicates are not leaks
    and are not reported.
    """
    lsh = new_lsh(threshold)
    groups: list[list[tuple[int, str, str]]] = []  # identical signatures, in input order
    sigs: list[MinHash] = []
    group_of_values: dict[bytes, int] = {}
    for n, (key, split, sig) in enumerate(items):
        m = as_minhash(sig)
        values = m.hashvalues.tobytes()
        if values in group_of_values:
            groups[group_of_values[values]].append((n, key, split))
            continue
        group_of_values[values] = len(groups)
        lsh.insert(len(groups), m, check_duplication=False)
        groups.append([(n, key, split)])
        sigs.append(m)

    found: set[LeakPair] = set()
    for g, members in enumerate(groups):
        _group_pairs(members, members, 1.0, found)
        for h in lsh.query(sigs[g]):
            if h <= g:  # each pair of groups once
                continue
            sim = sigs[g].jaccard(sigs[h])
            if sim >= threshold:
                _group_pairs(members, groups[h], sim, found)
                _group_pairs(groups[h], members, sim, found)
    order: dict[str, int] = {}
    for members in groups:
        for n, key, _ in members:
            order.setdefault(key, n)
    return sorted(found, key=lambda p: (-p[4], order[p[0]], order[p[2]]))


def check_leakage(
    items: Iterable[tuple[str, str, Signature]], threshold: float = DEFAULT_THRESHOLD
) -> list[LeakPair]:
    """Raise LeakageError when any near-duplicate crosses splits; return [] otherwise."""
    pairs = find_cross_split_duplicates(items, threshold)
    if pairs:
        raise LeakageError(pairs, threshold)
    return pairs
