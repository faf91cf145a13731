"""Files sealed at rest: datasets, uploads, adapters, checkpoints and reports under LEXTUNE_HOME.

A sealed file is the keyring's file format (magic LXENC1, data key id, nonce, AES-GCM ciphertext) with
the file's *kind* ("dataset", "upload", "adapter", ...) as associated data, so a ciphertext copied to
another kind of file fails to open instead of being read as that file. Writes go through a temp
file in the same folder and os.replace (core/atomic.py's approach): a reader sees the old file or
the new one, and the temp file holds ciphertext only.

Legacy plaintext: a file without the magic header is read as it is. An installation upgraded to
sealing still has the plaintext files it wrote before (and users hand lextune plaintext files of
their own, e.g. `eval --task clause_type:FILE`); refusing them would break it on upgrade, and
`lextune keys rotate --reencrypt` seals every one of them. `sealed_files_of` lists what belongs
sealed, so `keys status` shows how many are still plaintext.

What is written to a path the user names (`--out`, `--html`, `--json-file`, `models export`) stays
plaintext: that is an explicit export, made to be read elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lextune.core import atomic
from lextune.core.config import Settings, get_settings
from lextune.security.keyring import FILE_MAGIC, CiphertextError, Keyring

__all__ = ["CiphertextError", "is_sealed", "keyring_for", "read_sealed_bytes", "read_sealed_text", "reseal_file",
           "sealed_files_of", "sealed_key_id", "write_sealed_bytes", "write_sealed_text"]

# Kinds: the associated data of each sort of file.
DATASET = "dataset"  # split JSONL, exports, manifest, the audit page of a dataset folder, remote job snapshots
UPLOAD = "upload"  # /v1/files: the bytes and their file object
ADAPTER = "adapter"  # a model version's weights and card
CHECKPOINT = "checkpoint"  # a training job's resumable state (adapter, optimizer, RNG)
REPORT = "report"  # reports lextune keeps under its home (eval compare's default page)
REVIEW_SESSION = "review-session"  # the review screen's session signing secret (serve/review_sessions.py)

# Files of a model version folder that hold weights or text about the training. adapter_config.json
# (hyperparameters, the base model's path) and tokenizer files stay plain: loaders read them as is.
ADAPTER_SEALED = frozenset({"adapter_model.safetensors", "adapter_model.bin", "model_card.json", "README.md",
                            "trainer_state.json", "training_args.bin"})
_HEADER = len(FILE_MAGIC) + 8  # magic + data key id


# ---- the keyring of a store ----------------------------------------------------------------------

_STORES: OrderedDict[tuple, Any] = OrderedDict()
_STORES_LOCK = threading.Lock()
_MAX_STORES = 16  # tests open a store per temporary home; old ones are closed, not leaked


def keyring_for(settings: Settings | None = None) -> Keyring:
    """The keyring of the store at `settings` (default: the environment's), opened once per process.

    Raises MasterKeyError (naming what to set) when the store is encrypted and no master key opens it.
    """
    settings = settings or get_settings()
    key = (settings.db_url, settings.database_schema, str(Path(settings.home).expanduser().resolve()))
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            from lextune.core.store import Store

            store = _STORES[key] = Store(settings)
            while len(_STORES) > _MAX_STORES:
                # Closing only drops pooled connections: a keyring still in use reconnects to reload.
                _STORES.popitem(last=False)[1].close()
        _STORES.move_to_end(key)
        return store.keyring


def keyring_for_file(path: Path, settings: Settings | None = None) -> Keyring:
    """The keyring of the store that owns `path`: a tenant's when the path lies in its folder
    (home/tenants/<slug>, see core.config.tenant_settings), else the store at `settings`."""
    settings = settings or get_settings()
    try:
        rel = Path(path).resolve().relative_to(Path(settings.home).expanduser().resolve())
    except ValueError:
        return keyring_for(settings)
    if len(rel.parts) > 2 and rel.parts[0] == "tenants":
        from lextune.core.config import tenant_settings

        return keyring_for(tenant_settings(settings, rel.parts[1]))
    return keyring_for(settings)


def forget_keyrings() -> None:
    """Close the stores `keyring_for` opened (tests; a process that swaps its master key)."""
    with _STORES_LOCK:
        while _STORES:
            _STORES.popitem()[1].close()


# ---- reading and writing -------------------------------------------------------------------------

def is_sealed(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(FILE_MAGIC)) == FILE_MAGIC


def sealed_key_id(path: Path) -> str | None:
    """The data key that sealed the file; None for a plaintext file."""
    with open(path, "rb") as f:
        head = f.read(_HEADER)
    return head[len(FILE_MAGIC):].hex() if head.startswith(FILE_MAGIC) and len(head) == _HEADER else None


def open_bytes(blob: bytes, keyring: Keyring | None, kind: str, where: str) -> bytes:
    """The plaintext of a file's bytes: opened when sealed, as is when plaintext (legacy).

    `keyring` None: the keyring of the store owning the file `where` (keyring_for_file), looked up only
    when there is something to open.
    """
    if not blob.startswith(FILE_MAGIC):
        return blob
    return (keyring or keyring_for_file(Path(where))).open_file_bytes(blob, kind, where)


def read_sealed_bytes(path: Path, keyring: Keyring | None, kind: str) -> bytes:
    """A file's plaintext; CiphertextError naming the file when a sealed one does not open.

    `keyring` None: the owning store's (keyring_for_file), looked up only if the file is sealed.
    """
    path = Path(path)
    return open_bytes(path.read_bytes(), keyring, kind, str(path))


def read_sealed_text(path: Path, keyring: Keyring | None, kind: str) -> str:
    return read_sealed_bytes(path, keyring, kind).decode("utf-8")


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """`data` to `path` through a private temp file in the same folder and os.replace."""
    atomic.write_bytes(path, data, mode)


def write_sealed_bytes(path: Path, data: bytes, keyring: Keyring, kind: str) -> None:
    """Seal `data` with the keyring's active data key and write it atomically (only ciphertext on disk)."""
    write_bytes_atomic(Path(path), keyring.seal_file_bytes(data, kind))


def write_sealed_text(path: Path, text: str, keyring: Keyring, kind: str) -> None:
    write_sealed_bytes(path, text.encode("utf-8"), keyring, kind)


def write_maybe_sealed(path: Path, data: bytes | str, keyring: Keyring | None, kind: str) -> None:
    """Sealed with `keyring`; plaintext without one (an export to a path the user named)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if keyring is None:
        write_bytes_atomic(Path(path), raw)
    else:
        write_sealed_bytes(path, raw, keyring, kind)


# ---- scratch space for libraries that only write files ---------------------------------------------

def memory_dir() -> Path | None:
    """A RAM-backed folder (Linux /dev/shm) for plaintext that must pass through files; None where absent."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextmanager
def scratch_dir(fallback: Path, need_bytes: int = 0) -> Iterator[Path]:
    """A private temp folder in memory when there is room, else under `fallback` (on disk); removed after."""
    base = memory_dir()
    if base is not None and need_bytes and shutil.disk_usage(base).free < 2 * need_bytes:
        base = None
    if base is None:
        fallback.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=base or fallback, prefix=".lextune-scratch-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def seal_tree(src: Path, dst: Path, keyring: Keyring, kind: str) -> None:
    """Every file of folder `src`, sealed, at the same relative path under `dst`."""
    for f in sorted(src.rglob("*")):
        if f.is_file():
            write_sealed_bytes(dst / f.relative_to(src), f.read_bytes(), keyring, kind)


def open_tree(src: Path, dst: Path, keyring: Keyring | None, kind: str) -> None:
    """Every file of folder `src`, opened, under `dst` (a scratch_dir: plaintext stays in memory)."""
    for f in sorted(src.rglob("*")):
        if f.is_file():
            write_bytes_atomic(dst / f.relative_to(src), read_sealed_bytes(f, keyring, kind))


# ---- what belongs sealed, for rotation and status ----------------------------------------------------

def _visible(path: Path, root: Path) -> bool:
    # Temp files and folders (".x.tmp", ".step-N.tmp", purge copies) are mid-write: not ours to touch.
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def _files(root: Path, pattern: str) -> Iterator[Path]:
    if root.is_dir():
        for p in sorted(root.glob(pattern)):
            if p.is_file() and _visible(p, root):
                yield p


def sealed_files_of(settings: Settings) -> Iterator[tuple[Path, str]]:
    """(path, kind) of every file this store keeps sealed (or should: legacy plaintext ones too)."""
    home = Path(settings.home)
    yield from ((p, DATASET) for p in _files(settings.datasets_dir, "**/*"))
    yield from ((p, UPLOAD) for p in _files(home / "files", "file-*"))
    yield from ((p, ADAPTER) for p in _files(settings.versions_dir, "*/*") if p.name in ADAPTER_SEALED)
    yield from ((p, CHECKPOINT) for p in _files(home / "jobs", "*/checkpoints/step-*/**/*"))
    yield from ((p, DATASET) for p in _files(home / "jobs", "*/*.openai.jsonl"))
    yield from ((p, REPORT) for p in _files(home / "reports", "**/*"))
    yield from ((p, REVIEW_SESSION) for p in _files(home / "review", "session-secret"))


def reseal_file(path: Path, keyring: Keyring, kind: str) -> str:
    """Seal `path` with the active data key: "sealed" (it was plaintext), "resealed" (an older key)
    or "current" (nothing to do). A file rewritten meanwhile is left alone (its writer sealed it)."""
    before = path.stat()
    blob = path.read_bytes()
    if blob.startswith(FILE_MAGIC) and blob[len(FILE_MAGIC):_HEADER].hex() == keyring.active:
        return "current"
    plain = open_bytes(blob, keyring, kind, str(path))
    sealed = keyring.seal_file_bytes(plain, kind)
    after = path.stat()
    if (after.st_ino, after.st_mtime_ns, after.st_size) != (before.st_ino, before.st_mtime_ns, before.st_size):
        return "current"
    atomic.write_bytes(path, sealed, before.st_mode & 0o777)
    return "resealed" if blob.startswith(FILE_MAGIC) else "sealed"
