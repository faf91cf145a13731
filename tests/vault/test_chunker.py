"""Tests for lextune.vault.chunker: structure-aware boundaries and the span invariants on any input."""

from __future__ import annotations

import bisect
import random
import re
import time

import pytest

from lextune.core.records import ChunkSpan
from lextune.vault.chunker import chunk_text, is_heading

# Verbatim excerpt of a real CUAD v1 contract: DRAGONSYSTEMSINC_01_08_1999-EX-10.17-OUTSOURCING AGREEMENT.
CUAD_EXCERPT = (
    "                           OUTSOURCING AGREEMENT\n\n"
    "1.       PURPOSE OF AGREEMENT Formalize the agreements made regarding services and products between "
    "Dragon Systems and MMI.\n\n"
    "2.       SERVICES MMI will produce products for Dragon Systems on a Turnkey basis. Initially, services "
    "will cover 3 products, as per the attached price sheets. However, this may be extended.\n\n"
    "3.       DELIVERY\n\n"
    "MMI shall deliver the Services in line with the agreed service levels to Dragon Systems.\n\n"
    "4.       ACCEPTANCE OF SERVICES\n\n"
    "Dragon Systems may reject the Services if they do not comply with the specification set out by Dragon "
    "\\s\\ JB. The Services are deemed to be accepted if MMI does not receive a notification within 60 days "
    "after delivery to Dragon Systems or its customers.\n"
)

WORDS = ["the", "Licensee", "shall", "pay", "all", "fees", "within", "thirty", "days", "of", "invoice"]
HEADINGS = ["ARTICLE IV GENERAL", "Section 2.1 Fees", "12.3.4", "# Term", "WITNESSETH"]


def check_invariants(text: str, spans: list[ChunkSpan], max_chars: int) -> None:
    """Ordered, disjoint, stripped, non-empty, at most max_chars, and covering all non-whitespace."""
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text), (previous_end, span)
        assert span.end - span.start <= max_chars
        piece = text[span.start : span.end]
        assert piece == piece.strip() and piece
        assert not text[previous_end : span.start].strip(), "non-whitespace text between chunks"
        assert len(span.section) <= 120 and span.section == span.section.strip()
        previous_end = span.end
    assert not text[previous_end:].strip(), "non-whitespace text after the last chunk"


def check_words_not_cut(text: str, spans: list[ChunkSpan], max_chars: int) -> None:
    """A boundary falls inside a word only when that word is longer than max_chars."""
    words = [match.span() for match in re.finditer(r"\S+", text)]
    starts = [start for start, _ in words]
    for span in spans:
        for cut in (span.start, span.end):
            index = bisect.bisect_right(starts, cut) - 1
            if index >= 0 and words[index][0] < cut < words[index][1]:
                word_start, word_end = words[index]
                assert word_end - word_start > max_chars, f"word {text[word_start:word_end]!r} cut at {cut}"


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(3, 30))
    return " ".join(words).capitalize() + rng.choice([".", ".", ";", "?", '."', ""])


def random_document(rng: random.Random) -> str:
    """Legal-looking text plus hostile pieces: odd whitespace, huge words, headings without bodies."""
    parts: list[str] = []
    for _ in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.15:
            parts.append(rng.choice(HEADINGS))
        elif kind < 0.25:
            parts.append(rng.choice(["", " ", "\t", "\u00a0\u2028", "\r", "\n\n\n"]))
        elif kind < 0.3:
            parts.append(rng.choice("x_-=") * rng.randint(1, 4000))
        elif kind < 0.4:
            parts.append(f"({rng.choice('abcd')}) " + sentence(rng))
        else:
            parts.append(" ".join(sentence(rng) for _ in range(rng.randint(1, 40))))
    separators = ["\n", "\n\n", " ", "\r\n\r\n", "\n   \n", "\t"]
    return "".join(part + rng.choice(separators) for part in parts)


@pytest.mark.parametrize(
    "line",
    [
        "ARTICLE IV GOVERNING LAW",
        "Article 4",
        "Section 2.1 Definitions.",
        "SECTION 5.",
        "1.",
        "1. Defined Terms.",
        "1.1 \"Affiliate\" means any entity",
        "12.3.4 Payment",
        "2.       SERVICES MMI will produce products",
        "GOVERNING LAW",
        "WITNESSETH:",
        "# Heading",
        "### 3. Fees",
        "Exhibit A",
    ],
)
def test_headings(line: str) -> None:
    assert is_heading(line)


