"""The anonymizer on small contracts: consistent pseudonyms, aliases, every occurrence, identifiers,
what must not be masked, and the policy's actions. Uses the real spaCy model (loaded once)."""

from __future__ import annotations

import itertools
import re

import pytest
from presidio_analyzer import RecognizerResult

from lextune.core.records import DefinedTerm, Redaction
from lextune.vault.pii import Anonymizer, PiiPolicy, anonymize
from lextune.vault.pii.resolve import Resolver

CONTRACT = """LICENSE AGREEMENT

This License Agreement (the "Agreement") is entered into as of May 1, 2020 by and between THERAVANCE, INC., \
a Delaware corporation ("Licensee"), and Athens Bancshares Corporation, a Tennessee corporation ("Athens").

WHEREAS, Licensee wishes to obtain a license from Athens; and WHEREAS, the Parties wish to set out the terms \
of the Distribution.

1. DEFINITIONS. "Confidential Information" means all information disclosed by a Party. "Territory" means the \
United States.

2. LICENSE. Athens grants to Licensee a license in the Territory. Theravance shall pay the Company's invoices. \
Notices to THERAVANCE, INC. shall be sent to 901 Gateway Boulevard, South San Francisco, CA 94080, Attention: \
Rick E. Winningham, e-mail legal@theravance.com, telephone (650) 808-6000.

IN WITNESS WHEREOF the parties have signed this Agreement.
THERAVANCE, INC.                       ATHENS BANCSHARES CORPORATION
By: /s/ Rick E. Winningham             By: /s/ Jeffrey L. Cunningham
Name: Rick E. Winningham               Name: Jeffrey L. Cunningham
Title: Chief Executive Officer         Title: President
"""

IDENTIFIERS = (
    "Wire to IBAN DE89 3704 0044 0532 0130 00. Employee SSN: 536-22-8726. Passport No. X12345678. "
    "Date of birth: March 3, 1970. Account Number: 000123456789, routing number 021000021. "
    "Email jane.doe@example.com, phone +1 (212) 555-0199. Card 4111 1111 1111 1111. "
    "The employee was born on 4 July 1961."
)


@pytest.fixture(scope="module")
def anon() -> Anonymizer:
    return Anonymizer()


@pytest.fixture(scope="module")
def reds(anon) -> list[Redaction]:
    return anon.redactions(CONTRACT)


