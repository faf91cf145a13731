"""Key rotation without downtime: a new data key, re-sealing everything with it, a new master key.

- `add_data_key`: a new data key becomes the store's active one. Older keys stay in data_keys (records
  sealed with them still open); a running process adopts the new key when it meets a record sealed
  with it (Keyring reload) or restarts, and seals with its old key meanwhile, which stays readable.
- `reencrypt`: every sealed column (found by type in the metadata, never listed by hand), every sealed
  file, the monitor's weekly question logs (sealed line by line) and the evaluation cache are re-sealed
  with the active key, and legacy plaintext is sealed. Rows
  go in batches, each its own short transaction, and a row is only written back if it is unchanged since
  it was read, so a running service keeps reading and writing throughout. Then `retire` marks the
  older data keys that seal nothing any more as retired (purpose "retired": no schema change).
- Values are read raw, as the database stores them, the same way on every backend (see `_Stored`): a
  text column holds the "lxe1:..." text itself; on PostgreSQL a json column holds it as a JSON string
  (read as the document's text, whose quotes are the JSON's, so a sealed value is never taken for
  plaintext and sealed twice) and a bytea column as its ASCII bytes. Legacy plaintext is whatever else
  is there: a JSON object or list, raw float32 bytes, plain text.
- Retired keys are kept, not deleted: backups taken before the re-encryption are sealed with them, and
  a process that had not yet seen the rotation may have sealed a record with one since the count.
  `delete_retired` deletes them after counting again that nothing is sealed with them; it is the
  operator's explicit step (it shreds old backups), to run once long-running processes have restarted.
- `rewrap`: every data key of a store (data, index, retired) re-wrapped under a new master key in one
  transaction. Records are untouched: data keys do not change, so open stores keep working.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    LargeBinary,
    MetaData,
    Table,
    Text,
    cast,
    inspect,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from lextune.core.store import Store
from lextune.core.tables_security import DataKeyRow
from lextune.data import teacher as teacher_cache
from lextune.monitor import questions as question_logs
from lextune.security.keyring import TEXT_PREFIX, CiphertextError, Keyring, new_key_id
from lextune.security.master_key import KeyProvider, MasterKeyError, load_master, random_data_key
from lextune.security.sealed_files import reseal_file, sealed_files_of, sealed_key_id
from lextune.security.sealed_types import SealedBytes, SealedJSON, SealedText
from lextune.security.store_keys import RETIRED, unwrap_all

BATCH = 500
Progress = Callable[[str], None]


def _metadata(metadata: MetaData | None) -> MetaData:
    if metadata is not None:
        return metadata
    from lextune.core.tables import Base

    return Base.metadata


def sealed_columns(engine, metadata: MetaData | None = None) -> list[tuple[Table, list]]:
    """(table, its sealed columns) for every table of `metadata` that has some and exists in the database."""
    return [(table, [s.column for s in stored]) for table, stored in _stored_columns(engine, metadata)]


JSON_NULL = object()  # a JSON null in a json column: nothing to seal, nothing sealed


@dataclass(frozen=True)
class _Stored:
    """A sealed column as the database stores it: `kind` is what its DDL type makes of a value.

    - "text": the value itself (text columns; every column on SQLite, which keeps any value in any column)
    - "json": a JSON document (PostgreSQL json/jsonb): sealed, the "lxe1:..." text as a JSON string
    - "bytes": bytes (PostgreSQL bytea): sealed, the "lxe1:..." text's ASCII bytes
    """

    column: Column
    kind: str

    def raw(self):
        """What is read, and compared by the write-back's guard: text, or bytes for a bytea column."""
        if self.kind == "json":
            # json has no equality operator; its text is the document as stored (json keeps it verbatim,
            # jsonb in its one normal form), so equal text means unchanged.
            return cast(self.column, Text)
        return type_coerce(self.column, LargeBinary if self.kind == "bytes" else Text)

    def guard(self, stored: Any):
        """`stored` still there (the row unchanged since read)."""
        expr = type_coerce(self.column, LargeBinary) if isinstance(stored, bytes) else self.raw()
        return expr == stored

    def read(self, stored: Any) -> tuple[str | None, Any]:
        """(the "lxe1:..." text, None) for a sealed value, (None, the value) for legacy plaintext, and
        (None, JSON_NULL) for a JSON null, which the column's type reads as None, as it does SQL NULL."""
        if isinstance(stored, bytes):
            if stored.startswith(TEXT_PREFIX.encode("ascii")):
                return stored.decode("ascii", "replace"), None
            if isinstance(self.column.type, SealedBytes):
                return None, stored
            return None, _plain(self.column, stored.decode("utf-8", "replace"))
        if self.kind == "json":
            try:
                doc = json.loads(stored)
            except ValueError:  # not JSON after all: taken as text, like a text column's value
                return (stored, None) if stored.startswith(TEXT_PREFIX) else (None, _plain(self.column, stored))
            if doc is None:
                return None, JSON_NULL
            if isinstance(doc, str) and doc.startswith(TEXT_PREFIX):
                return doc, None
            # A text column's plaintext kept in a json column: the document's text, unless a JSON string.
            return None, doc if isinstance(self.column.type, SealedJSON) or isinstance(doc, str) else stored
        if stored.startswith(TEXT_PREFIX):
            return stored, None
        return None, _plain(self.column, stored)