@pytest.mark.parametrize(
    "line",
    [
        "(a) meet the Agent's performance criteria",
        "(iv) the Licensee",
        "Section 4.2 or 4.3, this Agreement will be in effect",
        "Article did not apply",
        "2020. The parties agree",
        "1.5 times the amount",
        "1",
        "This Agreement is governed by the laws of Delaware.",
        "#hashtag",
        "***",
        "A B",
        "契約書の第一条",
        "",
    ],
)
def test_not_headings(line: str) -> None:
    assert not is_heading(line)


def test_sections_follow_headings() -> None:
    text = (
        "This Agreement is made between A and B.\n\n"
        "ARTICLE I DEFINITIONS\n\n"
        "1.1 \"Affiliate\" means any entity that controls a Party.\n"
        "(a) Control means ownership of more than half of the voting stock.\n\n"
        "GOVERNING LAW\n\nThis Agreement is governed by the laws of Delaware.\n"
    )
    spans = chunk_text(text, max_chars=200, min_chars=0)
    check_invariants(text, spans, 200)
    assert [(text[s.start : s.end].split("\n")[0], s.section) for s in spans] == [
        ("This Agreement is made between A and B.", ""),
        ("ARTICLE I DEFINITIONS", "ARTICLE I DEFINITIONS"),
        ('1.1 "Affiliate" means any entity that controls a Party.',) * 2,
        ("GOVERNING LAW", "GOVERNING LAW"),
    ]
    # "(a)" is not a heading, so the sub-clause stays in the chunk of clause 1.1.
    assert "(a) Control" in text[spans[2].start : spans[2].end]


def test_real_cuad_excerpt() -> None:
    spans = chunk_text(CUAD_EXCERPT, max_chars=300, min_chars=120)
    check_invariants(CUAD_EXCERPT, spans, 300)
    assert [s.section for s in spans] == [
        # The title alone is tiny, so it is merged with clause 1; the label names both (shortened to fit).
        "OUTSOURCING AGREEMENT; 1. PURPOSE OF AGREEMENT Formalize the\u2026",
        # Labels are cut to 120 characters.
        (
            "2.       SERVICES MMI will produce products for Dragon Systems on a Turnkey basis. "
            "Initially, services will cover 3 prod"
        ),
        "3.       DELIVERY",
        "4.       ACCEPTANCE OF SERVICES",
    ]
    assert CUAD_EXCERPT[spans[0].start :].startswith("OUTSOURCING AGREEMENT\n\n1.       PURPOSE")


def test_markdown_headings() -> None:
    text = "# Lease\n\nIntro text.\n\n## Rent\n\nRent is due monthly.\n"
    spans = chunk_text(text, max_chars=100, min_chars=0)
    assert [s.section for s in spans] == ["# Lease", "## Rent"]


def test_long_section_splits_at_paragraph_breaks() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 110 for i in range(6)]
    text = "Section 1 Scope\n\n" + "\n\n".join(p.strip() for p in paragraphs)
    spans = chunk_text(text, max_chars=1500, min_chars=200)
    check_invariants(text, spans, 1500)
    assert len(spans) > 1
    for span in spans:
        assert span.section == "Section 1 Scope"
        assert span.end == len(text) or text[span.end : span.end + 2] == "\n\n"


def test_long_paragraph_splits_at_sentence_ends() -> None:
    text = " ".join(f"Sentence number {i} says the fee is payable in full on time." for i in range(100))
    spans = chunk_text(text, max_chars=500, min_chars=0)
    check_invariants(text, spans, 500)
    assert len(spans) > 1
    assert all(text[s.start : s.end].endswith(".") for s in spans)


def test_no_sentence_ends_splits_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    spans = chunk_text(text, max_chars=300, min_chars=0)
    check_invariants(text, spans, 300)
    assert all(s.end == len(text) or text[s.end] == " " for s in spans)


def test_huge_word_is_cut_hard() -> None:
    text = "Signature: " + "_" * 3500 + " Date"
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    check_invariants(text, spans, 1000)
    assert max(s.end - s.start for s in spans) == 1000


