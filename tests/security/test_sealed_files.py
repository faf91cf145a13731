"""Files sealed at rest: the helpers, corruption, a missing master key, and the whole flow leaving no plaintext."""

from __future__ import annotations

import json

import pytest
from conftest import sample_squad
from typer.testing import CliRunner

from lextune.core.records import DatasetRow
from lextune.security.keyring import CiphertextError
from lextune.security.master_key import MasterKeyError
from lextune.security.sealed_files import (
    ADAPTER,
    DATASET,
    UPLOAD,
    forget_keyrings,
    is_sealed,
    keyring_for,
    read_sealed_bytes,
    read_sealed_text,
    sealed_key_id,
    write_sealed_text,
)

CLIENT = "Zyxquorb Holdings"
SENTENCE = "the escrow code is marmalade-falcon-42"


def test_sealed_roundtrip_binds_the_kind_and_reads_legacy_plaintext(store, tmp_path):
    kr = store.keyring
    path = tmp_path / "ds" / "train.jsonl"
    write_sealed_text(path, f"{CLIENT}: {SENTENCE}\n", kr, DATASET)
    raw = path.read_bytes()
    assert is_sealed(path) and sealed_key_id(path) == kr.active
    assert CLIENT.encode() not in raw and SENTENCE.encode() not in raw
    assert read_sealed_text(path, kr, DATASET) == f"{CLIENT}: {SENTENCE}\n"
    assert read_sealed_text(path, None, DATASET) == f"{CLIENT}: {SENTENCE}\n"  # the environment's store's keyring
    assert [p.name for p in path.parent.iterdir()] == ["train.jsonl"]  # the temp file was renamed, none left
    with pytest.raises(CiphertextError, match=str(path)):
        read_sealed_bytes(path, kr, UPLOAD)  # a dataset file moved where an upload belongs does not open
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_text("written before sealing\n")
    assert not is_sealed(legacy) and sealed_key_id(legacy) is None
    assert read_sealed_text(legacy, kr, DATASET) == "written before sealing\n"
    assert keyring_for(store.settings) is keyring_for(store.settings)
    assert keyring_for(store.settings).key_ids == kr.key_ids


def test_a_corrupted_sealed_file_is_named_and_the_others_still_read(store, tmp_path):
    from lextune.data.dataset import read_rows

    kr = store.keyring
    row = DatasetRow(id="r1", task="qa", split="train", document_id="d1", answer="yes",
                     messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "yes"}])
    good, bad, cut = tmp_path / "dev.jsonl", tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    for p in (good, bad, cut):
        write_sealed_text(p, row.model_dump_json() + "\n", kr, DATASET)
    blob = bytearray(bad.read_bytes())
    blob[-5] ^= 0x01
    bad.write_bytes(bytes(blob))
    cut.write_bytes(cut.read_bytes()[:20])
    with pytest.raises(CiphertextError, match=f"{bad}: ciphertext failed authentication"):
        read_rows(bad, kr)
    with pytest.raises(CiphertextError, match=f"{cut}: sealed value is truncated"):
        read_rows(cut, kr)
    assert [r.id for r in read_rows(good, kr)] == ["r1"]


def test_a_missing_master_key_stops_at_startup_and_writes_nothing(home, tmp_path):
    from lextune.cli import app
    from lextune.core.store import Store

    Store().close()  # an encrypted store: data keys wrapped by home/keys/master.key
    forget_keyrings()
    (home / "keys" / "master.key").unlink()
    with pytest.raises(MasterKeyError, match="LEXTUNE_MASTER_KEY") as e:
        Store()
    assert "never falls back to plaintext" in str(e.value)
    doc = tmp_path / "memo.txt"
    doc.write_text(f"MEMO\n\n1. PARTIES\n\n{CLIENT} agrees that {SENTENCE}.\n")
    result = CliRunner().invoke(app, ["ingest", str(doc)])
    assert result.exit_code != 0 and isinstance(result.exception, MasterKeyError)
    assert "LEXTUNE_MASTER_KEY" in str(result.exception)
    assert _files_holding(home, CLIENT.encode(), SENTENCE.encode()) == []


