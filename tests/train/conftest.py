"""A registered dataset of simple clause rows, for job-level tests (no vault, no builder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lextune.core.records import DatasetInfo, DatasetRow

LABELS = ["Governing Law", "Insurance", "Audit Rights", "Non-Compete"]


def clause_rows(n: int, split: str = "train") -> list[DatasetRow]:
    return [DatasetRow(
        id=f"{split}{i}", task="clause_type", split=split, document_id=f"d{i % 5}", answer=LABELS[i % 4],
        messages=[{"role": "user", "content": f"Passage {i}: " + "the parties agree " * (i % 7) + "Type?"},
                  {"role": "assistant", "content": LABELS[i % 4]}]) for i in range(n)]


def register_dataset(store, folder: Path, train: int = 24, dev: int = 6, name: str = "clauses") -> DatasetInfo:
    from lextune.core.tables import DatasetRowDB

    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("dev", dev)):
        (folder / f"{split}.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in clause_rows(n, split)))
    info = DatasetInfo(id=f"ds-{name}", name=name, path=str(folder), sha256="0" * 64,
                       counts={"train": {"clause_type": train}, "dev": {"clause_type": dev}}, clause_types=LABELS)
    with store.session() as s:
        s.add(DatasetRowDB(id=info.id, name=info.name, path=info.path, sha256=info.sha256, counts=info.counts,
                           clause_types=info.clause_types))
    return info


@pytest.fixture()
def dataset(store, tmp_path) -> DatasetInfo:
    return register_dataset(store, tmp_path / "dataset")