def test_small_sections_are_merged_naming_every_section() -> None:
    text = "ARTICLE I\n\nSection 1.1 Term\n\nTwo years.\n\nARTICLE II\n\nSection 2.1 Fees\n\n" + "Fee. " * 100
    spans = chunk_text(text, max_chars=1000, min_chars=200)
    check_invariants(text, spans, 1000)
    # Until issue 7 a merged chunk kept only its first heading ("ARTICLE I"); now its label names all the
    # sections it covers and its path is the part of their paths they share (none here).
    assert spans[0].section == "ARTICLE I; Section 1.1 Term; ARTICLE II; Section 2.1 Fees"
    assert spans[0].heading_path == []
    assert "Two years." in text[spans[0].start : spans[0].end]
    assert "Fee." in text[spans[0].start : spans[0].end]


def test_section_label_is_truncated() -> None:
    heading = "1.1 " + "Definitions of many things " * 10
    spans = chunk_text(heading + "\nBody.", max_chars=1500)
    assert spans[0].section == heading[:120].rstrip()


@pytest.mark.parametrize("text", ["", "   \n\t\n  "])
def test_blank_text_has_no_chunks(text: str) -> None:
    assert chunk_text(text) == []


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        chunk_text("text", max_chars=0)
    with pytest.raises(ValueError):
        chunk_text("text", min_chars=-1)


@pytest.mark.parametrize("seed", range(100))
def test_invariants_on_random_documents(seed: int) -> None:
    rng = random.Random(seed)
    text = random_document(rng)
    max_chars = rng.choice([5, 50, 200, 1500])
    min_chars = rng.choice([0, 10, 200, 5000])
    spans = chunk_text(text, max_chars=max_chars, min_chars=min_chars)
    check_invariants(text, spans, max_chars)
    check_words_not_cut(text, spans, max_chars)


def test_invariants_on_random_characters() -> None:
    rng = random.Random(7)
    alphabet = "ab .\n\n\t\u00a0\u2029#1(A)IVX"
    for _ in range(300):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 400)))
        max_chars = rng.randint(1, 60)
        spans = chunk_text(text, max_chars=max_chars, min_chars=rng.randint(0, 40))
        check_invariants(text, spans, max_chars)
        check_words_not_cut(text, spans, max_chars)


