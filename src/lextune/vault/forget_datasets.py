"""Lineage of an erasure: which datasets hold rows from forgotten documents, and purging those rows.

Dataset rows live in JSONL files on disk (`train.jsonl`, `dev.jsonl`, `test.jsonl`, plus the exports
under `exports/FORMAT/SPLIT.jsonl`, one line per row in the same order). A row belongs to a document
when its `document_id` is that document or one of its `chunk_ids` is one of that document's chunks
(`DOC:NNNN`): a builder may quote another document's passage. Only files are read and written here
(the vault stands below `data`, so nothing of `lextune.data` is imported). Every file is sealed at rest
(lextune.security.sealed_files, kind "dataset"): read through the keyring, written back sealed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, computed_field

from lextune.core.atomic import replace_dir
from lextune.security.keyring import Keyring
from lextune.security.sealed_files import DATASET, read_sealed_text, write_sealed_text

SPLITS = ("train", "dev", "test")


class AffectedDataset(BaseModel):
    """A dataset with rows from a forgotten document (counts only, never the rows)."""

    id: str
    name: str
    path: str
    rows: dict[str, int] = Field(default_factory=dict)  # split -> rows from the forgotten documents
    purged: bool = False  # rows removed from its files (--purge-datasets)
    previous_sha256: str | None = None
    sha256: str | None = None  # after the purge
    exports_removed: list[str] = Field(default_factory=list)  # export files that could not be filtered

    @computed_field  # type: ignore[prop-decorator]
    @property
    def n_rows(self) -> int:
        return sum(self.rows.values())


def _belongs(line: str, doc_ids: set[str]) -> bool:
    """Whether one JSONL row comes from (or quotes a chunk of) one of the documents."""
    if not any(d in line for d in doc_ids):  # cheap: most rows name none of them
        return False
    row = json.loads(line)
    if row.get("document_id") in doc_ids:
        return True
    return any(str(c).split(":", 1)[0] in doc_ids for c in row.get("chunk_ids") or [])


def _lines(path: Path, keyring: Keyring | None) -> list[str]:
    # split("\n"), not splitlines(): U+2028 and friends may sit unescaped inside JSON strings.
    return [ln for ln in read_sealed_text(path, keyring, DATASET).split("\n") if ln.strip()]


def scan_dataset(folder: Path, doc_ids: set[str], keyring: Keyring | None = None) -> dict[str, int]:
    """Rows per split that come from these documents (0 everywhere: the dataset is not affected).

    Raises OSError or ValueError when a split file cannot be read: the caller reports it as unchecked.
    """
    out: dict[str, int] = {}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if path.is_file():
            n = sum(1 for ln in _lines(path, keyring) if _belongs(ln, doc_ids))
            if n:
                out[split] = n
    return out


def _counts(lines: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in lines:
        task = json.loads(ln).get("task", "")
        out[task] = out.get(task, 0) + 1
    return out


def prepare_purge(folder: Path, doc_ids: set[str], mark: dict[str, Any],
                  keyring: Keyring | None = None) -> tuple[Path, dict[str, Any]]:
    """A full copy of the dataset folder without the documents' rows, beside it, not yet swapped in.

    Split files and the exports aligned with them are filtered line by line (the kept lines stay
    byte-identical), the manifest's counts and sha256 are recomputed as `data build` computes them
    (sha256 over the train, dev and test lines in order) and the erasure is appended to its
    `erasures`. An export whose lines do not align with its split is removed (it is derived: export
    again). Returns (the temp folder, facts: counts, sha256, previous_sha256, exports_removed,
    manifest). The caller swaps it in with `commit_purge`, or deletes it. Files are written back sealed
    with `keyring` (default: the environment's store's).
    """
    if keyring is None:
        from lextune.security.sealed_files import keyring_for

        keyring = keyring_for()
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".purge"))
    try:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
        kept_all: list[str] = []
        counts: dict[str, dict[str, int]] = {}
        removed_exports: list[str] = []
        for split in SPLITS:
            path = tmp / f"{split}.jsonl"
            if not path.is_file():
                continue
            lines = _lines(path, keyring)
            keep = [not _belongs(ln, doc_ids) for ln in lines]
            kept = [ln for ln, k in zip(lines, keep) if k]
            write_sealed_text(path, "".join(ln + "\n" for ln in kept), keyring, DATASET)
            kept_all.extend(kept)
            counts[split] = _counts(kept)
            for export in sorted((tmp / "exports").glob(f"*/{split}.*")) if (tmp / "exports").is_dir() else []:
                ex_lines = _lines(export, keyring) if export.suffix == ".jsonl" else None
                if ex_lines is None or len(ex_lines) != len(lines):
                    export.unlink()
                    removed_exports.append(str(export.relative_to(tmp)))
                    continue
                write_sealed_text(export, "".join(ln + "\n" for ln, k in zip(ex_lines, keep) if k), keyring, DATASET)
        sha = hashlib.sha256("".join(ln + "\n" for ln in kept_all).encode("utf-8")).hexdigest()
        manifest_path = tmp / "manifest.json"
        manifest: dict[str, Any] = {}
        if manifest_path.is_file():
            manifest = json.loads(read_sealed_text(manifest_path, keyring, DATASET))
        previous = manifest.get("sha256")
        manifest["counts"] = {**{sp: {} for sp in manifest.get("counts", {})}, **counts}
        manifest["sha256"] = sha
        manifest["erasures"] = [*manifest.get("erasures", []),
                                {**mark, "previous_sha256": previous, "sha256": sha,
                                 "exports_removed": removed_exports}]
        write_sealed_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n",
                          keyring, DATASET)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, {"counts": manifest["counts"], "sha256": sha, "previous_sha256": previous,
                 "exports_removed": removed_exports, "manifest": manifest}


def commit_purge(tmp: Path, folder: Path) -> None:
    """Swap the purged copy in: a reader sees the old folder or the new one, never half of one."""
    replace_dir(tmp, folder)
