import pytest

from lextune.analysis.extract import extract, normalize_jurisdiction
from lextune.analysis.records import Clause


def _clause(kind: str, text: str, offset: int = 100) -> Clause:
    return Clause(type=kind, start=offset, end=offset + len(text), text=text, source="model")


@pytest.mark.parametrize(("text", "expected"), [
    ("This Agreement shall be governed by the laws of the State of New York, without regard to conflicts.",
     "New York"),
    ("THIS AGREEMENT IS GOVERNED BY THE LAWS OF THE STATE OF NEW YORK.", "NEW YORK"),
    ("governed by the laws of Delaware applicable to contracts made there", "Delaware"),
    ("construed under the laws of England and Wales.", "England and Wales"),
    ("the laws of the Commonwealth of Massachusetts shall govern", "Massachusetts"),
    ("New York law shall govern this Agreement.", "New York"),
])
def test_governing_law_jurisdiction(text, expected):
    got = extract(_clause("Governing Law", text))["governing_law"]
    assert got.value == expected and got.by == "rules"
    assert text[got.start - 100:got.end - 100] == got.text  # the span indexes the document


def test_unreadable_jurisdiction_is_absent():
    assert "governing_law" not in extract(_clause("Governing Law", "The parties choose a forum by agreement."))


def test_jurisdiction_normalization():
    assert normalize_jurisdiction("the State of  NEW YORK") == normalize_jurisdiction("New York") == "new york"


@pytest.mark.parametrize(("notice", "days"), [
    ("at least sixty (60) days prior to expiry", 60), ("90 days' prior written notice", 90),
    ("three (3) months before the end of the term", 90), ("thirty days' notice", 30),
])
def test_renewal_notice_days_skip_the_renewal_term(notice, days):
    text = ("This Agreement shall automatically renew for successive one (1) year terms unless a party gives "
            f"notice of non-renewal {notice}.")
    values = extract(_clause("Renewal Term", text))
    assert values["auto_renewal"].value is True
    assert values["renewal_notice_days"].value == days


def test_renewal_by_option_is_not_automatic():
    values = extract(_clause("Renewal Term", "The Customer may renew this Agreement for one year by written "
                                             "notice given thirty (30) days before expiry."))
    assert "auto_renewal" not in values and values["renewal_notice_days"].value == 30


def test_liability_cap_amount():
    values = extract(_clause("Cap on Liability", "liability shall not exceed $1,000,000, in the aggregate"))
    assert values["liability_cap"].value == "$1,000,000"
    assert extract(_clause("Insurance", "insurance of $5,000,000")) == {}