def test_two_megabytes_is_fast() -> None:
    rng = random.Random(0)
    block = random_document(rng) + "\n\n" + CUAD_EXCERPT
    text = (block * (2_000_000 // len(block) + 1))[:2_000_000]
    started = time.perf_counter()
    spans = chunk_text(text)
    elapsed = time.perf_counter() - started
    check_invariants(text, spans, 1500)
    assert elapsed < 2.0, f"chunking 2 MB took {elapsed:.2f}s"


# --- Structure: heading paths, merged labels, and the kinds of units (issue 7) ---

# A small but complete contract: title, party preamble, recitals, a definitions article, body, signatures
# and an exhibit.
CONTRACT = (
    "LICENSE AGREEMENT\n\n"
    'This License Agreement (the "Agreement") is made as of March 1, 2024 (the "Effective Date") by and '
    'between Acme Software, Inc., a Delaware corporation ("Licensor"), and Beta Retail LLC, a New York '
    'limited liability company ("Licensee"; each a "Party" and together the "Parties").\n\n'
    "RECITALS\n\n"
    "A. Licensor has developed and owns certain inventory-management software and related documentation "
    "that it licenses to retailers in North America.\n\n"
    "B. Licensee operates a chain of retail stores and wishes to use that software in its stores on the "
    "terms of this Agreement.\n\n"
    "NOW, THEREFORE, in consideration of the mutual covenants set out below, the Parties agree as "
    "follows:\n\n"
    "ARTICLE 1\nDEFINITIONS\n\n"
    '1.1 "Licensed Product" means the software described in Exhibit A, including all updates that Licensor '
    "makes generally available to its customers during the Term.\n\n"
    "1.2 \u201cTerritory\u201d shall mean the United States of America and Canada.\n\n"
    '1.3 "Confidential Information" has the meaning given in Section 5.1.\n\n'
    "ARTICLE 2\nGRANT OF LICENSE\n\n"
    "2.1 License. Subject to the terms of this Agreement, Licensor grants to Licensee a non-exclusive, "
    "non-transferable license to use the Licensed Product in the Territory during the Term.\n\n"
    "2.2 Restrictions. Licensee shall not sublicense, sell or distribute the Licensed Product, and shall not "
    "reverse engineer, decompile or disassemble it except to the extent the law allows.\n\n"
    "IN WITNESS WHEREOF, the Parties have executed this Agreement as of the Effective Date.\n\n"
    "ACME SOFTWARE, INC.\n\nBy: ______________________\nName: Jane Roe\nTitle: Chief Executive Officer\n\n"
    "BETA RETAIL LLC\n\nBy: ______________________\nName: John Doe\nTitle: President\n\n"
    "EXHIBIT A\nLICENSED PRODUCT\n\n"
    "The Licensed Product is Acme Inventory Manager version 5, with its user manual and installation guide.\n"
)


def first_lines(text: str, spans: list[ChunkSpan]) -> list[str]:
    return [text[s.start : s.end].split("\n")[0] for s in spans]


def test_article_section_subsection_paths() -> None:
    text = (
        "ARTICLE 12 INDEMNIFICATION\n\n12.1 General. Each Party shall indemnify the other.\n\n"
        "12.3 Indemnification by Licensee\n\nLicensee shall indemnify Licensor.\n\n"
        "12.3.1 Procedure\n\nNotice must be prompt.\n\n"
        "12.4 Insurance\n\nLicensee shall insure.\n\n"
        "ARTICLE 13 TERM\n\n13.1 Term. Two years.\n"
    )
    spans = chunk_text(text, max_chars=500, min_chars=0)
    check_invariants(text, spans, 500)
    assert [s.heading_path for s in spans] == [
        ["ARTICLE 12 INDEMNIFICATION"],
        ["ARTICLE 12 INDEMNIFICATION", "12.1 General. Each Party shall indemnify the other."],
        ["ARTICLE 12 INDEMNIFICATION", "12.3 Indemnification by Licensee"],
        ["ARTICLE 12 INDEMNIFICATION", "12.3 Indemnification by Licensee", "12.3.1 Procedure"],
        ["ARTICLE 12 INDEMNIFICATION", "12.4 Insurance"],  # 12.4 pops 12.3.1 and 12.3
        ["ARTICLE 13 TERM"],  # a new article pops every section of the last one
        ["ARTICLE 13 TERM", "13.1 Term. Two years."],
    ]
    assert all(s.section == s.heading_path[-1] for s in spans)
    assert all(s.kind == "body" for s in spans)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("Section 5 Payment\n\nDue monthly.\n\n5.1 Fees\n\nFees are due.", ["Section 5 Payment", "5.1 Fees"]),
        ("Article XII\n\nIntro.\n\n12.1 Scope\n\nText.", ["Article XII", "12.1 Scope"]),
        ("PAYMENT TERMS\n\nIntro.\n\n1. Fees\n\nText.", ["PAYMENT TERMS", "1. Fees"]),
        ("II. GRANT\n\nIntro.\n\n2.1 License\n\nText.", ["II. GRANT", "2.1 License"]),
        ("# Lease\n\nIntro.\n\n## Rent\n\nText.\n\n### Late fees\n\nMore.",
         ["# Lease", "## Rent", "### Late fees"]),
        ("# Lease\n\n## Rent\n\n### Late fees\n\nMore.\n\n## Deposit\n\nText.", ["# Lease", "## Deposit"]),
        # "2.1" cannot belong to ARTICLE I: the ARTICLE II line was lost, so ARTICLE I is closed.
        ("ARTICLE I\n\n1.1 Term\n\nText.\n\n2.1 Fees\n\nText.", ["2.1 Fees"]),
        # A bare article number takes its title from the next line.
        ("ARTICLE I\nDEFINITIONS\n\n1.1 Scope\n\nText.", ["ARTICLE I DEFINITIONS", "1.1 Scope"]),
        ("Article 4\n\nLimitation of Liability\n\n4.1 Cap\n\nText.",
         ["Article 4 Limitation of Liability", "4.1 Cap"]),
    ],
)
def test_heading_levels(text: str, path: list[str]) -> None:
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    check_invariants(text, spans, 1000)
    assert spans[-1].heading_path == path


