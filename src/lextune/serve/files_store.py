"""Uploaded files for the OpenAI-compatible API, and chat JSONL files turned into lextune datasets.

Each file is LEXTUNE_HOME/files/<id> (the bytes as uploaded) plus <id>.json (its OpenAI file object);
both are written through a temp file and a rename, the sidecar last, so a listing never shows a file
whose bytes are not whole. Fine-tuning files are checked at upload, line by line. Both are sealed at
rest (kind "upload": client text, and a file name that may name the client); the upload is checked
and sealed in memory, so its plaintext never reaches the disk. Files stored before sealing read as is.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from lextune.core import audit
from lextune.core.atomic import atomic_dir
from lextune.core.errors import DatasetError, NotFoundError
from lextune.core.records import DatasetInfo, DatasetRow
from lextune.core.store import Store
from lextune.core.tables import DatasetRowDB
from lextune.data.dataset import write_manifest
from lextune.data.exporters import openai_chat_problems
from lextune.security.keyring import CiphertextError, Keyring
from lextune.security.sealed_files import (
    DATASET,
    UPLOAD,
    read_sealed_bytes,
    write_sealed_bytes,
    write_sealed_text,
)

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
CHAT_TASK = "chat"  # the task of rows imported from chat JSONL (lextune's builders name their own)
_ID = re.compile(r"file-[0-9a-f]{24}")
_SHOWN_PROBLEMS = 5


class FileObject(BaseModel):
    """OpenAI's file object, as stored in the sidecar and returned by the API."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None
    expires_at: int | None = None


class FileFormatError(DatasetError):
    """An uploaded fine-tuning file is not chat JSONL; the message names the lines."""


def files_dir(home: Path) -> Path:
    return home / "files"


def _paths(home: Path, file_id: str) -> tuple[Path, Path]:
    # The id becomes a file name: only ids this module made may reach the file system.
    if not _ID.fullmatch(file_id):
        raise NotFoundError(f"no file '{file_id}'")
    folder = files_dir(home)
    return folder / file_id, folder / f"{file_id}.json"


