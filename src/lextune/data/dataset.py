"""`data build`: from the vault's documents to an anonymized, deduplicated, leak-checked dataset.

The order matters and is fixed: split documents by group (pinned in the store), anonymize every
document (so no builder ever sees a client's name), run the builders, drop near-duplicate rows
(boilerplate) and training rows whose passage also appears in a held-out document, check the final
rows for cross-split leaks independently, then write JSONL per split, exports and a manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from lextune.core import audit
from lextune.core.atomic import atomic_dir
from lextune.core.errors import DatasetError, NotFoundError
from lextune.core.records import DatasetInfo, DatasetRow
from lextune.core.store import Store
from lextune.core.tables import AnnotationRow, DatasetRowDB
from lextune.data.builders.base import BuildContext, get_builder
from lextune.data.dedup_rows import drop_duplicate_rows
from lextune.data.docviews import DocViews
from lextune.data.exporters import EXPORTERS
from lextune.data.leakage import LeakageError, find_cross_split_duplicates
from lextune.data.splits import GroupBy, assign_splits, record_assignments
from lextune.security.keyring import Keyring
from lextune.security.sealed_files import DATASET, read_sealed_text, write_sealed_text
from lextune.vault.vault import Vault

SPLITS = ("train", "dev", "test")
# Ten CUAD clause types that are frequent, distinct, and matter in contract review (the demo's set).
DEFAULT_CLAUSE_TYPES = [
    "Governing Law", "Anti-Assignment", "Cap on Liability", "Audit Rights", "Insurance",
    "License Grant", "Termination for Convenience", "Exclusivity", "Renewal Term", "Non-Compete",
]
DEFAULT_BUILDERS = ["clauses", "clause_questions", "cited_qa", "contract_nli", "instructions", "statute_qa"]
MIN_USABLE_CHUNKS = 10
FEW_USABLE_CHUNKS = 300


class BuildConfig(BaseModel):
    """How `lextune data build` turns the vault into training rows; every field is validated."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("vault", description="Human name of the dataset.")
    builders: list[str] = Field(default_factory=lambda: list(DEFAULT_BUILDERS),
                                description="Builders to run (see `lextune data builders`).")
    options: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                               description="Per-builder options, validated by each builder.")
    clause_types: list[str] | None = Field(None, description="CUAD clause types; default: all the vault has.")
    tasks: list[str] | None = Field(None, description="Keep only rows of these tasks (default: all).")
    split_by: GroupBy = Field("family", description="Unit kept together in one split: family, matter, client.")
    dev_fraction: float = Field(0.1, ge=0, lt=1, description="Share of groups in the dev split.")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="Share of groups in the test split.")
    seed: int = Field(0, description="Seed of new split assignments and of row sampling.")
    where: dict[str, str] = Field(default_factory=dict, description="Only documents whose metadata match.")
    anonymize: bool = Field(True, description="Mask/pseudonymize PII before any builder sees the text.")
    pii_actions: dict[str, str] = Field(default_factory=dict,
                                        description="Per entity type: mask, pseudonym or keep.")
    near_dup_threshold: float = Field(0.8, gt=0, le=1, description="MinHash Jaccard for near-duplicates.")
    rows_per_duplicate_cluster: int = Field(1, ge=1, description="Train rows kept per task and boilerplate cluster.")
    cross_split_duplicates: Literal["drop", "fail"] = Field(
        "drop", description="Train rows whose passage recurs in dev/test: drop them, or fail the build.")
    max_rows_per_task: dict[str, int] = Field(default_factory=dict,
                                              description="Cap rows per task and split (sampled evenly).")
    exports: list[str] = Field(default_factory=lambda: ["openai"], description="openai, alpaca, sharegpt.")


