"""Fixtures of the privilege tests (a pytest plugin, registered by tests/conftest.py: a second conftest.py would shadow
the root one for `from conftest import ...`): a small slice of the SYNTHETIC sample, and the trained model once."""

from __future__ import annotations

import json

import pytest

from lextune.privilege.features import Lexicon
from lextune.privilege.pipeline import train_default
from lextune.privilege.training import load_training


@pytest.fixture(scope="session")
def sample():
    return load_training().splits


@pytest.fixture(scope="session")
def trained():
    return train_default(Lexicon.synthetic_default())


@pytest.fixture()
def slice_file(sample, tmp_path):
    """30 test-split documents as an input JSONL (labels removed, as in a real production)."""
    path = tmp_path / "docs.jsonl"
    rows = [d.model_dump(exclude={"label", "split", "kind"}) for d in sample["test"][:30]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
