"""Shared fixtures: an isolated LEXTUNE_HOME and a tiny random Llama with a ChatML tokenizer."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["privilege_fixtures"]  # fixtures of tests/privilege

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A fresh LEXTUNE_HOME for one test."""
    h = tmp_path / "home"
    monkeypatch.setenv("LEXTUNE_HOME", str(h))
    return h


@pytest.fixture()
def store(home):
    from lextune.core.store import Store

    s = Store()
    yield s
    s.close()


# ---- the store on each backend: SQLite, and PostgreSQL (a fresh schema per test) when one is given ----

POSTGRES_URL_ENV = "LEXTUNE_TEST_POSTGRES_URL"
_ISOLATING_ENV = ("LEXTUNE_DATABASE_URL", "LEXTUNE_DATABASE_SCHEMA", "LEXTUNE_AUDIT_KEY", "LEXTUNE_MASTER_KEY",
                  "LEXTUNE_KEY_PROVIDER", "LEXTUNE_AUDIT_ANCHOR_FILE")


def postgres_url() -> str:
    """The test PostgreSQL URL; skips without one, unless LEXTUNE_REQUIRE_POSTGRES=1 (CI), which fails."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        reason = (f"{POSTGRES_URL_ENV} is not set (a SQLAlchemy URL of a database whose role may create "
                  "schemas, e.g. postgresql+psycopg://lextune:lextune@127.0.0.1:5432/lextune_test; .ci/run sets it)")
        if os.environ.get("LEXTUNE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"LEXTUNE_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture()
def pg_schemas():
    """Makes fresh schema names on the test PostgreSQL: `url, schema = pg_schemas()`; dropped afterwards."""
    from sqlalchemy import create_engine, text

    url, made = postgres_url(), []

    def new() -> tuple[str, str]:
        made.append(f"lt_test_{uuid.uuid4().hex[:12]}")
        return url, made[-1]

    yield new
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            for schema in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                tenants = conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                                       {"p": f"{schema}_t_%"}).scalars().all()  # its tenants' stores
                for tenant_schema in tenants:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{tenant_schema}" CASCADE'))
    finally:
        engine.dispose()


def make_db_settings(backend: str, root: Path, pg_schemas=None):
    """Settings of a fresh store under `root`: its home, master and audit key files; on PostgreSQL its schema."""
    from lextune.core.config import Settings

    url, schema = pg_schemas() if backend == "postgres" else (None, None)
    return Settings(home=root / "home", database_url=url, database_schema=schema,
                    master_key_file=root / "secrets" / "master.key", audit_key_file=root / "secrets" / "audit.key")


@pytest.fixture(params=["sqlite", "postgres"])
def db_settings(request, tmp_path, monkeypatch):
    """Settings of a fresh store, once on SQLite and once on PostgreSQL (see postgres_url)."""
    for var in _ISOLATING_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEXTUNE_HOME", str(tmp_path / "home"))
    schemas = request.getfixturevalue("pg_schemas") if request.param == "postgres" else None
    return make_db_settings(request.param, tmp_path, schemas)


@pytest.fixture()
def db_store(db_settings):
    from lextune.core.store import Store

    s = Store(db_settings)
    yield s
    s.close()


def _corpus() -> list[str]:
    from lextune.data import prompts
    from lextune.data.dataset import DEFAULT_CLAUSE_TYPES

    text = [prompts.SYSTEM, prompts.clause_type_prompt("passage", DEFAULT_CLAUSE_TYPES),
            prompts.clause_quote_prompt("excerpt", "Governing Law"), prompts.NOT_FOUND]
    text += [c["context"] for c in _contracts()]
    return text


def _contracts() -> list[dict]:
    return [{"title": d["title"], "context": d["paragraphs"][0]["context"]} for d in sample_squad()["data"][:6]]


def sample_squad() -> dict:
    from lextune.demo import sample_path

    with gzip.open(sample_path(), "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random Llama and a small BPE tokenizer with a ChatML template, saved locally."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-llama")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=1024, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHATML
    fast.save_pretrained(out)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                      bos_token_id=fast.bos_token_id, tie_word_embeddings=True,
                      initializer_range=0.3)  # large enough that logits can peak after LoRA
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out


# ---- a registered dataset of simple clause rows, for job-level tests (no vault, no builder) ----

CLAUSE_LABELS = ["Governing Law", "Insurance", "Audit Rights", "Non-Compete"]


def clause_rows(n: int, split: str = "train"):
    from lextune.core.records import DatasetRow

    return [DatasetRow(
        id=f"{split}{i}", task="clause_type", split=split, document_id=f"d{i % 5}", answer=CLAUSE_LABELS[i % 4],
        messages=[{"role": "user", "content": f"Passage {i}: " + "the parties agree " * (i % 7) + "Type?"},
                  {"role": "assistant", "content": CLAUSE_LABELS[i % 4]}]) for i in range(n)]


def register_dataset(store, folder: Path, train: int = 24, dev: int = 6, name: str = "clauses"):
    from lextune.core.records import DatasetInfo
    from lextune.core.tables import DatasetRowDB

    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("dev", dev)):
        (folder / f"{split}.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in clause_rows(n, split)))
    info = DatasetInfo(id=f"ds-{name}", name=name, path=str(folder), sha256="0" * 64,
                       counts={"train": {"clause_type": train}, "dev": {"clause_type": dev}}, clause_types=CLAUSE_LABELS)
    with store.session() as s:
        s.add(DatasetRowDB(id=info.id, name=info.name, path=info.path, sha256=info.sha256, counts=info.counts,
                           clause_types=info.clause_types))
    return info


@pytest.fixture()
def dataset(store, tmp_path):
    return register_dataset(store, tmp_path / "dataset")