def test_merged_chunk_names_all_its_sections_and_keeps_the_shared_path() -> None:
    text = (
        "ARTICLE 12 INDEMNIFICATION\n\n12.3 Indemnification\n\nLicensee shall indemnify Licensor.\n\n"
        "12.4 Insurance\n\nLicensee shall insure.\n"
    )
    spans = chunk_text(text, max_chars=1000, min_chars=500)
    assert len(spans) == 1
    assert spans[0].section == "12.3 Indemnification; 12.4 Insurance"
    assert spans[0].heading_path == ["ARTICLE 12 INDEMNIFICATION"]


def test_merged_parent_heading_is_named_by_the_path() -> None:
    text = "ARTICLE 12\n\n12.1 Scope\n\nLicensee shall indemnify Licensor.\n\n" + "Word. " * 60
    spans = chunk_text(text, max_chars=1000, min_chars=100)
    assert spans[0].section == "12.1 Scope"
    assert spans[0].heading_path == ["ARTICLE 12", "12.1 Scope"]


def test_label_of_many_merged_sections_stays_short_and_names_first_and_last() -> None:
    text = "".join(f"{i}. CLAUSE NUMBER {i} WITH A LONG TITLE\n\nShort.\n\n" for i in range(1, 13))
    spans = chunk_text(text, max_chars=5000, min_chars=5000)
    assert len(spans) == 1
    label = spans[0].section
    assert len(label) <= 120 and label.startswith("1. CLAUSE NUMBER 1") and "12. CLAUSE" in label
    assert "(12 sections)" in label


def test_contract_units_have_their_kinds() -> None:
    spans = chunk_text(CONTRACT, max_chars=600, min_chars=0)
    check_invariants(CONTRACT, spans, 600)
    expected = [
        ("preamble", "LICENSE AGREEMENT"),
        ("recital", "RECITALS"),
        ("recital", "A. Licensor has developed"),
        ("recital", "B. Licensee operates"),
        ("recital", "NOW, THEREFORE, in consideration"),
        ("definition", "ARTICLE 1"),
        ("definition", '1.1 "Licensed Product" means'),
        ("definition", "1.2 \u201cTerritory\u201d shall mean"),
        ("definition", '1.3 "Confidential Information" has the meaning'),
        ("body", "ARTICLE 2"),
        ("body", "2.1 License."),
        ("body", "2.2 Restrictions."),
        ("signature", "IN WITNESS WHEREOF"),
        ("body", "EXHIBIT A"),
    ]
    assert [s.kind for s in spans] == [kind for kind, _ in expected]
    for line, (_, prefix) in zip(first_lines(CONTRACT, spans), expected, strict=True):
        assert line.startswith(prefix)
    preamble, signature, exhibit = spans[0], spans[-2], spans[-1]
    assert "by and between Acme Software, Inc." in CONTRACT[preamble.start : preamble.end]
    assert preamble.heading_path == ["LICENSE AGREEMENT"]
    assert spans[1].heading_path == ["RECITALS"]
    assert spans[6].heading_path[0] == "ARTICLE 1 DEFINITIONS"
    assert CONTRACT[signature.start : signature.end].endswith("Title: President")
    assert signature.heading_path == [] and signature.section == ""
    assert exhibit.heading_path == ["EXHIBIT A LICENSED PRODUCT"]


def test_small_pieces_never_merge_across_kinds() -> None:
    spans = chunk_text(CONTRACT, max_chars=5000, min_chars=5000)
    check_invariants(CONTRACT, spans, 5000)
    # Everything is "small", so each run of one kind becomes one chunk, and no chunk mixes kinds.
    assert [s.kind for s in spans] == ["preamble", "recital", "definition", "body", "signature", "body"]
    definitions = spans[2]
    assert CONTRACT[definitions.start : definitions.end].startswith("ARTICLE 1\nDEFINITIONS")
    assert CONTRACT[definitions.end :].lstrip().startswith("ARTICLE 2")


def test_whereas_clauses_are_one_recital_each_unless_tiny() -> None:
    text = (
        "This Supply Agreement is entered into between Alpha Corp. and Beta Inc.\n\n"
        "WHEREAS, Alpha manufactures industrial pumps and sells them through distributors worldwide; and\n\n"
        "WHEREAS, Beta wishes to buy pumps from Alpha for resale in its own territory;\n\n"
        "NOW, THEREFORE, the parties agree as follows:\n\n1. Supply\n\nAlpha shall supply pumps.\n"
    )
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    assert [s.kind for s in spans] == ["preamble", "recital", "recital", "recital", "body"]
    grouped = chunk_text(text, max_chars=1000, min_chars=300)
    assert [s.kind for s in grouped] == ["preamble", "recital", "body"]


