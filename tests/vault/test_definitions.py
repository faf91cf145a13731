"""Tests for lextune.vault.definitions: defined terms and the spans of their definitions."""

from __future__ import annotations

import time

import pytest

from lextune.core.records import DefinedTerm
from lextune.vault.definitions import extract_defined_terms

PREAMBLE = (
    'This License Agreement (the "Agreement") is made as of March 1, 2024 by and between Acme Software, '
    'Inc., a Delaware corporation ("Licensor"), and Beta Retail LLC, a New York limited liability company '
    '(hereinafter "Licensee"; each a "Party" and together the "Parties").'
)


def by_term(text: str) -> dict[str, DefinedTerm]:
    terms = extract_defined_terms(text)
    for term in terms:
        assert text[term.start : term.end] == term.term, "the term span must reproduce the term"
        assert term.definition_start <= term.start < term.end <= term.definition_end <= len(text)
    return {term.term: term for term in terms}


def definition(text: str, term: DefinedTerm) -> str:
    return text[term.definition_start : term.definition_end]


def test_parenthetical_aliases_name_the_phrase_before_them() -> None:
    terms = by_term(PREAMBLE)
    assert list(terms) == ["Agreement", "Licensor", "Licensee", "Party", "Parties"]
    assert definition(PREAMBLE, terms["Agreement"]) == 'This License Agreement (the "Agreement")'
    licensor = definition(PREAMBLE, terms["Licensor"])
    assert licensor == 'Acme Software, Inc., a Delaware corporation ("Licensor")'
    assert definition(PREAMBLE, terms["Licensee"]).startswith("Beta Retail LLC, a New York")
    # Both terms of one parenthetical share its definition.
    assert definition(PREAMBLE, terms["Party"]) == definition(PREAMBLE, terms["Parties"])
    assert definition(PREAMBLE, terms["Parties"]).endswith('together the "Parties")')


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ('1.1 "Licensed Product" means the software in Exhibit A.\n\n1.2 Other text.', "Licensed Product",
         '"Licensed Product" means the software in Exhibit A.'),
        ("\u201cTerritory\u201d shall mean the United States.\n\nNext paragraph.", "Territory",
         "\u201cTerritory\u201d shall mean the United States."),
        ('"Confidential Information" has the meaning given in Section 5.1.', "Confidential Information",
         '"Confidential Information" has the meaning given in Section 5.1.'),
        ('The term "Affiliate" or "Affiliates" means an entity that controls a Party.', "Affiliates",
         '"Affiliate" or "Affiliates" means an entity that controls a Party.'),
        ('(a) "Business Day": a day on which banks in London are open.', "Business Day",
         '"Business Day": a day on which banks in London are open.'),
        ('B."PRODUCT" shall mean all golf clubs.   C."TERRITORY" shall mean the world.', "PRODUCT",
         '"PRODUCT" shall mean all golf clubs.'),
    ],
)
def test_means_definitions(text: str, term: str, expected: str) -> None:
    assert definition(text, by_term(text)[term]) == expected


def test_chained_definitions_end_where_the_next_begins() -> None:
    text = '"Agreement" means this agreement; "Party" means Acme or Beta; and "Term" means two years.\n'
    terms = by_term(text)
    assert [definition(text, terms[t]) for t in ("Agreement", "Party", "Term")] == [
        '"Agreement" means this agreement;', '"Party" means Acme or Beta;', '"Term" means two years.',
    ]


def test_definition_ends_at_the_next_numbered_clause() -> None:
    text = '1.1 "Fee" means the annual fee.\n1.2 "Term" means two years.\n'
    terms = by_term(text)
    assert definition(text, terms["Fee"]) == '"Fee" means the annual fee.'
    assert definition(text, terms["Term"]) == '"Term" means two years.'


@pytest.mark.parametrize(
    ("text", "term", "starts"),
    [
        ('between professional golfer, TOM WATSON, (hereinafter referred to as "CONSULTANT") and ADAMS GOLF',
         "CONSULTANT", "professional golfer, TOM WATSON"),
        ('GLS LLC, ("Distributor") a limited liability company', "Distributor", "GLS LLC"),
        ("between Acme Corp. (\u201cSeller\u201d) and Beta Ltd. (\u201cBuyer\u201d)", "Buyer", "Beta Ltd."),
        ('the product lines in Schedule I are hereinafter called the "Airspan Products")', "Airspan Products",
         "the product lines in Schedule I"),
        ('Its software components are sometimes referred to separately as "Software," and', "Software",
         "Its software components"),
    ],
)
def test_alias_forms(text: str, term: str, starts: str) -> None:
    assert definition(text, by_term(text)[term]).startswith(starts)


def test_first_definition_wins() -> None:
    text = 'This Agreement (the "Agreement") is short.\n\n"Agreement" means this document and its exhibits.\n'
    terms = extract_defined_terms(text)
    assert [t.term for t in terms] == ["Agreement"]
    assert definition(text, terms[0]) == 'This Agreement (the "Agreement")'


@pytest.mark.parametrize(
    "text",
    [
        'The software is provided "AS IS" without warranty.',
        'as described in the schedule (see "Exhibit A") and (as defined in the "Credit Agreement")',
        'Portions marked "[***]" were omitted; ("***") too.',
        "",
    ],
)
def test_quoted_words_that_are_not_defined(text: str) -> None:
    assert extract_defined_terms(text) == []


def test_hostile_input_is_linear() -> None:
    hostile = [
        '"' * 200_000, '("' * 100_000, '(the "a' * 50_000, '"x" means ' * 50_000, "(" * 200_000,
        # Whitespace runs before a term once made the alias pattern backtrack exponentially.
        "(" + " " * 100 + 'x "Term")', "(" + ", " * 70 + 'zz "Term")',
        "(the" + " " * 60 + '--- "Minimum Customer Number"',  # hung ingest of two CUAD train contracts '"A" means x' + " " * 100_000 + "y",
    ]
    for text in hostile:
        started = time.perf_counter()
        extract_defined_terms(text)
        assert time.perf_counter() - started < 2.0


def test_real_cuad_contracts() -> None:
    from conftest import sample_squad

    contracts = [d["paragraphs"][0]["context"] for d in sample_squad()["data"]]
    total = 0
    for text in contracts:
        terms = by_term(text)
        total += len(terms)
        for term in terms.values():
            assert term.definition_end - term.definition_start <= 2100
    assert total > 5 * len(contracts)