def _by_original(reds: list[Redaction]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in reds:
        out.setdefault(r.original, set()).add(r.replacement)
    return out


def test_redactions_are_sorted_non_overlapping_and_exact(reds):
    assert reds == sorted(reds, key=lambda r: r.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(reds))
    assert all(CONTRACT[r.start:r.end] == r.original for r in reds)


def test_pseudonyms_are_consistent_within_the_document(reds):
    by = _by_original(reds)
    assert by["THERAVANCE, INC."] == by["Theravance"] == {"[PARTY_1]"}
    assert by["Athens Bancshares Corporation"] == by["Athens"] == by["ATHENS BANCSHARES CORPORATION"] == {"[PARTY_2]"}
    assert by["Rick E. Winningham"] == {"[PERSON_1]"}
    assert by["Jeffrey L. Cunningham"] == {"[PERSON_2]"}


def test_every_occurrence_of_a_found_name_is_replaced(reds):
    out = anonymize(CONTRACT, reds)
    for name in ("THERAVANCE", "Theravance", "Athens", "ATHENS", "Winningham", "Cunningham"):
        assert name not in out, name
    assert out.count("[PARTY_1]") == 4 and out.count("[PERSON_1]") == 3


def test_role_alias_stays_intact_and_name_alias_gets_the_token(reds):
    out = anonymize(CONTRACT, reds)
    assert '[PARTY_1], a Delaware corporation ("Licensee")' in out
    assert '[PARTY_2], a Tennessee corporation ("[PARTY_2]")' in out


def test_role_words_defined_terms_and_headings_are_not_masked(reds):
    out = anonymize(CONTRACT, reds)
    for kept in ("LICENSE AGREEMENT", '"Agreement"', "Licensee", '"Confidential Information"', '"Territory"',
                 "the Parties", "the Company's", "DEFINITIONS", "IN WITNESS WHEREOF", "Chief Executive Officer",
                 "President", "Delaware", "United States", "Distribution"):
        assert kept in out, kept


def test_contact_details_are_masked(reds):
    types = {r.original: r.entity_type for r in reds}
    assert types["legal@theravance.com"] == "EMAIL_ADDRESS"
    assert types["(650) 808-6000"] == "PHONE_NUMBER"
    assert types["901 Gateway Boulevard, South San Francisco, CA 94080"] == "ADDRESS"
    assert "[ADDRESS]" in anonymize(CONTRACT, reds)


def test_all_caps_corporate_names_with_entity_suffixes(anon):
    text = ("Agreement between XYZ HOLDINGS LLC and Acme GmbH, with copies to Banco Rio S.A. and Kestrel Widgets "
            "Ltd. Signed by ALPHA BETA, INC. and Omega Partners LP today.")
    found = {r.original for r in anon.redactions(text) if r.entity_type == "PARTY"}
    assert found >= {"XYZ HOLDINGS LLC", "Acme GmbH", "Banco Rio S.A.", "Kestrel Widgets Ltd.", "ALPHA BETA, INC.",
                     "Omega Partners LP"}
    assert "Agreement" not in " ".join(found)


def test_identifiers_are_found_with_their_labels(anon):
    types = {r.original: r.entity_type for r in anon.redactions(IDENTIFIERS)}
    assert types["DE89 3704 0044 0532 0130 00"] == "IBAN_CODE"
    assert types["536-22-8726"] == "US_SSN"
    assert types["X12345678"] == "PASSPORT"
    assert types["March 3, 1970"] == types["4 July 1961"] == "DATE_OF_BIRTH"
    assert types["000123456789"] == types["021000021"] == "ACCOUNT_NUMBER"
    assert types["jane.doe@example.com"] == "EMAIL_ADDRESS"
    assert types["+1 (212) 555-0199"] == "PHONE_NUMBER"
    assert types["4111 1111 1111 1111"] == "CREDIT_CARD"


def test_unlabelled_numbers_and_plain_dates_are_not_identifiers(anon):
    text = "Section 12.3 applies from March 3, 1970; the fee is 123456789 dollars, payable under Exhibit 4."
    assert anon.redactions(text) == []


def test_policy_keep_mask_and_pseudonym(anon):
    policy = PiiPolicy(actions={"PARTY": "mask", "PERSON": "keep", "EMAIL_ADDRESS": "pseudonym"})
    reds = Anonymizer(policy).redactions(CONTRACT)
    out = anonymize(CONTRACT, reds)
    assert "[PARTY]" in out and "[PARTY_1]" not in out
    assert "Rick E. Winningham" in out  # kept: listed with its own text as replacement
    assert any(r.entity_type == "PERSON" and r.replacement == r.original for r in reds)
    assert "[EMAIL_ADDRESS_1]" in out
    text = "Write to a@example.com, b@example.com and again a@example.com."
    emails = [r.replacement for r in Anonymizer(policy).redactions(text)]
    assert emails == ["[EMAIL_ADDRESS_1]", "[EMAIL_ADDRESS_2]", "[EMAIL_ADDRESS_1]"]


def test_defined_terms_passed_in_protect_a_candidate():
    text = "Licensee may use the Kestrel Zorvani Platform. The Kestrel Zorvani Platform is hosted by Licensor."
    start = text.index("Kestrel")
    guess = RecognizerResult("ORGANIZATION", start, start + len("Kestrel Zorvani Platform"), 0.85)
    assert Resolver(text, set()).accept(guess) is not None
    term = DefinedTerm(term="Kestrel Zorvani Platform", start=start, end=guess.end, definition_start=0,
                       definition_end=len(text))
    assert Resolver(text, {term.term}).accept(guess) is None


def test_anonymize_applies_in_any_order_and_rejects_overlaps():
    text = "Acme pays Bob."
    reds = [Redaction(start=10, end=13, entity_type="PERSON", original="Bob", replacement="[PERSON_1]"),
            Redaction(start=0, end=4, entity_type="PARTY", original="Acme", replacement="[PARTY_1]")]
    assert anonymize(text, reds) == "[PARTY_1] pays [PERSON_1]."
    with pytest.raises(ValueError, match="overlapping"):
        anonymize(text, [*reds, Redaction(start=2, end=6, entity_type="PARTY", original="me p", replacement="x")])


def test_an_empty_or_name_free_text_has_no_redactions(anon):
    assert anon.redactions("") == []
    assert anon.redactions("The Licensee shall pay the Licensor within thirty (30) days.") == []


def test_pseudonyms_restart_with_each_document(anon):
    first = anon.redactions("Payment by Zorblax Holdings LLC.")
    second = anon.redactions("Notice to Quintaro Systems Inc.")
    assert [r.replacement for r in first] == [r.replacement for r in second] == ["[PARTY_1]"]
    assert re.fullmatch(r"\[PARTY_\d+\]", first[0].replacement)


def test_bare_bracket_acronyms_roles_signing_lines_and_institutions(anon):
    text = ("WHEREAS Bristol-Myers Squibb Company (BMS) has rights; BMS shall assign them. The Research and "
            "Development (R&D) plan applies. It is made between Bruce Jenner; and The Right Solution, a Nevada "
            "Corporation (the COMPANY), and The University of Iowa.\nFor and on behalf of\nStarHub\n")
    found = {r.original for r in anon.redactions(text) if r.entity_type == "PARTY"}
    assert found >= {"Bristol-Myers Squibb Company", "BMS", "The Right Solution", "The University of Iowa", "StarHub"}
    assert not any("R&D" in f or "Research" in f or "COMPANY" == f for f in found)


def test_funds_named_after_a_party_and_addresses_after_a_company(anon):
    text = ("Zorblax Investment Management Company (\"Adviser\") advises: Zorblax Government Obligations Fund "
            "Zorblax Municipal Cash Trust. Notices to GALEN (CHEMICALS) LIMITED of 4 Adelaide Street, Dun "
            "Laoghaire, Co. Dublin, Ireland, or Deutsche Telekom AG, Friedrich-Ebert-Allee 140, 53113 Bonn, Germany.")
    types = {r.original: r.entity_type for r in anon.redactions(text)}
    assert types["Zorblax Government Obligations Fund"] == types["Zorblax Municipal Cash Trust"] == "PARTY"
    assert types["4 Adelaide Street, Dun Laoghaire, Co. Dublin, Ireland"] == "ADDRESS"
    assert types["Friedrich-Ebert-Allee 140, 53113 Bonn, Germany"] == "ADDRESS"


def test_alias_defined_after_an_address_and_a_second_definition_of_the_same_name(anon):
    # An alias after "and its affiliates" and an address; a second definition of one name
    # ("collectively, ...") must not replace the first one's alias; a dotted alias is a name too.
    text = ('This Agreement is made by and between Wireless Links Inc, a Pennsylvania corporation '
            '(hereinafter called "WLI"), and Jaguar Investments, Inc. and its affiliates, a Nevada corporation, '
            'having its principal place of business at 10400 Griffin Rd., Suite 101, Ft. Lauderdale, Florida '
            '33328 (hereinafter called "Power2Ship"), and Papa John\'s International, Inc. ("PJI") '
            '(PJI and its affiliates are, collectively, "PAPA JOHN\'S"), and WOMEN.COM NETWORKS, INC., a '
            'Delaware corporation ("Women.com").\n\nWHEREAS, Power2Ship, PAPA JOHN\'S and Women.com agree.')
    reds = anon.redactions(text)
    tail = text.index("WHEREAS")
    found = {r.original for r in reds if r.entity_type == "PARTY" and r.start >= tail}
    assert found >= {"Power2Ship", "PAPA JOHN'S", "Women.com"}
    by_name = {r.original: r.replacement for r in reds}
    assert by_name["Power2Ship"] == by_name["Jaguar Investments, Inc."]
    assert by_name["PJI"] == by_name["PAPA JOHN'S"] == by_name["Papa John's International, Inc."]


def test_signature_lines_vouch_for_people_with_common_words_and_quoted_people(anon):
    text = ('WOMEN.COM NETWORKS, INC.\nBy:  /S/ Bud Ward\nName: Bus Ward\n\nWith a copy to: Nelson LLP, '
            '999 Peachtree Street, Atlanta, Georgia 30309 Attention: Rusty Pickering Facsimile: (404) 817-6050\n'
            'Party A: Didi Chuxing Technology Co., Ltd. Legal Representative: Xianglong Li Party B: Acme Ltd\n'
            'Section 17 is amended such that "Paul Zuzelo" is deleted and replaced with "General Counsel".\n'
            'Name: Authorized Signatory\nAttention: Legal Department\n')
    people = {r.original for r in anon.redactions(text) if r.entity_type == "PERSON"}
    assert people >= {"Bud Ward", "Bus Ward", "Rusty Pickering", "Xianglong Li", "Paul Zuzelo"}
    assert not people & {"Authorized Signatory", "Legal Department", "General Counsel"}


def test_ampersand_company_is_a_firm(anon):
    text = "Charles Webb & Company, a Division of Keefe, Bruyette & Woods, Inc., shall act as agent."
    found = {r.original for r in anon.redactions(text) if r.entity_type == "PARTY"}
    assert "Charles Webb & Company" in found
