"""The defined terms of a legal document, with the spans of each term and of its definition.

Three forms are recognized, with straight or curly quotes:
- `"Licensed Product" means ...` (also "shall mean", "has the meaning", "refers to", "includes");
- a parenthetical alias after a name: `Acme Corp., a Delaware corporation ("Acme")`, `(the "Agreement")`,
  `(hereinafter "Distributor")`, `(each a "Party" and together the "Parties")`;
- `... are hereinafter called the "Airspan Products"` / `referred to as "Equipment"`.
The chunker asks this module too where definitions start (`opens_definition`, `chained_definitions`,
`is_definitions_heading`), so both agree on what a definition is. Every pattern is bounded or possessive:
the scan stays linear in the text's length.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from lextune.core.records import DefinedTerm

# A term in quotes: starts with a letter or digit, at most 80 characters, on one line. The class excludes
# every quote, so each attempt stops at the next quote: the scan stays linear.
QUOTED_TERM = r"[\"\u201c](?P<term>[^\W_][^\"\u201c\u201d\n]{0,79})[\"\u201d]"
_MEANS_VERB = (
    r"[^\S\n]*+(?:,[^\S\n]*+)?(?i:(?:shall|will|does|is\s+to)\s+)?"
    r"(?i:means?|ha(?:s|ve)\s+the\s+meanings?|refers?\s+to|includes?|(?:is|are)\s+defined\s+as)\b"
)
# `"Term" means`: where a definition starts (the chunker asks through opens_definition, chained_definitions).
MEANS_DEFINITION = re.compile(QUOTED_TERM + _MEANS_VERB)

_QUOTED = re.compile(QUOTED_TERM)
_MEANS_AFTER = re.compile(_MEANS_VERB)
# `"Business Day": a day ...`, only where the term opens its line (after an optional clause number).
_COLON_AFTER = re.compile(r"[^\S\n]*:[^\S\n]")
_LINE_START_PREFIX = re.compile(r"[^\S\n]*+(?:\d+(?:\.\d+)*\.?|\(?[A-Za-z0-9]{1,4}[.)])?[^\S\n]*+")
# Terms grouped before one verb: `"Affiliate" or "Affiliates" means`.
_GROUP_GLUE = re.compile(r"[^\S\n]*+(?:,|and/or|and|or)?[^\S\n]*+")
# What may precede a term inside its parenthetical: articles, "hereinafter referred to as", earlier terms.
_ALIAS_LEAD = re.compile(
    r"(?:[\s,;]|[\"\u201c][^\"\u201c\u201d\n]{1,80}[\"\u201d]|(?i:\b(?:the|a|an|each|collectively|together|"
    r"individually|jointly|severally|hereinafter|hereafter|herein|referred|to|as|called|also|known|being|"
    r"and|or|its|their|such|any|all|respectively|sometimes|both|either|singly|separately)\b))*+"
)
_CALLED_BEFORE = re.compile(
    r"(?i:\b(?:referred\s+to|called|known|designated|defined)(?:\s+(?:herein|hereinafter|hereafter|"
    r"collectively|individually|separately|jointly|together|sometimes|below))*\s+as|\bcalled|"
    r"\bhereinafter)\s+(?i:(?:the|a|an)\s+)?$"
)
# Where the phrase an alias names begins: a clause boundary or a connective such as "between" or "and".
# A period counts only after a lower-case word ("Inc." and initials do not end a phrase).
_PHRASE_BOUNDARY = re.compile(r"[;:()\[\]\n]|\b(?i:between|among|and|with)\b|(?<=[a-z]{3})(?<!Corp)\.\s")
# A definition's paragraph ends at a blank line or at a line that opens a numbered clause ("1.2 ...").
_PARAGRAPH_END = re.compile(r"\n[^\S\n]*\n|\n(?=[^\S\n]*\d{1,3}(?:\.\d{1,3})*\.?\s)")
_ENUMERATOR_BEFORE = re.compile(r"(?:^|\s)(\(?[A-Za-z0-9]{1,3}[.)])\s*$")
_CONJUNCTIONS = (" and", " or", ",and", ",or", "\nand", "\nor")
_ENUMERATOR = re.compile(r"(?:\d+(?:\.\d+)*\.?|\(?[A-Za-z0-9]{1,4}[.)])\s*")
_CHAIN_BEFORE = re.compile(r"[;.:]\s+(?:(?:and|or)\s+)?$")
_DEFINITIONS_HEADING = re.compile(
    r"(?:#+\s*)?(?:(?i:article|section|part)\s+\S+\s*|\d+(?:\.\d+)*\.?\s*|[A-Z]\.\s*)?[\W_]*"
    r"(?i:(?:certain\s+)?definitions?|defined\s+terms|interpretation)\b"
)
_MAX_ALIAS_LEAD = 150
_MAX_PHRASE = 200
_MAX_DEFINITION = 2000


def opens_definition(line: str) -> bool:
    """Whether a line opens with `"Term" means`, after at most a clause number and a few words."""
    if '"' not in line[:120] and "\u201c" not in line[:120]:
        return False
    match = MEANS_DEFINITION.search(line, 0, 160)
    if match is None or match.start() > 40:
        return False
    prefix = line[: match.start()]
    enumerator = _ENUMERATOR.match(prefix)
    return not any(c in prefix[enumerator.end() if enumerator else 0 :] for c in ".;:!?")


def chained_definitions(line: str, position: int) -> Iterator[int]:
    """Offsets of `"Term" means` definitions that follow another in the same line (`...; "B" means`)."""
    for match in MEANS_DEFINITION.finditer(line, position):
        if _CHAIN_BEFORE.search(line, max(0, match.start() - 12), match.start()):
            yield match.start()


def is_definitions_heading(heading: str) -> bool:
    """Whether a heading opens a definitions section: "1. DEFINITIONS", "Article 1 Defined Terms"."""
    return _DEFINITIONS_HEADING.match(heading) is not None


def extract_defined_terms(text: str) -> list[DefinedTerm]:
    """Terms the text defines, in order of first definition; a term defined twice keeps its first one."""
    means: list[tuple[int, int, int]] = []  # (term start, term end, definition start) per `"X" means`
    aliases: list[tuple[int, int, int, int]] = []
    # Quoted terms joined by "and"/"or" that await their verb: (term start, term end, quote start, quote end).
    group: list[tuple[int, int, int, int]] = []
    for match in _QUOTED.finditer(text):
        term_start, term_end = _trim(text, match.start("term"), match.end("term"))
        quote_start, quote_end = match.start(), match.end()
        if group and not _GROUP_GLUE.fullmatch(text, group[-1][3], quote_start):
            group = []
        group.append((term_start, term_end, quote_start, quote_end))
        if _MEANS_AFTER.match(text, quote_end) or (
            _COLON_AFTER.match(text, quote_end) and _opens_line(text, group[0][2])
        ):
            # The definition starts at the first term's opening quote.
            means.extend((start, end, group[0][2]) for start, end, _, _ in group)
            group = []
            continue
        alias = _alias_span(text, quote_start, quote_end)
        if alias is not None:
            aliases.append((term_start, term_end, *alias))
    found = [*_means_spans(text, means), *aliases]
    found.sort()
    terms: list[DefinedTerm] = []
    seen: set[str] = set()
    for term_start, term_end, definition_start, definition_end in found:
        term = text[term_start:term_end]
        if term in seen or not any(c.isalpha() for c in term):
            continue
        seen.add(term)
        terms.append(DefinedTerm(term=term, start=term_start, end=term_end,
                                 definition_start=definition_start, definition_end=definition_end))
    return terms


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop punctuation and spaces before the closing quote: `"Equipment,"` defines "Equipment"."""
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",.;:"):
        end -= 1
    return start, end