def build_dataset(
    store: Store, config: BuildConfig | None = None, teacher=None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> DatasetInfo:
    """Build every configured builder's rows from the vault and register the dataset."""
    config = config or BuildConfig()
    progress = on_progress or (lambda stage, done, total: None)
    builders = [get_builder(name)() for name in config.builders]
    options = {b.name: _options(b, config.options.get(b.name, {})) for b in builders}
    unknown_opts = set(config.options) - {b.name for b in builders}
    if unknown_opts:
        raise DatasetError(f"options given for builder(s) not in the build: {sorted(unknown_opts)}")
    vault = Vault(store)
    docs = [d for d in vault.documents(latest_only=True)
            if all(str(d.metadata.get(k)) == v for k, v in config.where.items())]
    if not docs:
        raise DatasetError("no documents in the vault" + (f" match {config.where}" if config.where else "")
                           + ": ingest some first (lextune ingest)")
    clause_types = _clause_types(store, config)
    splits, groups, warnings = assign_splits(store, docs, config.split_by, config.seed,
                                             config.dev_fraction, config.test_fraction)
    views = DocViews(store, vault, docs, splits, config, on_progress=progress)
    usable = views.usable_chunks()
    if usable < MIN_USABLE_CHUNKS:
        raise DatasetError(f"the vault has {usable} usable chunks (at least {MIN_USABLE_CHUNKS} are needed "
                           "to build training data): ingest more documents")
    if usable < FEW_USABLE_CHUNKS:
        warnings.append(f"only {usable} usable chunks: tuning on so little will overfit; "
                        "retrieval alone (lextune ask) may serve better")

    rows: dict[str, list[DatasetRow]] = {sp: [] for sp in SPLITS}
    builder_info: dict[str, Any] = {}
    for b in builders:
        ctx = BuildContext(seed=config.seed, clause_types=clause_types, options=options[b.name],
                           teacher=teacher, retrieve=views.retrieve, warnings=warnings)
        made = 0
        for i, view in enumerate(views):
            progress(f"builder {b.name}", i, len(docs))
            if b.needs_annotations and not view.annotations:
                continue
            for row in b.document_rows(view, ctx):
                rows[row.split].append(row)
                made += 1
        for row in b.corpus_rows(ctx, {sp: len(rows[sp]) for sp in SPLITS}):
            rows[row.split].append(row)
            made += 1
        builder_info[b.name] = {"rows": made, "options": options[b.name].model_dump(mode="json"),
                                **b.describe()}
    if config.tasks:
        rows = {sp: [r for r in rs if r.task in config.tasks] for sp, rs in rows.items()}
    rows, dedup_stats = drop_duplicate_rows(rows, views, config)
    rows = {sp: _cap(rs, config.max_rows_per_task, config.seed) for sp, rs in rows.items()}
    leaks = _check_leaks(rows, views, config)
    manifest = {
        "builders": builder_info, "clause_types": clause_types, "warnings": warnings,
        "splits": {"by": config.split_by, "seed": config.seed, "documents": _count_splits(splits)},
        "anonymization": views.anonymization_summary(), "dedup": dedup_stats,
        "leakage_check": {"threshold": config.near_dup_threshold, "cross_split_pairs": len(leaks)},
        "teacher": getattr(teacher, "describe", lambda: None)(),
    }
    return _write(store, config, rows, manifest, splits, groups)


def _options(builder, given: dict[str, Any]) -> BaseModel:
    try:
        return builder.Options.model_validate(given)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(map(str, err["loc"]))
        raise DatasetError(f"builder '{builder.name}' option '{key}': {err['msg']}") from None


def _clause_types(store: Store, config: BuildConfig) -> list[str]:
    with store.session() as s:
        known = set(s.scalars(select(AnnotationRow.clause_type).where(AnnotationRow.kind.is_not("nli"))
                              .distinct()))
    if config.clause_types is None:
        return sorted(known)
    unknown = [t for t in config.clause_types if t not in known]
    if unknown:
        raise DatasetError(f"unknown clause type(s) {unknown}; the vault has: "
                           f"{', '.join(sorted(known)) or 'no labelled clauses'}")
    return list(config.clause_types)


def _cap(rows: list[DatasetRow], caps: dict[str, int], seed: int) -> list[DatasetRow]:
    """At most caps[task] rows of each task, taken evenly over the (document-ordered) rows."""
    if not caps:
        return rows
    by_task: dict[str, list[DatasetRow]] = {}
    for r in rows:
        by_task.setdefault(r.task, []).append(r)
    keep: set[str] = set()
    for task, rs in by_task.items():
        cap = caps.get(task)
        if cap is None or len(rs) <= cap:
            keep.update(r.id for r in rs)
        else:
            keep.update(rs[int(i * len(rs) / cap)].id for i in range(cap))
    return [r for r in rows if r.id in keep]


def _check_leaks(rows: dict[str, list[DatasetRow]], views: DocViews, config: BuildConfig) -> list:
    """Recompute, from the final rows' chunks, whether any training chunk nearly repeats a held-out one."""
    items = []
    for sp in SPLITS:
        for cid in sorted({c for r in rows[sp] for c in r.chunk_ids}):
            sig = views.chunk_signature(cid)
            if sig is not None:
                items.append((cid, sp, sig))
    for cid, sp, sig in views.heldout_chunk_signatures():
        items.append((cid, sp, sig))
    pairs = [p for p in find_cross_split_duplicates(items, config.near_dup_threshold)
             if "train" in (p[1], p[3])]
    if pairs:
        raise LeakageError(pairs)
    return pairs


def _count_splits(splits: dict[str, str]) -> dict[str, int]:
    out = {sp: 0 for sp in SPLITS}
    for sp in splits.values():
        out[sp] += 1
    return out


def _write(store: Store, config: BuildConfig, rows: dict[str, list[DatasetRow]], manifest: dict[str, Any],
           splits: dict[str, str], groups: dict[str, str]) -> DatasetInfo:
    lines = {sp: "".join(r.model_dump_json(exclude_none=True) + "\n" for r in rows[sp]) for sp in SPLITS}
    sha = hashlib.sha256("".join(lines[sp] for sp in SPLITS).encode()).hexdigest()
    ds_id = "ds-" + sha[:12]
    counts = {sp: _count(rows[sp]) for sp in SPLITS}
    final = store.settings.datasets_dir / ds_id
    manifest = {"id": ds_id, "name": config.name, "sha256": sha, "counts": counts,
                "config": config.model_dump(mode="json"), **manifest}
    # Every file of the folder is sealed at rest (rows are client text, the manifest names documents).
    with atomic_dir(final) as tmp:
        for sp in SPLITS:
            write_sealed_text(tmp / f"{sp}.jsonl", lines[sp], store.keyring, DATASET)
        for fmt in config.exports:
            for sp in SPLITS:
                EXPORTERS[fmt](rows[sp], tmp / "exports" / fmt / f"{sp}.jsonl", keyring=store.keyring)
        write_manifest(tmp / "manifest.json", manifest, store.keyring)
    info = DatasetInfo(id=ds_id, name=config.name, path=str(final), sha256=sha, counts=counts,
                       clause_types=manifest["clause_types"])
    with store.session() as s:
        if s.get(DatasetRowDB, ds_id) is None:
            s.add(DatasetRowDB(id=ds_id, name=info.name, path=info.path, sha256=sha, counts=counts,
                               clause_types=info.clause_types, manifest=manifest))
        pinned = record_assignments(s, splits, groups, config.seed, ds_id)
        audit.record(s, "dataset.build", ds_id, {
            "counts": counts, "anonymize": config.anonymize, "builders": config.builders,
            "split_by": config.split_by, "new_split_assignments": pinned,
            "teacher": manifest.get("teacher"),
        })
        if not config.anonymize:
            audit.record(s, "pii.opt_out", ds_id, {"reason": "data build --no-anonymize"})
    return info


def _count(rows: list[DatasetRow]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r.task] = out.get(r.task, 0) + 1
    return out


def write_manifest(path: Path, manifest: dict[str, Any], keyring: Keyring) -> None:
    text = json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n"
    write_sealed_text(path, text, keyring, DATASET)


def read_rows(path: Path, keyring: Keyring | None = None) -> list[DatasetRow]:
    """Read a dataset JSONL file, sealed or plain; a malformed line is an error naming the file and line.

    `keyring` opens a sealed file; without one, the environment's store's (only if the file is sealed).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    rows = []
    # split("\n"), not splitlines(): U+2028 and friends may sit unescaped inside JSON strings.
    for n, line in enumerate(read_sealed_text(path, keyring, DATASET).split("\n"), start=1):
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


def read_manifest(info: DatasetInfo, keyring: Keyring | None = None) -> dict[str, Any]:
    path = Path(info.path) / "manifest.json"
    try:
        return json.loads(read_sealed_text(path, keyring, DATASET))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: unreadable dataset manifest: {e}") from e


def split_path(info: DatasetInfo, split: str) -> Path:
    if split not in SPLITS:
        raise DatasetError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    return Path(info.path) / f"{split}.jsonl"
