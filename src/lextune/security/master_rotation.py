"""A new master key for the whole deployment: every store's data keys re-wrapped, then the key file swapped.

The master key is the deployment's: every tenant's store wraps its data keys with it (core.config.
tenant_settings), so all stores are re-wrapped, each in one transaction. A store already under the new
key is skipped, so a run that stopped half-way (power cut, a store offline) is simply run again. Only
wrapped data keys change: records and files are untouched, and open stores keep their unwrapped keys.
The default key file (home/keys/master.key) is replaced atomically last; a key given any other way
(LEXTUNE_MASTER_KEY, LEXTUNE_MASTER_KEY_FILE, a KMS hook) is the operator's to change: `todo` says how.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from lextune.core.audit_key import _parse
from lextune.core.config import Settings
from lextune.core.store import Store
from lextune.core.tables_security import TenantRow
from lextune.security.master_key import LocalMasterKey, MasterKeyError, load_master, new_master_key_file
from lextune.security.rotation import rewrap


def new_master(file: Path | None, env: str | None) -> tuple[LocalMasterKey, bytes, bool]:
    """(the new master key, its bytes, whether its file was just created) from a file or a variable."""
    if (file is None) == (env is None):
        raise MasterKeyError("give the new master key as --new-master-key-file PATH or --new-master-key-env VAR")
    created = False
    if file is not None:
        file = Path(file).expanduser()
        if not file.exists():
            new_master_key_file(file)  # a fresh random key, 0600
            created = True
        source = str(file)
        text = file.read_text(encoding="ascii", errors="replace")
    else:
        text = os.environ.get(env or "")
        if not text:
            raise MasterKeyError(f"${env} is not set: put the new master key (32 bytes, hex or base64) in it")
        source = f"${env}"
    raw = _parse(text, source)
    return LocalMasterKey(raw, source), raw, created


def _uses_default_file(root: Settings) -> bool:
    return root.key_provider is None and root.master_key is None and root.master_key_file is None


def _replace_key_file(path: Path, raw: bytes) -> None:
    """The new key in place of the old, atomically (a reader sees one key or the other, whole), 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(raw.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open(settings: Settings, raw: bytes) -> Store:
    """The store, opened with the current master key, or with the new one if a previous run re-wrapped it."""
    try:
        return Store(settings)
    except MasterKeyError:
        return Store(settings.model_copy(update={"master_key": SecretStr(raw.hex()), "key_provider": None}))


def _all_settings(root: Settings, root_store: Store) -> list[Settings]:
    from lextune.core.config import DEFAULT_TENANT, tenant_settings

    with root_store.session() as s:
        slugs = [t for t in s.scalars(select(TenantRow.slug)) if t != DEFAULT_TENANT]
    return [tenant_settings(root, slug) for slug in sorted(slugs)]


def rotate_master(root: Settings, new: LocalMasterKey, raw: bytes) -> dict[str, Any]:
    """Re-wrap every store's data keys under `new`; swap the default key file. Prints nothing secret."""
    current = load_master(root, create=False)
    if current is None:
        raise MasterKeyError("no current master key: set LEXTUNE_MASTER_KEY, LEXTUNE_MASTER_KEY_FILE or "
                             f"LEXTUNE_KEY_PROVIDER (looked for {root.master_key_path})")
    if current.key_id == new.key_id:
        raise MasterKeyError(f"the new master key is the current one ({new.key_id}): give another key")
    stores: list[dict[str, Any]] = []
    root_store = _open(root, raw)
    try:
        todo = [root, *_all_settings(root, root_store)]
    finally:
        root_store.close()
    for settings in todo:
        store = _open(settings, raw)
        try:
            stores.append({"store": str(settings.home), "rewrapped": rewrap(store.engine, current, new)})
        finally:
            store.close()
    replaced = None
    if _uses_default_file(root):
        _replace_key_file(root.master_key_path, raw)
        replaced = str(root.master_key_path)
    return {"previous_master_key_id": current.key_id, "master_key_id": new.key_id, "stores": stores,
            "key_file_replaced": replaced, "todo": _todo(root, new, replaced)}


def _todo(root: Settings, new: LocalMasterKey, replaced: str | None) -> list[str]:
    """What the operator must still do: lextune cannot change how the key reaches other processes."""
    given = f"the new key ({new.source})"
    if replaced:
        out = [(f"{replaced} now holds the new master key; running lextune processes read it when they next "
               "need to unwrap a data key")]
        if not new.source.startswith("$"):
            out.append(f"{new.source} holds a copy of it: keep it only in your secrets store, or delete it")
    elif root.master_key is not None:
        out = [f"set LEXTUNE_MASTER_KEY to {given} wherever lextune runs, and restart those processes"]
    elif root.key_provider:
        out = [(f"the stores now need {given}: unset LEXTUNE_KEY_PROVIDER and point LEXTUNE_MASTER_KEY_FILE "
               "at it (or LEXTUNE_MASTER_KEY), then restart lextune's processes")]
    else:
        out = [(f"replace {root.master_key_path} with {given} (or point LEXTUNE_MASTER_KEY_FILE at it), "
               "and restart lextune's processes")]
    out.append("backups of the database made before now need the previous master key to be restored")
    return out
