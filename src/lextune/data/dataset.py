"""Build a dataset from the vault, write it as chat JSONL per split, and read it back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from lextune.core import audit
from lextune.core.atomic import atomic_dir, write_json
from lextune.core.errors import DatasetError, NotFoundError
from lextune.core.records import DatasetInfo, DatasetRow
from lextune.core.store import Store
from lextune.core.tables import AnnotationRow, DatasetRowDB
from lextune.data.clause_tasks import clause_quote_rows, clause_type_rows
from lextune.data.splits import split_of
from lextune.vault.vault import Vault

SPLITS = ("train", "dev", "test")
# Ten CUAD clause types that are frequent, distinct, and matter in contract review.
DEFAULT_CLAUSE_TYPES = [
    "Governing Law", "Anti-Assignment", "Cap on Liability", "Audit Rights", "Insurance",
    "License Grant", "Termination for Convenience", "Exclusivity", "Renewal Term", "Non-Compete",
]


class BuildConfig(BaseModel):
    """How `lextune data build` turns labelled contracts into training rows."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("clauses", description="Human name of the dataset.")
    clause_types: list[str] = Field(default_factory=lambda: list(DEFAULT_CLAUSE_TYPES),
                                    description="Clause types to include (CUAD names).")
    tasks: list[str] = Field(default_factory=lambda: ["clause_type", "clause_quote"],
                             description="Tasks to build: clause_type, clause_quote.")
    dev_fraction: float = Field(0.1, description="Share of documents in the dev split.")
    test_fraction: float = Field(0.2, description="Share of documents in the test split.")
    seed: int = Field(0, description="Seed of the document split and excerpt sampling.")
    max_passage_chars: int = Field(300, description="Clause passages are clipped to this length.")
    excerpt_chars: int = Field(600, description="Length of excerpts for the quoting task.")
    negatives_per_doc: int = Field(1, description="'Not found' quoting rows per document.")


def build_dataset(store: Store, config: BuildConfig | None = None) -> DatasetInfo:
    """Build all configured tasks from every annotated document and register the dataset."""
    config = config or BuildConfig()
    unknown_tasks = set(config.tasks) - {"clause_type", "clause_quote"}
    if unknown_tasks:
        raise DatasetError(f"unknown task(s) {sorted(unknown_tasks)}; known: clause_type, clause_quote")
    vault = Vault(store)
    with store.session() as s:
        known_types = set(s.scalars(select(AnnotationRow.clause_type).distinct()))
    if not known_types:
        raise DatasetError("no labelled contracts in the vault: ingest CUAD JSON first (lextune ingest)")
    unknown = [t for t in config.clause_types if t not in known_types]
    if unknown:
        raise DatasetError(f"unknown clause type(s) {unknown}; the vault has: {', '.join(sorted(known_types))}")

    rows: dict[str, list[DatasetRow]] = {sp: [] for sp in SPLITS}
    for doc in vault.documents():
        annotations = vault.annotations(doc.id)
        if not annotations:
            continue
        split = split_of(doc.id, config.seed, config.dev_fraction, config.test_fraction)
        chunks = vault.chunks(doc.id)
        if "clause_type" in config.tasks:
            rows[split] += clause_type_rows(doc.id, split, annotations, chunks, config.clause_types,
                                            config.max_passage_chars)
        if "clause_quote" in config.tasks:
            text = vault.document_text(doc.id)
            rows[split] += clause_quote_rows(doc.id, split, text, annotations, chunks,
                                             config.clause_types, config.excerpt_chars,
                                             config.negatives_per_doc, config.seed)
    return _write(store, config, rows)


def _write(store: Store, config: BuildConfig, rows: dict[str, list[DatasetRow]]) -> DatasetInfo:
    lines = {sp: "".join(r.model_dump_json(exclude_none=True) + "\n" for r in rows[sp]) for sp in SPLITS}
    sha = hashlib.sha256("".join(lines[sp] for sp in SPLITS).encode()).hexdigest()
    ds_id = "ds-" + sha[:12]
    counts = {sp: _count(rows[sp]) for sp in SPLITS}
    final = store.settings.datasets_dir / ds_id
    with atomic_dir(final) as tmp:
        for sp in SPLITS:
            (tmp / f"{sp}.jsonl").write_text(lines[sp], encoding="utf-8")
        write_json(tmp / "manifest.json", {"id": ds_id, "sha256": sha, "counts": counts,
                                           "config": config.model_dump()})
    info = DatasetInfo(id=ds_id, name=config.name, path=str(final), sha256=sha, counts=counts,
                       clause_types=config.clause_types)
    with store.session() as s:
        if s.get(DatasetRowDB, ds_id) is None:
            s.add(DatasetRowDB(id=ds_id, name=info.name, path=info.path, sha256=sha, counts=counts,
                               clause_types=info.clause_types))
        audit.record(s, "dataset.build", ds_id, {"counts": counts})
    return info


def _count(rows: list[DatasetRow]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r.task] = out.get(r.task, 0) + 1
    return out


def read_rows(path: Path) -> list[DatasetRow]:
    """Read a dataset JSONL file; a malformed line is an error naming the file and line."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    rows = []
    # split("\n"), not splitlines(): U+2028 and friends may sit unescaped inside JSON strings.
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(DatasetRow.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as e:
            reason = str(e).splitlines()[0] if isinstance(e, json.JSONDecodeError) else _first_error(e)
            raise DatasetError(f"{path}:{n}: malformed row: {reason}") from e
    return rows


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"


def get_dataset(store: Store, ref: str | None = None) -> DatasetInfo:
    """A dataset by id or name; the newest one when ref is None."""
    with store.session() as s:
        q = select(DatasetRowDB).order_by(DatasetRowDB.created_at.desc())
        found = [r for r in s.scalars(q) if ref is None or ref in (r.id, r.name)]
        if not found:
            with_names = [f"{r.id} ({r.name})" for r in s.scalars(q)]
            raise NotFoundError(
                f"no dataset '{ref}'; known: {', '.join(with_names) or 'none (run lextune data build)'}"
            )
        r = found[0]
        return DatasetInfo(id=r.id, name=r.name, path=r.path, sha256=r.sha256, counts=r.counts,
                           clause_types=r.clause_types, created_at=r.created_at)


def split_path(info: DatasetInfo, split: str) -> Path:
    if split not in SPLITS:
        raise DatasetError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    return Path(info.path) / f"{split}.jsonl"