def _opens_line(text: str, quote_start: int) -> bool:
    line_start = text.rfind("\n", 0, quote_start) + 1
    return _LINE_START_PREFIX.fullmatch(text, line_start, quote_start) is not None


def _means_spans(text: str, means: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """A `means` definition runs to the next one, the end of its paragraph, or a sentence end near 2,000."""
    blanks = [m.start() for m in _PARAGRAPH_END.finditer(text)]
    # The next definition ends this one where its line begins when it opens the line ("1.2 "X" means"),
    # else where its clause letter begins ("... clubs.  C."TERRITORY" shall mean").
    starts = sorted({_unit_start(text, start) for _, _, start in means})
    spans = []
    for term_start, term_end, definition_start in means:
        end = len(text)
        following = bisect.bisect_right(starts, definition_start)
        if following < len(starts):
            end = starts[following]
        blank = bisect.bisect_right(blanks, definition_start)
        if blank < len(blanks):
            end = min(end, blanks[blank])
        if end - definition_start > _MAX_DEFINITION:
            sentence_end = text.rfind(". ", definition_start, definition_start + _MAX_DEFINITION)
            end = sentence_end + 1 if sentence_end > term_end else definition_start + _MAX_DEFINITION
        length = _trimmed_length(text[definition_start:end])
        spans.append((term_start, term_end, definition_start, definition_start + length))
    return spans


def _unit_start(text: str, quote_start: int) -> int:
    if _opens_line(text, quote_start):
        return text.rfind("\n", 0, quote_start) + 1
    enumerator = _ENUMERATOR_BEFORE.search(text, max(0, quote_start - 8), quote_start)
    return enumerator.start(1) if enumerator else quote_start


def _trimmed_length(piece: str) -> int:
    """Length of a definition without the "and"/"or" that joins it to the next one (`... x; and`)."""
    piece = piece.rstrip()
    while piece.endswith(_CONJUNCTIONS):
        piece = piece[: -3 if piece.endswith("and") else -2].rstrip(" \t\r\n,")
    return len(piece)


def _alias_span(text: str, quote_start: int, quote_end: int) -> tuple[int, int] | None:
    """The span an alias names, from the start of the named phrase to the closing parenthesis."""
    open_paren = text.rfind("(", max(0, quote_start - _MAX_ALIAS_LEAD), quote_start)
    if (
        open_paren >= 0
        and text.find(")", open_paren, quote_start) < 0
        and _ALIAS_LEAD.fullmatch(text, open_paren + 1, quote_start)
    ):
        close = text.find(")", quote_end, quote_end + _MAX_ALIAS_LEAD)
        if close < 0 or 0 <= text.find("(", quote_end, close) or "\n" in text[quote_end:close]:
            close = quote_end - 1  # no closing parenthesis nearby: the alias ends with its term
        return _phrase_start(text, open_paren), close + 1
    if _CALLED_BEFORE.search(text, max(0, quote_start - 80), quote_start):
        return _phrase_start(text, quote_start), quote_end
    return None


def _phrase_start(text: str, before: int) -> int:
    """Start of the name or noun phrase that ends at `before`: after its last boundary, <= 200 chars back."""
    low = max(0, before - _MAX_PHRASE)
    start = low
    for match in _PHRASE_BOUNDARY.finditer(text, low, before):
        start = match.end()
    if start == low and low > 0 and not text[low - 1].isspace():
        # The window cut a word: begin at the next whole word instead.
        space = re.compile(r"\s").search(text, low, before)
        start = space.end() if space else before
    while start < before and (text[start].isspace() or text[start] in ",;"):
        start += 1
    end = before
    while end > start and (text[end - 1].isspace() or text[end - 1] == ","):
        end -= 1
    return start if end > start else before
