"""Split a legal document into chunks along its structure: articles, sections, numbered clauses.

Chunks are character spans of the original text (never copies), so every chunk, training row and
retrieved passage can be traced back to the exact place in its document.
"""

from __future__ import annotations

import math
import re

from lextune.core.records import ChunkSpan

MAX_SECTION_LABEL = 120
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

# Places a too-long section may be cut, from most to least preferred; a cut is the end of a match.
_SPLIT_LEVELS = (
    re.compile(r"\n[^\S\n]*\n\s*"),  # paragraph break (blank line)
    re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+"),  # sentence end
    re.compile(r"\n\s*"),  # line break
    re.compile(r"\s+"),  # word boundary
)


def chunk_text(text: str, max_chars: int = 1500, min_chars: int = 200) -> list[ChunkSpan]:
    """Chunk `text` at headings, then paragraphs, sentences and words; each chunk is at most max_chars.

    Spans are ordered, disjoint, stripped of surrounding whitespace and cover all non-whitespace text.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if min_chars < 0:
        raise ValueError(f"min_chars must be non-negative, got {min_chars}")
    pieces: list[tuple[int, int, str]] = []
    for start, end, label in _sections(text):
        pieces.extend((s, e, label) for s, e in _split(text, start, end, max_chars, 0))
    merged = _merge_small(pieces, max_chars, min_chars)
    return [ChunkSpan(start=start, end=end, section=label) for start, end, label in merged]


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


def _sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading) regions that tile the text; a region runs from one heading line to the next."""
    sections: list[tuple[int, int, str]] = []
    region_start, label = 0, ""
    for match in _NONBLANK_LINE.finditer(text):
        line = match.group(1).strip()
        if is_heading(line):
            heading_start = match.start(1)
            if heading_start > region_start:
                sections.append((region_start, heading_start, label))
            region_start, label = heading_start, line[:MAX_SECTION_LABEL].rstrip()
    sections.append((region_start, len(text), label))
    return sections


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow [start, end) so that it neither starts nor ends with whitespace (as str.strip sees it)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split(text: str, start: int, end: int, max_chars: int, level: int) -> list[tuple[int, int]]:
    """Stripped spans of at most max_chars covering the non-whitespace of text[start:end]."""
    start, end = _strip(text, start, end)
    if start >= end:
        return []
    if end - start <= max_chars:
        return [(start, end)]
    if level == len(_SPLIT_LEVELS):
        # A single "word" longer than max_chars (e.g. a run of underscores): no choice but a hard cut.
        return [(cut, min(cut + max_chars, end)) for cut in range(start, end, max_chars)]
    cuts = [m.end() for m in _SPLIT_LEVELS[level].finditer(text, start, end) if start < m.end() < end]
    units = list(zip([start, *cuts], [*cuts, end], strict=True))
    # Aim for equal-sized chunks rather than full ones followed by a small remainder.
    target = (end - start) / math.ceil((end - start) / max_chars)
    spans: list[tuple[int, int]] = []
    piece_start: int | None = None
    piece_end = start
    for unit_start, unit_end in units:
        unit_start, unit_end = _strip(text, unit_start, unit_end)
        if unit_start >= unit_end:
            continue
        if unit_end - unit_start > max_chars:
            if piece_start is not None and level + 1 == len(_SPLIT_LEVELS):
                # The next level cuts hard: give it the oversized word alone, so no other word is cut.
                spans.append((piece_start, piece_end))
                piece_start = None
            # Otherwise split the unit finer together with the pending piece, so that a short lead-in
            # such as a clause heading stays with the text it introduces.
            region_start = unit_start if piece_start is None else piece_start
            spans.extend(_split(text, region_start, unit_end, max_chars, level + 1))
            piece_start = None
            continue
        if piece_start is not None and unit_end - piece_start > max_chars:
            spans.append((piece_start, piece_end))
            piece_start = None
        if piece_start is None:
            piece_start = unit_start
        piece_end = unit_end
        if piece_end - piece_start >= target:
            spans.append((piece_start, piece_end))
            piece_start = None
    if piece_start is not None:
        spans.append((piece_start, piece_end))
    return spans


def _merge_small(
    pieces: list[tuple[int, int, str]], max_chars: int, min_chars: int
) -> list[tuple[int, int, str]]:
    """Join a chunk shorter than min_chars with the next one while the result fits in max_chars.

    The joined chunk keeps the first chunk's section: that is where it starts.
    """
    merged: list[tuple[int, int, str]] = []
    for start, end, label in pieces:
        if merged:
            prev_start, prev_end, prev_label = merged[-1]
            if prev_end - prev_start < min_chars and end - prev_start <= max_chars:
                merged[-1] = (prev_start, end, prev_label)
                continue
        merged.append((start, end, label))
    return merged