def _plain(col: Column, text: str) -> Any:
    """A legacy plaintext value stored as text, as the column's type takes it."""
    if isinstance(col.type, SealedJSON):
        try:
            return json.loads(text)
        except ValueError:
            return text
    if isinstance(col.type, SealedBytes):
        return text.encode()
    return text


def _kind(db_type: Any, dialect) -> str:
    if dialect.name == "sqlite":
        return "text"
    if isinstance(db_type, JSON):
        return "json"
    if isinstance(db_type, LargeBinary):
        return "bytes"
    return "text"


def _stored_columns(engine, metadata: MetaData | None = None) -> list[tuple[Table, list[_Stored]]]:
    """Sealed columns by table, with how the database stores each (its DDL type, as reflected)."""
    inspector = inspect(engine)
    out = []
    for table in _metadata(metadata).sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, SealedText | SealedJSON)]
        if not cols or not inspector.has_table(table.name, schema=table.schema):
            continue
        db_types = {c["name"]: c["type"] for c in inspector.get_columns(table.name, schema=table.schema)}
        stored = [_Stored(c, _kind(db_types[c.name], engine.dialect)) for c in cols if c.name in db_types]
        if stored:
            out.append((table, stored))
    return out


def _stored_value(stored: Any) -> Any:
    """A raw value as read: bytes for any binary (psycopg may hand a memoryview)."""
    return bytes(stored) if isinstance(stored, memoryview | bytearray) else stored


def _master(store: Store) -> KeyProvider:
    master = load_master(store.settings, create=False)
    if master is None:
        raise MasterKeyError("no master key: set LEXTUNE_MASTER_KEY, LEXTUNE_MASTER_KEY_FILE or LEXTUNE_KEY_PROVIDER "
                             f"(looked for {store.settings.master_key_path})")
    return master


# ---- a new data key ------------------------------------------------------------------------------

def add_data_key(store: Store) -> str:
    """A new active data key for the store (wrapped by its master key); returns its id."""
    master = _master(store)
    with Session(store.engine) as s, s.begin():
        rows = list(s.scalars(select(DataKeyRow)))
        unwrap_all(rows[:1], master)  # the master key must be the store's: fail before adding anything
        kid = new_key_id()
        for r in rows:
            if r.purpose == "data":
                r.active = False
        s.add(DataKeyRow(id=kid, wrapped=master.wrap(random_data_key()), master_key_id=master.key_id,
                         active=True, n=max((r.n for r in rows), default=0) + 1, purpose="data"))
    store.keyring.refresh()  # this process seals with the new key from now on
    return kid


# ---- re-sealing ------------------------------------------------------------------------------------

def _batches(engine, table: Table, stored: list[_Stored], batch: int) -> Iterator[list]:
    """Keyset pages of (primary key..., raw stored value of each sealed column)."""
    pk = list(table.primary_key.columns)
    raw = [s.raw().label(f"raw_{i}") for i, s in enumerate(stored)]
    last = None
    while True:
        q = select(*pk, *raw).order_by(*pk).limit(batch)
        if last is not None:
            q = q.where(pk[0] > last[0]) if len(pk) == 1 else q.where(tuple_(*pk) > tuple_(*last))
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][: len(pk)])


