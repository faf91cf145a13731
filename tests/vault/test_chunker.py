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
        "OUTSOURCING AGREEMENT",  # the title alone is tiny, so it is merged with clause 1
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


def test_small_sections_are_merged_keeping_first_heading() -> None:
    text = "ARTICLE I\n\nSection 1.1 Term\n\nTwo years.\n\nARTICLE II\n\nSection 2.1 Fees\n\n" + "Fee. " * 100
    spans = chunk_text(text, max_chars=1000, min_chars=200)
    check_invariants(text, spans, 1000)
    assert spans[0].section == "ARTICLE I"
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
