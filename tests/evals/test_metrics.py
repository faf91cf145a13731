from __future__ import annotations

import pytest

from lextune.evals.metrics import NOT_FOUND, is_not_found, match_label, normalize_label


def test_normalize_label() -> None:
    assert normalize_label('  "Governing   Law."  ') == "governing law"
    assert normalize_label("\u201cNon-Compete\u201d") == "non-compete"
    assert normalize_label("YES\n") == "yes"


@pytest.mark.parametrize(
    ("generated", "labels", "expected"),
    [
        ("Yes", ["Yes", "No"], "Yes"),
        ('"yes."', ["Yes", "No"], "Yes"),
        ("No, the contract does not say so.", ["Yes", "No"], "No"),
        ("Non-Compete Exception applies here", ["Non-Compete", "Non-Compete Exception"], "Non-Compete Exception"),
        ("I think this is governing law.", ["Governing Law", "Termination"], "Governing Law"),
        ("The clause is a non-compete", ["Compete", "Non-Compete"], "Non-Compete"),
        ("not sure", ["Yes", "No"], None),
        ("nothing matches", ["Governing Law"], None),
        ("", ["Yes", "No"], None),
    ],
)
def test_match_label(generated: str, labels: list[str], expected: str | None) -> None:
    assert match_label(generated, labels) == expected


def test_not_found() -> None:
    assert is_not_found(NOT_FOUND) and is_not_found("not found.") and is_not_found(" NOT FOUND in the excerpt")
    assert not is_not_found("Found: the clause") and not is_not_found("")
