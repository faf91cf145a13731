"""Load (or, for a new store, create) a store's keyring from its wrapped data keys."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lextune.core.config import Settings
from lextune.core.tables_security import DataKeyRow
from lextune.security.keyring import Keyring, new_key_id
from lextune.security.master_key import KeyProvider, MasterKeyError, load_master, random_data_key

RETIRED = "retired"  # purpose of a data key whose records were all re-sealed with a newer key


def _rows(engine: Engine) -> list[DataKeyRow]:
    with Session(engine) as s:
        return list(s.scalars(select(DataKeyRow).order_by(DataKeyRow.n, DataKeyRow.id)))


def _missing_master(settings: Settings, rows: list[DataKeyRow]) -> MasterKeyError:
    wrapped_by = sorted({r.master_key_id for r in rows})
    return MasterKeyError(
        f"this store's data is encrypted ({len(rows)} data keys, wrapped by master key {', '.join(wrapped_by)}) "
        f"and no master key was found: set LEXTUNE_MASTER_KEY, LEXTUNE_MASTER_KEY_FILE or LEXTUNE_KEY_PROVIDER "
        f"(looked for {settings.master_key_path}); lextune never falls back to plaintext")


def _create(engine: Engine, master: KeyProvider) -> None:
    with Session(engine) as s, s.begin():
        if s.scalars(select(DataKeyRow).limit(1)).first() is not None:
            return  # another process created them first
        s.add(DataKeyRow(id=new_key_id(), wrapped=master.wrap(random_data_key()), master_key_id=master.key_id,
                         active=False, n=0, purpose="index"))
        s.add(DataKeyRow(id=new_key_id(), wrapped=master.wrap(random_data_key()), master_key_id=master.key_id,
                         active=True, n=1, purpose="data"))


def unwrap_all(rows: list[DataKeyRow], master: KeyProvider) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for r in rows:
        if r.master_key_id != master.key_id:
            raise MasterKeyError(f"data key {r.id} is wrapped by master key {r.master_key_id}, but the master key "
                                 f"given is {master.key_id}: give the key this store was encrypted with")
        keys[r.id] = master.unwrap(r.wrapped)
    return keys


def load_keyring(engine: Engine, settings: Settings) -> Keyring:
    """The store's keyring; raises MasterKeyError when the store is encrypted and no key opens it."""
    rows = _rows(engine)
    master = load_master(settings, create=not rows)
    if master is None:
        raise _missing_master(settings, rows)
    if not rows:
        _create(engine, master)
        rows = _rows(engine)
    keys = unwrap_all(rows, master)
    data = [r for r in rows if r.purpose == "data"]
    index = [r for r in rows if r.purpose == "index"]
    if not data or not index:
        raise MasterKeyError("the store's keyring is incomplete (no data key or no index key): restore data_keys")
    active = max((r for r in data if r.active), key=lambda r: (r.n, r.id), default=data[-1])
    # Retired keys (`keys rotate --reencrypt`: nothing was left sealed with them) still open: a process that
    # sealed with one before it saw the rotation, or a restored backup, stays readable. They never seal.
    data_keys = {r.id: keys[r.id] for r in rows if r.purpose in ("data", RETIRED)}
    return Keyring(data_keys, active.id, keys[index[0].id], reload=lambda: load_keyring(engine, settings))
