"""A labelled training set for the privilege model: the shipped SYNTHETIC sample, or a firm's own (`--train FILE`).

Format: JSONL (or JSONL.gz), one JSON object per line, the sample's record format:

    {"id": "D-17", "label": "privileged", "body": "...", "subject": "...", "author": "...",
     "recipients": ["..."], "cc": [], "date": "2023-04-02", "doc_type": "email", "split": "train"}

Required: id (unique), label (privileged | partially_privileged | not_privileged; case, spaces and hyphens are
forgiven), body (non-empty text). Optional: subject, author, recipients, cc, date, doc_type, split
(train | validation | test), privileged_spans ([[start, end], ...] of a partially privileged document).
A record without split goes to validation when the first hex digit of sha256(id) is 0-3 (1 in 4), else to
train. Test records are never trained on: `privilege eval` measures on them.

A bad line (malformed JSON, unknown category or split, missing or mistyped field, repeated id) is reported
as FILE:LINE and skipped. Training is refused when a category has fewer than MIN_TRAIN train or
MIN_VALIDATION validation examples: stage 1's threshold is chosen on validation for the target recall.
Messages never quote document text.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from lextune.core.errors import LextuneError
from lextune.privilege.records import CATEGORIES, PrivilegeDoc
from lextune.privilege.synthetic import default_sample_path

SPLITS = ("train", "validation", "test")
REQUIRED = ("id", "label", "body")
MIN_TRAIN = 10  # per category: stage 2 learns each category from these
MIN_VALIDATION = 5  # per category: stage 1's threshold (recall target) is chosen on these
MAX_PROBLEMS_KEPT = 50


@dataclass
class TrainingSet:
    path: Path
    sha256: str
    splits: dict[str, list[PrivilegeDoc]]
    lines: int = 0  # non-blank lines read
    problems: list[str] = field(default_factory=list)  # the first MAX_PROBLEMS_KEPT, FILE:LINE: what
    skipped: int = 0

    @property
    def synthetic(self) -> bool:
        docs = [d for part in self.splits.values() for d in part]
        return bool(docs) and all(d.synthetic is True for d in docs)

    @property
    def is_shipped_sample(self) -> bool:
        return self.path.resolve() == default_sample_path().resolve()

    def counts(self) -> dict[str, dict[str, int]]:
        return {sp: {c: sum(d.label == c for d in self.splits.get(sp, [])) for c in CATEGORIES} for sp in SPLITS}

    def manifest(self) -> dict:
        """What a run records about the set it was trained on (no document text)."""
        return {"path": str(self.path.resolve()), "sha256": self.sha256, "synthetic": self.synthetic,
                "shipped_sample": self.is_shipped_sample, "lines": self.lines, "skipped_lines": self.skipped,
                "problems": self.problems[:20], "counts": self.counts()}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _category(value) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip().lower().replace("-", "_").replace(" ", "_")
    return v if v in CATEGORIES else None


def _split_of(doc_id: str) -> str:
    return "validation" if hashlib.sha256(doc_id.encode()).hexdigest()[0] in "0123" else "train"


def _problem(rec: dict) -> str | None:
    """Why a parsed record cannot be used (None: it can)."""
    missing = [k for k in REQUIRED if rec.get(k) in (None, "")]
    if missing:
        return "missing field" + ("s " if len(missing) > 1 else " ") + ", ".join(repr(k) for k in missing)
    if not isinstance(rec["id"], str | int):
        return "field 'id' must be a string"
    if not isinstance(rec["body"], str) or not rec["body"].strip():
        return "field 'body' must be non-empty text"
    if _category(rec["label"]) is None:
        shown = rec["label"] if isinstance(rec["label"], str) and len(rec["label"]) <= 40 else type(rec["label"]).__name__
        return f"unknown category {shown!r} (expected one of: {', '.join(CATEGORIES)})"
    if rec.get("split") is not None and rec["split"] not in SPLITS:
        shown = rec["split"] if isinstance(rec["split"], str) and len(rec["split"]) <= 20 else "?"
        return f"unknown split {shown!r} (expected one of: {', '.join(SPLITS)}, or none)"
    return None


def load_training(path: Path | None = None, *, check: bool = True) -> TrainingSet:
    """Read and validate a labelled set (default: the shipped SYNTHETIC sample); see the module docstring."""
    path = Path(path) if path is not None else default_sample_path()
    if not path.is_file():
        raise LextuneError(f"training set {path} not found")
    ts = TrainingSet(path=path, sha256=file_sha256(path), splits={sp: [] for sp in SPLITS})
    seen: set[str] = set()

    def bad(n: int, why: str) -> None:
        ts.skipped += 1
        if len(ts.problems) < MAX_PROBLEMS_KEPT:
            ts.problems.append(f"{path}:{n}: {why}")

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                ts.lines += 1
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    bad(n, f"malformed JSON ({e.msg} at column {e.colno})")
                    continue
                if not isinstance(rec, dict):
                    bad(n, f"expected a JSON object, got {type(rec).__name__}")
                    continue
                why = _problem(rec)
                if why:
                    bad(n, why)
                    continue
                rec = {**rec, "id": str(rec["id"]), "label": _category(rec["label"])}
                try:
                    doc = PrivilegeDoc(**rec)
                except ValidationError as e:  # loc and message only: the input value may be document text
                    err = e.errors()[0]
                    bad(n, f"field {'.'.join(str(x) for x in err['loc'])!r}: {err['msg']}")
                    continue
                if doc.id in seen:
                    bad(n, f"repeated id {doc.id[:40]!r} (the first one is kept)")
                    continue
                seen.add(doc.id)
                doc.split = doc.split or _split_of(doc.id)
                ts.splits[doc.split].append(doc)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise LextuneError(f"training set {path}: cannot read it: {e}") from None
    if check:
        check_enough(ts)
    return ts


def check_enough(ts: TrainingSet) -> None:
    """Refuse a set too small to train stage 2 or to choose stage 1's threshold on validation."""
    counts = ts.counts()
    short = [f"{c}: {counts['train'][c]} train (need {MIN_TRAIN})" for c in CATEGORIES
             if counts["train"][c] < MIN_TRAIN]
    short += [f"{c}: {counts['validation'][c]} validation (need {MIN_VALIDATION})" for c in CATEGORIES
              if counts["validation"][c] < MIN_VALIDATION]
    if short:
        skipped = f"; {ts.skipped} bad line(s) skipped, first: {ts.problems[0]}" if ts.skipped else ""
        raise LextuneError(
            f"training set {ts.path}: too few examples to train and to choose the stage-1 threshold on "
            f"validation ({'; '.join(short)}){skipped}. Add labelled documents, or mark more records "
            '"split": "validation" (unmarked records go 3 in 4 to train, 1 in 4 to validation).')
