"""Span helpers the CUAD builders share (clauses, clause questions, cited QA, ContractNLI): windows that
never cut a clause or a word, random unlabelled windows, and a row kind's share kept per split.

They live outside `builders/` so that builders depend on this module, never on each other.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from lextune.core.records import ClauseAnnotation
from lextune.data import cuad_categories
from lextune.data.builders.base import BuildContext, Builder, DocView

MIN_CLAUSE_CHARS = 20  # shorter labels ("Company", a date) say too little to type or quote usefully
SNAP_CHARS = 40  # how far a window edge may move out to reach whitespace


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def clause_annotations(doc: DocView) -> list[ClauseAnnotation]:
    """CUAD-style clause labels only: ContractNLI labels (kind "nli") have their own builder."""
    return [a for a in doc.annotations if a.kind == "clause"]


def selected_types(options_types: list[str] | None, ctx: BuildContext) -> list[str]:
    """The builder's own choice (CUAD names, checked by its Options), else the build's clause types (those
    the vault holds, which may include a firm's own labels), else all 41."""
    if options_types is not None:
        return cuad_categories.resolve(options_types)
    return cuad_categories.canonical(ctx.clause_types) if ctx.clause_types else list(cuad_categories.NAMES)


def askable_types(builder: Builder, options_types: list[str] | None, ctx: BuildContext) -> list[str]:
    """The selected types that have a question to ask (CUAD's); a firm's own labels are skipped, once said."""
    types = selected_types(options_types, ctx)
    other = [t for t in types if t not in cuad_categories.BY_NAME]
    if other and not getattr(builder, "warned", False):
        ctx.warnings.append(f"{builder.name}: no question is written for clause type(s) {other} (not CUAD "
                            "categories); no rows for them")
        builder.warned = True  # type: ignore[attr-defined]
    return [t for t in types if t in cuad_categories.BY_NAME]


def absence_reliable(clause_type: str) -> bool:
    """Whether an unlabelled passage can be taken not to hold this type (a firm's own labels: assumed so)."""
    category = cuad_categories.BY_NAME.get(clause_type)
    return category is None or category.absence_reliable


def merged_spans(annotations: Iterable[ClauseAnnotation], clause_type: str) -> list[tuple[int, int]]:
    """Spans of one type in text order, overlapping ones merged: CUAD sometimes labels nested pieces of one
    clause, and quoting both would repeat words."""
    spans = sorted((a.start, a.end) for a in annotations if a.clause_type == clause_type and a.end > a.start)
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def window_around(
    doc: DocView, start: int, end: int, length: int, rng: random.Random, keep: list[tuple[int, int]],
) -> tuple[int, int]:
    """A window of about `length` chars holding [start, end) whole at a random place. It is widened until
    it cuts none of `keep` (each either wholly in or out), and its edges move out to whitespace."""
    n = len(doc)
    length = min(n, max(length, end - start))
    ws = start - rng.randint(0, length - (end - start))
    ws = max(0, min(ws, n - length))
    we = min(n, ws + length)
    ws, we = snap_out(doc, ws, we)
    changed = True
    while changed:
        changed = False
        for s, e in keep:
            if overlaps(s, e, ws, we) and (s < ws or e > we):
                ws, we, changed = min(ws, s), max(we, e), True
    return ws, we


def snap_out(doc: DocView, start: int, end: int) -> tuple[int, int]:
    """Move the edges outwards to whitespace (a few chars at most) so no word is cut in half."""
    for _ in range(SNAP_CHARS):
        if start <= 0 or doc.text(start - 1, start).isspace():
            break
        start -= 1
    for _ in range(SNAP_CHARS):
        if end >= len(doc) or doc.text(end, end + 1).isspace():
            break
        end += 1
    return start, end


def clip(text: str, max_chars: int) -> str:
    """Shorten at a word boundary; long clauses keep their opening, which carries the type."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars].rstrip() + " ..."


class ShareKeeper:
    """Keeps the share of one kind of row (e.g. "Not found") per split as close to a target as whole rows
    allow: each document asks how many it should add given the split's running totals, so one document's
    shortfall (too short for a negative excerpt) is made up by the next."""

    def __init__(self, share: float):
        self.share = share
        self.special: Counter[str] = Counter()
        self.other: Counter[str] = Counter()

    def wanted(self, split: str, new_other: int) -> int:
        target = math.floor(self.share / (1 - self.share) * (self.other[split] + new_other) + 0.5)
        return max(0, target - self.special[split])

    def add(self, split: str, other: int, special: int) -> None:
        self.other[split] += other
        self.special[split] += special

    def describe(self) -> dict:
        """Target and achieved share per split, for the dataset manifest."""
        splits = {}
        for split in ("train", "dev", "test"):
            total = self.special[split] + self.other[split]
            if total:
                splits[split] = {"rows": total, "count": self.special[split],
                                 "share": round(self.special[split] / total, 4)}
        return {"target": self.share, "splits": splits}

    def shortfalls(self, what: str) -> list[str]:
        """A warning per split that ended with fewer such rows than the share asks (documents too short)."""
        out = []
        for split in ("train", "dev", "test"):
            missing = self.wanted(split, 0)
            if missing:
                out.append(f"{split}: {self.special[split]} {what} rows, {missing} fewer than the share "
                           f"{self.share:g} asks (too few passages without the asked type)")
        return out


def random_windows(
    doc: DocView, lengths: list[int], min_chars: int, floor: int, rng: random.Random, tries: int,
    enough: Callable[[], bool],
) -> Iterator[tuple[int, int]]:
    """Up to `tries` random windows inside chunks of at least `min_chars`, each about as long as one of
    `lengths` (at least `floor`), edges moved out to whitespace, until `enough()`; callers filter them.
    `enough` is asked before each draw, so no random number is spent once the caller is done."""
    chunks = [c for c in doc.chunks if c.end - c.start >= min_chars]
    if not chunks:
        return
    for _ in range(tries):
        if enough():
            return
        chunk = rng.choice(chunks)
        length = min(chunk.end - chunk.start, max(floor, rng.choice(lengths)))
        start = rng.randint(chunk.start, chunk.end - length)
        yield snap_out(doc, start, start + length)
