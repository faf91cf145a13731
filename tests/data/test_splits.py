from collections import Counter

from lextune.data.splits import split_of


def test_split_is_deterministic_and_stable():
    ids = [f"doc-{i:04d}" for i in range(2000)]
    first = {d: split_of(d) for d in ids}
    assert first == {d: split_of(d) for d in reversed(ids)}
    counts = Counter(first.values())
    assert 0.17 < counts["test"] / len(ids) < 0.23
    assert 0.07 < counts["dev"] / len(ids) < 0.13


def test_seed_changes_assignment():
    ids = [f"doc-{i}" for i in range(200)]
    assert [split_of(d, seed=0) for d in ids] != [split_of(d, seed=1) for d in ids]