def test_definitions_outside_a_definitions_section() -> None:
    text = (
        "5. ROYALTIES\n\n"
        "Licensee shall pay royalties on Net Sales every quarter, within thirty days of its end.\n\n"
        '"Net Sales" means gross receipts less returns, taxes and shipping charges.\n\n'
        "Royalties are paid in U.S. dollars to the account Licensor names.\n"
    )
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    assert [s.kind for s in spans] == ["body", "definition", "body"]
    assert all(s.heading_path == ["5. ROYALTIES"] for s in spans)


def test_definitions_chained_in_one_line_are_units_of_their_own() -> None:
    text = (
        "1. Definitions In this agreement unless the context otherwise requires: "
        '"Agreement" means this agreement; "Party" means Acme or Beta; and "Term" means two years.\n\n'
        "2. Term. This Agreement lasts for the Term.\n"
    )
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    pieces = [text[s.start : s.end] for s in spans]
    assert pieces[1:4] == ['"Agreement" means this agreement;', '"Party" means Acme or Beta; and',
                           '"Term" means two years.']
    assert [s.kind for s in spans] == ["definition"] * 4 + ["body"]


def test_signature_block_found_by_its_fields() -> None:
    text = (
        "9. Notices. Notices go to the addresses above.\n\n"
        "Agreed and accepted:\n\nACME CORP.\n\nBy: /s/ Jane Roe\nName: Jane Roe\nTitle: CEO\n\n"
        "SCHEDULE 1\n\nPrices are listed below.\n"
    )
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    assert [s.kind for s in spans] == ["body", "signature", "body"]
    assert text[spans[1].start : spans[1].end].startswith("Agreed and accepted:")
    assert text[spans[1].start : spans[1].end].endswith("Title: CEO")
    assert spans[2].heading_path == ["SCHEDULE 1"]


def test_running_page_header_is_not_a_heading() -> None:
    page = "CONFIDENTIAL\n\n"
    text = f"1. Scope\n\n{page}Text one.\n\n{page}Text two.\n\n{page}2. Fees\n\nText three.\n"
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    assert [s.section for s in spans] == ["1. Scope", "2. Fees"]


def test_memo_without_parties_has_no_preamble() -> None:
    text = "To: The Board\nFrom: Counsel\n\nBACKGROUND\n\nThe client asked us to review the lease.\n"
    spans = chunk_text(text, max_chars=1000, min_chars=0)
    assert [(s.kind, s.section) for s in spans] == [("body", ""), ("body", "BACKGROUND")]


def test_real_cuad_contracts_keep_the_span_invariants() -> None:
    from conftest import sample_squad

    contracts = [d["paragraphs"][0]["context"] for d in sample_squad()["data"]]
    kinds: set[str] = set()
    for text in contracts:
        for max_chars, min_chars in ((1500, 200), (400, 0)):
            spans = chunk_text(text, max_chars=max_chars, min_chars=min_chars)
            check_invariants(text, spans, max_chars)
            check_words_not_cut(text, spans, max_chars)
            for span in spans:
                assert all(0 < len(label) <= 120 for label in span.heading_path)
            kinds.update(s.kind for s in spans)
    assert kinds == {"preamble", "recital", "definition", "signature", "body"}


@pytest.mark.parametrize(
    "text",
    [
        "This Agreement is made between A and B " + "x" * 300_000,
        "This Agreement is made between A and B. " + " " * 300_000 + "Z.",
        "1. DEFINITIONS\n\n" + '"A" means x; ' * 20_000,
        "WHEREAS, a; " * 20_000,
        "By: x\nName: y\n" * 20_000,
        ("ARTICLE I\n" * 5 + "1.1 x\n") * 5_000,
    ],
)
def test_hostile_structure_is_fast(text: str) -> None:
    started = time.perf_counter()
    spans = chunk_text(text)
    assert time.perf_counter() - started < 2.0
    check_invariants(text, spans, 1500)