def chat_jsonl_problems(data: bytes, min_examples: int = 1) -> list[str]:
    """What keeps the bytes from being chat fine-tuning JSONL, as "line N: problem"; [] when they are."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return [f"byte {e.start}: not UTF-8 text"]
    return [p if p.startswith("file:") else f"line {p}" for p in openai_chat_problems(text, min_examples=min_examples)]


def describe_problems(name: str, problems: list[str]) -> str:
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
    return f"{name} is not chat fine-tuning JSONL: {shown}{more}"


def save_upload(home: Path, source: BinaryIO, filename: str, purpose: str, *, keyring: Keyring) -> FileObject:
    """Store an upload, sealed; a fine-tuning file must be chat JSONL (FileFormatError names the bad lines)."""
    data = source.read()  # checked and sealed in memory: no plaintext copy on disk, even for a moment
    if purpose == "fine-tune":
        problems = chat_jsonl_problems(data)
        if problems:
            raise FileFormatError(describe_problems(filename, problems))
    # Time-ordered ids (microseconds, then random): listing order survives same-second uploads.
    file_id = f"file-{time.time_ns() // 1000:013x}{uuid.uuid4().hex[:11]}"
    path, meta = _paths(home, file_id)
    write_sealed_bytes(path, data, keyring, UPLOAD)
    record = FileObject(id=file_id, bytes=len(data), created_at=int(time.time()),
                        filename=Path(filename).name or "upload", purpose=purpose)
    write_sealed_text(meta, record.model_dump_json(), keyring, UPLOAD)
    return record


def _record(meta: Path, keyring: Keyring) -> FileObject:
    return FileObject.model_validate_json(read_sealed_bytes(meta, keyring, UPLOAD))


def get_file(home: Path, file_id: str, *, keyring: Keyring) -> FileObject:
    data, meta = _paths(home, file_id)
    if not meta.is_file() or not data.is_file():
        raise NotFoundError(f"no file '{file_id}'")
    return _record(meta, keyring)


def content_bytes(home: Path, file_id: str, *, keyring: Keyring) -> bytes:
    """The bytes exactly as uploaded (opened in memory); CiphertextError names a corrupted file."""
    get_file(home, file_id, keyring=keyring)
    return read_sealed_bytes(_paths(home, file_id)[0], keyring, UPLOAD)


def list_files(home: Path, purpose: str | None = None, *, keyring: Keyring) -> list[FileObject]:
    """Every stored file, oldest first (ids are time-ordered, so pages are stable)."""
    folder = files_dir(home)
    found = []
    for meta in folder.glob("file-*.json") if folder.is_dir() else []:
        try:
            record = _record(meta, keyring)
        except (OSError, ValueError, CiphertextError):
            continue  # deleted meanwhile, not ours, or damaged (reading it names the file)
        if purpose is None or record.purpose == purpose:
            found.append(record)
    return sorted(found, key=lambda f: f.id)


def delete_file(home: Path, file_id: str, *, keyring: Keyring) -> None:
    data, meta = _paths(home, file_id)
    get_file(home, file_id, keyring=keyring)
    meta.unlink(missing_ok=True)  # the sidecar first: a half-deleted file is already invisible
    data.unlink(missing_ok=True)


# ---- chat JSONL -> dataset ---------------------------------------------------------------------

def chat_rows(home: Path, file_id: str, split: Literal["train", "dev"], *, keyring: Keyring) -> list[DatasetRow]:
    """The file's examples as dataset rows; each names the file as its document and its line in meta."""
    data = content_bytes(home, file_id, keyring=keyring)
    problems = chat_jsonl_problems(data)
    if problems:
        raise FileFormatError(describe_problems(file_id, problems))
    rows = []
    for n, line in enumerate(data.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        messages = [{"role": m["role"], "content": m["content"]} for m in json.loads(line)["messages"]]
        rows.append(DatasetRow(id=f"{file_id}-{n}", task=CHAT_TASK, split=split, messages=messages,
                               answer=messages[-1]["content"], document_id=file_id, builder="openai_files",
                               meta={"file_id": file_id, "line": n}))
    return rows


def register_chat_dataset(store: Store, training_file: str, validation_file: str | None = None) -> DatasetInfo:
    """The dataset of these files (train split, dev split), registered once; the same files give the same id."""
    home = store.settings.home
    rows = {"train": chat_rows(home, training_file, "train", keyring=store.keyring),
            "dev": chat_rows(home, validation_file, "dev", keyring=store.keyring) if validation_file else [],
            "test": []}
    lines = {sp: "".join(r.model_dump_json(exclude_none=True) + "\n" for r in rs) for sp, rs in rows.items()}
    sha = hashlib.sha256("".join(lines.values()).encode()).hexdigest()
    ds_id = "ds-" + sha[:12]
    name = f"ft-{training_file}"
    counts = {sp: ({CHAT_TASK: len(rs)} if rs else {}) for sp, rs in rows.items()}
    manifest = {"id": ds_id, "name": name, "sha256": sha, "counts": counts,
                "source": {"kind": "openai_files", "training_file": training_file,
                           "validation_file": validation_file}}
    final = store.settings.datasets_dir / ds_id
    with store.session() as s:
        existing = s.get(DatasetRowDB, ds_id)
    if existing is None or not final.is_dir():
        with atomic_dir(final) as tmp:
            for sp, text in lines.items():
                write_sealed_text(tmp / f"{sp}.jsonl", text, store.keyring, DATASET)
            write_manifest(tmp / "manifest.json", manifest, store.keyring)
    info = DatasetInfo(id=ds_id, name=name, path=str(final), sha256=sha, counts=counts, clause_types=[])
    if existing is None:
        try:
            with store.session() as s:
                s.add(DatasetRowDB(id=ds_id, name=name, path=info.path, sha256=sha, counts=counts,
                                   clause_types=[], manifest=manifest))
                audit.record(s, "dataset.import", ds_id, {"counts": counts, **manifest["source"]})
        except IntegrityError:
            pass  # a concurrent request registered the same files first: same rows, same id
    return info
