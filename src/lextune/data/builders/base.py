"""The dataset-builder interface: a builder turns the vault's documents of one split into rows.

A builder sees documents only through a `DocView`, whose text is already anonymized, so no builder
can leak a client's name by forgetting to mask it; every row it yields points back to its document,
chunk ids and character span in the original text. Builders register themselves by name
(`@register`), so adding one never touches the others.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lextune.core.errors import DatasetError
from lextune.core.records import (
    Chunk,
    ClauseAnnotation,
    DatasetRow,
    DefinedTerm,
    Document,
    Redaction,
    Span,
)
from lextune.data import prompts
from lextune.data.splits import Split

# Document metadata that rows inherit, so `data audit` can show how rows spread over it.
ROW_META_KEYS = ("client", "matter", "jurisdiction", "practice_area", "document_type", "family_id")


def row_id(*parts: object) -> str:
    """A stable row id from what makes the row unique (builder, document, span, variant)."""
    return "row-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def chat(user: str, answer: str, system: str = prompts.SYSTEM) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]


def redacted_slice(
    raw: str, offset: int, start: int, end: int | None, redactions: list[Redaction], starts: list[int]
) -> str:
    """Text of document span [start, end) with redactions applied, where `raw` holds the document's
    characters from `offset` on (the whole text, or one chunk of it). `redactions` are disjoint and
    sorted by start, `starts` their starts. A redaction overlapping an edge is replaced whole."""
    stop = offset + len(raw)
    end = stop if end is None else min(end, stop)
    start = max(offset, start)
    if start >= end:
        return ""
    i = max(0, bisect.bisect_right(starts, start) - 1)
    out: list[str] = []
    pos = start
    for r in redactions[i:]:
        if r.start >= end:
            break
        if r.end <= start:
            continue
        if r.start > pos:
            out.append(raw[pos - offset:r.start - offset])
        out.append(r.replacement)
        pos = max(pos, r.end)
    if pos < end:
        out.append(raw[pos - offset:end - offset])
    return "".join(out)


class DocView:
    """One document as builders see it: anonymized text, chunks, annotations and defined terms.

    Offsets stay those of the original document (so rows trace back to it); `text(start, end)`
    returns that span with every redaction inside it applied. A redaction that only overlaps the
    span's edge is replaced whole, so no part of a name survives at a cut.
    """

    def __init__(
        self, document: Document, split: Split, raw_text: str, chunks: list[Chunk],
        annotations: list[ClauseAnnotation], defined_terms: list[DefinedTerm],
        redactions: list[Redaction] | None = None,
    ):
        self.document = document
        self.split = split
        self._raw = raw_text
        self._redactions = sorted(redactions or [], key=lambda r: r.start)
        self._starts = [r.start for r in self._redactions]
        self.chunks = [c.model_copy(update={"text": self.text(c.start, c.end)}) for c in chunks]
        self.annotations = [a.model_copy(update={"text": self.text(a.start, a.end)}) for a in annotations]
        self.defined_terms = defined_terms
        self.meta: dict[str, Any] = {k: document.metadata[k] for k in ROW_META_KEYS
                                     if document.metadata.get(k) is not None}
        if document.family_id:
            self.meta["family_id"] = document.family_id

    @property
    def id(self) -> str:
        return self.document.id

    def __len__(self) -> int:
        return len(self._raw)

    def text(self, start: int = 0, end: int | None = None) -> str:
        """The anonymized text of the original span [start, end)."""
        return redacted_slice(self._raw, 0, start, end, self._redactions, self._starts)

    def chunk_ids(self, start: int, end: int) -> list[str]:
        """Ids of the chunks that overlap [start, end)."""
        return [c.id for c in self.chunks if c.start < end and start < c.end]

    def row(
        self, builder: str, task: str, user: str, answer: str, start: int, end: int, *,
        variant: object = "", label: str | None = None, choices: list[str] | None = None,
        system: str = prompts.SYSTEM,
    ) -> DatasetRow:
        """A chat row sourced from [start, end) of this document, with ids, span and metadata."""
        return DatasetRow(
            id=row_id(builder, task, self.id, start, end, variant), task=task, split=self.split,
            messages=chat(user, answer, system), answer=answer, label=label, choices=choices,
            document_id=self.id, chunk_ids=self.chunk_ids(start, end), span=Span(start=start, end=end),
            builder=builder, meta=dict(self.meta),
        )


@dataclass
class Passage:
    """A retrieved passage as a builder may show it: anonymized text and where it came from."""

    chunk_id: str
    document_id: str
    start: int
    end: int
    text: str


# retrieve(query, split, k, exclude_document_id) -> passages from documents of that split only, so a
# training row never shows text of a held-out document.
Retriever = Callable[[str, Split, int, str | None], list[Passage]]


@dataclass
class BuildContext:
    """What every builder may use besides the document: options, seed, teacher, retrieval."""

    seed: int
    clause_types: list[str]
    options: BaseModel  # the builder's own validated Options
    teacher: Any | None = None  # a Teacher (data/teacher.py) when one is configured, else None
    retrieve: Retriever | None = None
    warnings: list[str] = field(default_factory=list)  # shown by `data build` and kept in the manifest


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Builder:
    """Base class of dataset builders. Override `document_rows`, `corpus_rows`, or both.

    `document_rows` runs once per document (with its split fixed by the caller); `corpus_rows`
    runs once per build for rows that come from outside the vault (e.g. general replay data),
    given the rows built so far per split so it can size itself (e.g. a share of the train rows).
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]  # the task names its rows carry
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_annotations: ClassVar[bool] = False  # skip documents without clause/NLI labels

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterable[DatasetRow]:
        return ()

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> Iterable[DatasetRow]:
        return ()

    def describe(self) -> dict[str, Any]:
        """What the dataset manifest records about this builder's run besides its options (e.g. shares met)."""
        return {}


BUILDERS: dict[str, type[Builder]] = {}


def register(cls: type[Builder]) -> type[Builder]:
    """Class decorator: make a builder available to `data build` under `cls.name`."""
    if not getattr(cls, "name", None) or not getattr(cls, "tasks", None):
        raise TypeError(f"{cls.__name__} must set `name` and `tasks`")
    BUILDERS[cls.name] = cls
    return cls


def get_builder(name: str) -> type[Builder]:
    from lextune.data import builders  # noqa: F401  (imports every shipped builder module)

    try:
        return BUILDERS[name]
    except KeyError:
        raise DatasetError(f"unknown builder '{name}'; known: {', '.join(sorted(BUILDERS))}") from None