def reencrypt_columns(store: Store, metadata: MetaData | None = None, batch: int = BATCH,
                      progress: Progress | None = None) -> Counter:
    """Re-seal every sealed column value not sealed with the active key (legacy plaintext included)."""
    keyring, dialect = store.keyring, store.engine.dialect
    counts: Counter = Counter()
    for table, stored in _stored_columns(store.engine, metadata):
        for rows in _batches(store.engine, table, stored, batch):
            # Read outside, written back in a short transaction of its own with no read in it (no stale
            # snapshot on SQLite): a running service waits milliseconds for the write lock, not the whole run.
            with store.engine.begin() as conn:
                _reseal_rows(conn, table, stored, rows, keyring, dialect, counts)
        if progress:
            progress(f"columns of {table.name}: done")
    return counts


def _reseal_rows(conn, table: Table, stored: list[_Stored], rows: list, keyring: Keyring, dialect,
                 counts: Counter) -> None:
    pk = list(table.primary_key.columns)
    for row in rows:
        key = row[: len(pk)]
        for i, col in enumerate(stored):
            raw = _stored_value(row[len(pk) + i])
            if raw is None:
                continue
            sealed, value = col.read(raw)
            if value is JSON_NULL:
                continue
            if sealed is not None:
                if keyring.text_key_of(sealed) == keyring.active:
                    counts["current"] += 1
                    continue
                try:
                    value = col.column.type.process_result_value(sealed, dialect)
                except (CiphertextError, ValueError):
                    counts["unreadable"] += 1
                    continue
            # Written back through the column's type: sealed with the active key. Only if unchanged since
            # read: a concurrent writer's newer value wins (it is sealed already).
            where = [c == v for c, v in zip(pk, key)] + [col.guard(raw)]
            done = conn.execute(update(table).where(*where).values({col.column: value})).rowcount
            counts[("resealed" if sealed is not None else "sealed") if done else "changed"] += 1


def reencrypt_files(store: Store, progress: Progress | None = None) -> tuple[Counter, list[str]]:
    """Re-seal (or seal, if plaintext) every file the store keeps sealed; returns counts and unreadable paths."""
    counts: Counter = Counter()
    unreadable: list[str] = []
    for path, kind in sealed_files_of(store.settings):
        try:
            counts[reseal_file(path, store.keyring, kind)] += 1
        except FileNotFoundError:
            continue  # removed meanwhile (a pruned checkpoint, a swapped dataset folder)
        except CiphertextError as e:
            counts["unreadable"] += 1
            unreadable.append(str(e))
    for path in question_logs.log_files(store):  # sealed line by line, each re-sealed (appends go on)
        try:
            lines = question_logs.reseal_log(path, store.keyring)
        except FileNotFoundError:
            continue  # pruned meanwhile
        if lines["unreadable"]:
            counts["unreadable"] += 1
            unreadable.append(f"{path}: {lines['unreadable']} line(s) did not open, left as they are")
        else:
            counts["resealed" if lines["resealed"] else "current"] += 1
    if progress:
        progress(f"files: {sum(counts.values())} checked")
    return counts, unreadable


def reencrypt(store: Store, metadata: MetaData | None = None, batch: int = BATCH,
              progress: Progress | None = None) -> dict[str, Any]:
    """Columns, files, the evaluation cache: all sealed with the active key; then retire what seals nothing."""
    from lextune.core.config import EVAL_CACHE
    from lextune.evals.result_cache import reseal_cache

    columns = reencrypt_columns(store, metadata, batch, progress)
    files, unreadable = reencrypt_files(store, progress)
    cache = reseal_cache(Path(store.settings.home) / EVAL_CACHE, store.keyring, batch)
    teacher = teacher_cache.reseal_cache(Path(store.settings.home) / teacher_cache.CACHE_FILE, store.keyring)
    return {"active": store.keyring.active, "columns": dict(columns), "files": dict(files),
            "eval_cache": cache, "teacher_cache": teacher, "unreadable": unreadable,
            "retired": retire(store, metadata)}


# ---- what each key seals ---------------------------------------------------------------------------

