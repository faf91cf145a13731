"""Split a legal document into chunks along its structure: articles, sections, numbered clauses.

Chunks are character spans of the original text (never copies), so every chunk, training row and
retrieved passage can be traced back to the exact place in its document. Each chunk also names its
heading path (outermost heading first) and its kind: the preamble that names the parties, a recital,
a definition, the signature block, or body text. Small pieces merge only with pieces of the same kind.
The structure itself (headings, kinds) is found in structure.py; this module cuts and merges its units.
"""

from __future__ import annotations

import math
import re

from lextune.core.records import ChunkKind, ChunkSpan
from lextune.vault.headings import is_heading
from lextune.vault.structure import MAX_SECTION_LABEL, Structure

__all__ = ["MAX_SECTION_LABEL", "chunk_text", "is_heading"]

# Places a too-long section may be cut, from most to least preferred; a cut is the end of a match.
_SPLIT_LEVELS = (
    re.compile(r"\n[^\S\n]*\n\s*"),  # paragraph break (blank line)
    re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+"),  # sentence end
    re.compile(r"\n\s*"),  # line break
    re.compile(r"\s+"),  # word boundary
)


def chunk_text(text: str, max_chars: int = 1500, min_chars: int = 200) -> list[ChunkSpan]:
    """Chunk `text` at headings and structural units, then paragraphs, sentences and words.

    Spans are ordered, disjoint, stripped of surrounding whitespace, at most max_chars long and cover all
    non-whitespace text. A chunk shorter than min_chars merges with the next one of the same kind.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if min_chars < 0:
        raise ValueError(f"min_chars must be non-negative, got {min_chars}")
    structure = Structure(text)
    pieces: list[tuple[int, int, ChunkKind, int]] = []
    for start, end, kind, section in structure.units():
        pieces.extend((s, e, kind, section) for s, e in _split(text, start, end, max_chars, 0))
    chunks: list[ChunkSpan] = []
    for start, end, kind, sections in _merge_small(pieces, max_chars, min_chars):
        label, path = structure.label(sections)
        chunks.append(ChunkSpan(start=start, end=end, section=label, heading_path=path, kind=kind))
    return chunks


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
    pieces: list[tuple[int, int, ChunkKind, int]], max_chars: int, min_chars: int
) -> list[tuple[int, int, ChunkKind, list[int]]]:
    """Join a chunk shorter than min_chars with the next one of the same kind while it fits in max_chars.

    A joined chunk remembers every section it covers, so its label can name them all.
    """
    merged: list[tuple[int, int, ChunkKind, list[int]]] = []
    for start, end, kind, section in pieces:
        if merged:
            previous_start, previous_end, previous_kind, sections = merged[-1]
            small = previous_end - previous_start < min_chars
            if previous_kind == kind and small and end - previous_start <= max_chars:
                merged[-1] = (previous_start, end, kind, sections)
                if section not in sections:
                    sections.append(section)
                continue
        merged.append((start, end, kind, [section]))
    return merged