def _files_holding(root, *needles: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def _planted_contracts(path, n: int = 10) -> None:
    """CUAD contracts whose Governing Law clauses say the planted sentence (same length: spans stay right)."""
    data = sample_squad()["data"][:n]
    planted = f"{CLIENT} agrees that {SENTENCE}."
    for d in data:
        para = d["paragraphs"][0]
        for qa in para["qas"]:
            if not qa["id"].endswith("__Governing Law"):
                continue
            for a in qa["answers"]:
                if len(a["text"]) < len(planted):
                    continue
                new = planted.ljust(len(a["text"]), ".")
                start = a["answer_start"]
                para["context"] = para["context"][:start] + new + para["context"][start + len(new):]
                a["text"] = new
    path.write_text(json.dumps({"data": data}))


def test_client_text_leaves_no_plaintext_in_datasets_adapters_or_checkpoints(store, home, tiny_model_dir, tmp_path):
    from lextune.data.dataset import BuildConfig, build_dataset, read_rows, split_path
    from lextune.registry.loading import load_version
    from lextune.train.jobs import run_training
    from lextune.train.recipe import Recipe
    from lextune.vault.vault import Vault

    contracts = tmp_path / "cuad.json"
    _planted_contracts(contracts)
    Vault(store, workers=1).ingest([contracts])
    info = build_dataset(store, BuildConfig(builders=["clauses"], anonymize=False, exports=["openai", "alpaca"]))
    rows = [r for sp in ("train", "dev", "test") for r in read_rows(split_path(info, sp), store.keyring)]
    # The planted text is in the rows (so plaintext files would hold it)...
    assert any(CLIENT in r.model_dump_json() and SENTENCE in r.model_dump_json() for r in rows)
    from lextune.data.audit_run import audit_dataset

    audit_dataset(store, info.id)
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=2, batch_size=2, max_seq_len=256, min_rows=2,
                    checkpoint_every=1, learning_rate=1e-3)
    version = run_training(store, info, recipe, name="acme-v1")
    # ...and not in any byte of the dataset folder, the version folder or the job's checkpoints.
    for folder in (store.settings.datasets_dir, store.settings.versions_dir, home / "jobs"):
        assert any(folder.rglob("*"))
        assert _files_holding(folder, CLIENT.encode(), SENTENCE.encode()) == []
    adapter = store.settings.versions_dir / version.id
    assert is_sealed(adapter / "adapter_model.safetensors") and is_sealed(adapter / "model_card.json")
    assert not is_sealed(adapter / "adapter_config.json")  # hyperparameters only: PEFT reads it as is
    checkpoints = [p for p in (home / "jobs").rglob("step-*/*") if p.is_file()]
    assert checkpoints and all(is_sealed(p) for p in checkpoints)
    assert all(is_sealed(p) for p in store.settings.datasets_dir.rglob("*") if p.is_file())
    assert json.loads(read_sealed_bytes(adapter / "model_card.json", None, ADAPTER))["name"] == "acme-v1"
    # The sealed adapter loads (from bytes in memory) and is the trained one, not a fresh LoRA.
    model, _, label = load_version(version, settings=store.settings)
    assert label.startswith("acme-v1")
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)


def test_eval_cache_values_are_sealed_and_rotation_reseals_them(store, tmp_path):
    from lextune.evals.records import Generation
    from lextune.evals.result_cache import CachedScorer, cache_key_counts, reseal_cache

    class Echo:
        key, calls = "echo-v1", 0

        def generate(self, prompts, max_new_tokens, progress=None):
            Echo.calls += 1
            return [Generation(text=f"{CLIENT} said {SENTENCE}", logprob=-1.0, tokens=3) for _ in prompts]

    path = tmp_path / "eval_cache.sqlite"
    with CachedScorer(Echo(), path, keyring=store.keyring) as cached:
        first = cached.generate(["q"], 8)
    with CachedScorer(Echo(), path, keyring=store.keyring) as again:
        assert again.generate(["q"], 8) == first and Echo.calls == 1  # answered from the file
    assert not _files_holding(tmp_path, CLIENT.encode(), SENTENCE.encode())
    assert cache_key_counts(path, store.keyring) == {store.keyring.active: 1}
    with CachedScorer(Echo(), path) as no_key:  # a value that does not open is a miss, never an error
        assert no_key.generate(["q"], 8) == first and Echo.calls == 2
    assert reseal_cache(path, store.keyring) == {"current": 0, "resealed": 0, "sealed": 1, "dropped": 0}


def test_a_sealed_adapter_loads_in_memory_as_peft_loads_the_plain_one(store, tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from lextune.models.adapters import attach_adapter, save_adapter

    def fresh():
        return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()

    tuned = get_peft_model(fresh(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.05)
    sealed, plain = tmp_path / "sealed", tmp_path / "plain"
    save_adapter(tuned, sealed, store.keyring)
    tuned.save_pretrained(plain)
    assert sorted(p.name for p in sealed.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert is_sealed(sealed / "adapter_model.safetensors")
    x = torch.randint(0, 200, (2, 12))
    with torch.no_grad():
        ours = attach_adapter(fresh(), sealed, store.keyring)(x).logits
        peft = PeftModel.from_pretrained(fresh(), str(plain)).eval()(x).logits
        two = attach_adapter(attach_adapter(fresh(), plain, None, "a"), sealed, store.keyring, "b")
        two.set_adapter("b")
        torch.testing.assert_close(two(x).logits, peft)
    torch.testing.assert_close(ours, peft)
    assert not torch.allclose(ours, fresh()(x).logits)  # the adapter changed the model