def key_usage(store: Store, metadata: MetaData | None = None) -> dict[str | None, Counter]:
    """Per data key id (None: plaintext where a sealed value belongs): records, files, cache values."""
    from lextune.core.config import EVAL_CACHE
    from lextune.evals.result_cache import cache_key_counts

    usage: dict[str | None, Counter] = {}
    keyring = store.keyring
    for table, stored in _stored_columns(store.engine, metadata):
        with store.engine.connect() as conn:
            for col in stored:
                raw = col.raw()
                for (value,) in conn.execute(select(raw).where(col.column.is_not(None))):
                    sealed, plain = col.read(_stored_value(value))
                    if plain is not JSON_NULL:
                        kid = None if sealed is None else keyring.text_key_of(sealed)
                        usage.setdefault(kid, Counter())["records"] += 1
    for path, _kind in sealed_files_of(store.settings):
        try:
            kid = sealed_key_id(path)
        except FileNotFoundError:
            continue
        usage.setdefault(kid, Counter())["files"] += 1
    for path in question_logs.log_files(store):  # a log counts once for each key sealing a line of it
        try:
            kids = question_logs.log_key_ids(path, keyring)
        except FileNotFoundError:
            continue
        for kid in kids:
            usage.setdefault(kid, Counter())["files"] += 1
    for kid, n in cache_key_counts(Path(store.settings.home) / EVAL_CACHE, keyring).items():
        usage.setdefault(kid, Counter())["eval_cache"] += n
    teacher = Path(store.settings.home) / teacher_cache.CACHE_FILE
    for kid, n in teacher_cache.cache_key_counts(teacher, keyring).items():
        usage.setdefault(kid, Counter())["teacher_cache"] += n
    return usage


def retire(store: Store, metadata: MetaData | None = None) -> list[str]:
    """Mark retired the older data keys that seal nothing now; returns their ids."""
    usage = key_usage(store, metadata)
    retired = []
    with Session(store.engine) as s, s.begin():
        for r in s.scalars(select(DataKeyRow).where(DataKeyRow.purpose == "data", DataKeyRow.id != store.keyring.active)):
            if not sum(usage.get(r.id, Counter()).values()):
                r.purpose, r.active = RETIRED, False
                retired.append(r.id)
    return retired


def delete_retired(store: Store, metadata: MetaData | None = None) -> list[str]:
    """Delete retired keys that (counted again now) seal nothing; ones still in use are kept."""
    usage = key_usage(store, metadata)
    deleted = []
    with Session(store.engine) as s, s.begin():
        for r in s.scalars(select(DataKeyRow).where(DataKeyRow.purpose == RETIRED)):
            if not sum(usage.get(r.id, Counter()).values()):
                s.delete(r)
                deleted.append(r.id)
    return deleted


# ---- a new master key ------------------------------------------------------------------------------

def rewrap(engine, current: KeyProvider, new: KeyProvider) -> int:
    """Every data key of the store wrapped by `new` instead of `current`, in one transaction; returns how
    many changed. Keys already under `new` are skipped, so a run that stopped half-way can be repeated."""
    changed = 0
    with Session(engine) as s, s.begin():
        for r in s.scalars(select(DataKeyRow)):
            if r.master_key_id == new.key_id:
                continue
            if r.master_key_id != current.key_id:
                raise MasterKeyError(f"data key {r.id} is wrapped by master key {r.master_key_id}, neither the "
                                     f"current ({current.key_id}) nor the new one ({new.key_id})")
            r.wrapped, r.master_key_id = new.wrap(current.unwrap(r.wrapped)), new.key_id
            changed += 1
    return changed


def key_rows(store: Store) -> list[DataKeyRow]:
    with Session(store.engine) as s:
        rows = list(s.scalars(select(DataKeyRow).order_by(DataKeyRow.n, DataKeyRow.id)))
        for r in rows:
            s.expunge(r)
        return rows


def describe_keys(store: Store, metadata: MetaData | None = None) -> dict[str, Any]:
    """What `lextune keys status` shows: ids, state, dates, master key ids, counts. Never key material."""
    usage = key_usage(store, metadata)
    keys = []
    for r in key_rows(store):
        state = "index" if r.purpose == "index" else RETIRED if r.purpose == RETIRED else (
            "active" if r.id == store.keyring.active else "previous")
        seals = dict(usage.get(r.id, Counter())) if r.purpose != "index" else {}
        keys.append({"id": r.id, "purpose": r.purpose, "state": state, "active": r.id == store.keyring.active,
                     "created_at": r.created_at.isoformat() if r.created_at else None,
                     "master_key_id": r.master_key_id, "seals": seals})
    unknown = {k: dict(v) for k, v in usage.items() if k is not None and k not in {r["id"] for r in keys}}
    return {"store": str(store.settings.home), "active": store.keyring.active, "keys": keys,
            "plaintext": dict(usage.get(None, Counter())), "unknown_keys": unknown}

