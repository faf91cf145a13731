"""The non-blank lines of a legal document, and which of them are headings and at what rank.

A heading is an article/section keyword, a clause number, a short ALL-CAPS line or a Markdown '#'.
Its rank (smaller is outer) lets structure.py nest sections: "Section 5" holds "5.1".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longest line still taken as an ALL-CAPS heading; longer capitalised lines are body text.
_MAX_CAPS_HEADING = 80

# What may follow a heading's number: the end of the line, or a title, punctuation or quote, but not a
# lower-case word or a comma, which mark a wrapped sentence such as "Section 4.2 or 4.3, this ...".
_HEADING_TAIL = r"(?=[^\S\n]*$|[^\S\n]*[^\sa-z,;])"
# Only the keyword ignores case: with IGNORECASE, "[IVXLCDM]+" would also match words like "did".
_KEYWORD_HEADING = re.compile(
    r"(?i:ARTICLE|SECTION|SCHEDULE|EXHIBIT|ANNEX|APPENDIX|PART)\s+"
    r"(?>\d+(?:\.\d+)*|[IVXLCDM]+|[A-Z])(?![\w-])" + _HEADING_TAIL
)
# "1." / "1.1" / "12.3.4" / "1.1." at line start. At most three digits per part, so a wrapped line
# starting with a year ("2020. The ...") is not a heading.
_NUMBERED_HEADING = re.compile(r"\d{1,3}(?:(?:\.\d{1,3})+\.?|\.)(?=\s|$)" + _HEADING_TAIL)
_MARKDOWN_HEADING = re.compile(r"#{1,6}\s+\S")
_NONBLANK_LINE = re.compile(r"^[^\S\n]*(\S.*)$", re.MULTILINE)

# Heading ranks, smaller is outer. An attachment starts a document of its own; unnumbered ALL-CAPS
# headings rank with articles (in contracts they title groups of numbered clauses); a numbered heading
# ranks by the depth of its number, so "Section 5" (31) holds "5.1" (32); Markdown ranks by its '#'s.
_RANK = {"SCHEDULE": 0, "EXHIBIT": 0, "ANNEX": 0, "APPENDIX": 0, "PART": 10, "ARTICLE": 20}
_RANK_CAPS = 20
_RANK_NUMBERED = 30
_LETTERED = re.compile(r"([IVXLC]{1,6}|[A-Z])[.)]\s")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
STRUCTURAL = ("md", "num", "kw")  # heading styles that always open the body; "attach"/"caps" may be titles
_PUNCTUATION = " .:-\u2013\u2014"
_TITLE_WORD = re.compile(r"[A-Za-z]{4,}")


def is_heading(line: str) -> bool:
    """Whether a (stripped) line opens a section: article/section keyword, clause number, caps or '#'."""
    if not line:
        return False
    first = line[0]
    if first == "#":
        return _MARKDOWN_HEADING.match(line) is not None
    if first.isdigit():
        return _NUMBERED_HEADING.match(line) is not None
    if _KEYWORD_HEADING.match(line) is not None:
        return True
    # Short lines with no lower-case letters ("GOVERNING LAW", "WITNESSETH"); caseless scripts never qualify.
    return len(line) <= _MAX_CAPS_HEADING and line.upper() == line and sum(c.isupper() for c in line) >= 3


def _heading_style(line: str) -> tuple[int, str, bool, tuple[int, ...]]:
    """(rank, style, bare, number) of a heading line; bare: only a number, its title may follow below."""
    if line[0] == "#":
        return len(line) - len(line.lstrip("#")), "md", False, ()
    if line[0].isdigit():
        match = _NUMBERED_HEADING.match(line)
        assert match is not None
        number = _number(match.group())
        return _RANK_NUMBERED + len(number), "num", not line[match.end():].strip(_PUNCTUATION), number
    match = _KEYWORD_HEADING.match(line)
    if match is None:
        lettered = _LETTERED.match(line)
        # "II. GRANT OF LICENSE" is numbered like "2.", not a group title like "GRANT OF LICENSE".
        if lettered is not None:
            return _RANK_NUMBERED + 1, "num", False, _number(lettered.group(1))
        return _RANK_CAPS, "caps", False, ()
    keyword, token = line.split(None, 2)[:2]
    keyword = keyword.upper()
    number = _number(token)
    bare = not line[match.end():].strip(_PUNCTUATION)
    if keyword == "SECTION":
        return _RANK_NUMBERED + max(1, len(number)), "kw", bare, number
    if _RANK[keyword] == 0:
        return 0, "attach", bare, ()  # an attachment numbers its clauses afresh
    return _RANK[keyword], "kw", bare, number


def _number(token: str) -> tuple[int, ...]:
    """(12, 3) for "12.3."; (4,) for "IV"; () for a letter or anything else."""
    token = token.rstrip(".)")
    if token[:1].isdigit():
        return tuple(int(part) for part in token.split(".") if part.isdigit())
    value = 0
    for i, numeral in enumerate(token):
        digit = _ROMAN.get(numeral)
        if digit is None:
            return ()
        following = _ROMAN.get(token[i + 1]) if i + 1 < len(token) else 0
        value += -digit if following and following > digit else digit
    return (value,) if value and token not in ("C", "D", "L", "M") else ()


@dataclass(slots=True)
class Line:
    start: int
    end: int
    text: str
    paragraph: bool  # a blank line (or the start of the text) comes before it
    rank: int | None  # None: not a heading
    style: str = ""
    bare: bool = False
    number: tuple[int, ...] = ()  # "ARTICLE XII" (12,), "12.3" (12, 3); () when unnumbered


def read_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    previous_end = 0
    for match in _NONBLANK_LINE.finditer(text):
        line = match.group(1).rstrip()
        start = match.start(1)
        paragraph = not lines or text.count("\n", previous_end, start) >= 2
        previous_end = start + len(line)
        if is_heading(line):
            lines.append(Line(start, previous_end, line, paragraph, *_heading_style(line)))
        else:
            lines.append(Line(start, previous_end, line, paragraph, None))
    return lines


def is_title(line: Line) -> bool:
    """A heading's title on its own line: "DEFINITIONS" under "ARTICLE I", or a short Title Case line."""
    if line.rank is not None:
        return line.style == "caps"
    text = line.text
    # A final period is allowed only in caps titles: "Intro." is more likely a sentence than a title.
    if len(text) > _MAX_CAPS_HEADING or not text[0].isupper() or any(c in text for c in ".;:"):
        return False
    return all(word[0].isupper() for word in _TITLE_WORD.findall(text))
