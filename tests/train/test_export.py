"""Export: merged model == base + adapter, GGUF round trip at the base's quantization, guards, card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

from lextune.core.config import Settings
from lextune.core.records import ModelVersion
from lextune.models.loading import load_base_model
from lextune.registry.loading import load_version
from lextune.train.export import ExportError, export_version, merge_adapter
from lextune.train.export_gguf import requantize, tensor_types
from lextune.train.recipe import Recipe

Q8, Q4_1, F32 = GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q4_1, GGMLQuantizationType.F32
INPUTS = torch.tensor([[1, 40, 41, 300, 7, 9, 512, 3], [2, 100, 200, 300, 400, 500, 600, 700]])
_RENAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def write_tiny_gguf(model_dir: Path, path: Path, embd_type, block_type) -> Path:
    """The tiny HF llama as a llama.cpp-style GGUF (renamed, Q/K rows permuted, quantized)."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    cfg = model.config
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    tokens = [""] * cfg.vocab_size
    for token, i in tok["model"]["vocab"].items():
        tokens[i] = token
    special = {t["id"] for t in tok["added_tokens"]}
    template = AutoTokenizer.from_pretrained(model_dir).chat_template
    w = GGUFWriter(path, "llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(int(block_type))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in special else 1 for i in range(len(tokens))])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    w.add_bos_token_id(cfg.bos_token_id)
    w.add_eos_token_id(cfg.eos_token_id)
    w.add_pad_token_id(cfg.pad_token_id)
    w.add_add_bos_token(False)
    w.add_chat_template(template)
    heads = {"attn_q": cfg.num_attention_heads, "attn_k": cfg.num_key_value_heads}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to the embedding, as in the bundled GGUF
        values = t.numpy()
        name = name.replace("model.embed_tokens", "token_embd").replace("model.norm", "output_norm")
        name = name.replace("model.layers.", "blk.")
        for hf, gg in _RENAMES.items():
            name = name.replace(hf, gg)
        kind = name.split(".")[-2]
        if kind in heads:
            n = heads[kind]
            values = values.reshape(n, 2, values.shape[0] // n // 2, -1).swapaxes(1, 2).reshape(values.shape)
        qtype = F32 if values.ndim == 1 else embd_type if name.startswith("token_embd") else block_type
        w.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def make_version(base: str, settings: Settings, folder: Path, name: str = "clauses v1",
                 scale: float = 0.3) -> tuple[ModelVersion, PeftModel]:
    """A registered-looking version: a LoRA adapter with non-zero B weights, so merging changes outputs."""
    model, _, resolved = load_base_model(base, settings, device="cpu")
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    adapter = folder / "mv-0123"
    peft.save_pretrained(adapter)
    (adapter / "model_card.json").write_text("{}")  # what jobs._save_version adds beside the adapter
    return ModelVersion(
        id="mv-0123", name=name, base_model=resolved.name, adapter_path=str(adapter), dataset_id="ds-42",
        dataset_sha256="ab" * 32, recipe=Recipe(base_model=base).model_dump(),
        metrics={"training": {"steps": 3, "final_loss": 0.5, "loss_curve": [[1, 0.9], [3, 0.5]]},
                 "eval": {"accuracy": 0.8}}), peft


@torch.no_grad()
def logits(model) -> torch.Tensor:
    return model(input_ids=INPUTS).logits.float()


@torch.no_grad()
def on_grid(peft, embd_type, block_type) -> torch.Tensor:
    """Logits of base + adapter merged with every matrix rounded to the GGUF types: what the export must give."""
    model = peft.merge_and_unload()
    for name, p in model.named_parameters():
        if p.ndim == 2:
            qtype = embd_type if "embed_tokens" in name else block_type
            p.copy_(torch.from_numpy(dequantize(quantize(p.numpy(), qtype), qtype)).reshape(p.shape))
    return logits(model)


@pytest.fixture(scope="module")
def q8(tiny_model_dir, tmp_path_factory):
    """A Q8_0 GGUF base, a version trained on it, the version's logits, and a full export."""
    root = tmp_path_factory.mktemp("export-q8")
    settings = Settings(home=root / "home")
    gguf = write_tiny_gguf(tiny_model_dir, root / "tiny.Q8_0.gguf", Q8, Q8)
    version, _ = make_version(str(gguf), settings, root)
    # As if trained as QLoRA: the export still merges into the full-precision base it loads itself.
    version = version.model_copy(update={"recipe": {**version.recipe, "quantization": "4bit"}})
    peft, _, _ = load_version(version, settings=settings)
    stock, _, _ = load_base_model(str(gguf), settings, device="cpu")
    paths = export_version(version, root / "out", settings=settings)
    return {"settings": settings, "gguf": gguf, "version": version, "paths": paths, "root": root,
            "tuned": logits(peft), "stock": logits(stock), "on_grid": on_grid(peft, Q8, Q8)}


def test_merged_model_equals_base_plus_adapter(tiny_model_dir, tmp_path):
    settings = Settings(home=tmp_path / "home")
    version, _ = make_version(str(tiny_model_dir), settings, tmp_path)
    peft, _, _ = load_version(version, settings=settings)
    want = logits(peft)
    stock = logits(load_base_model(str(tiny_model_dir), settings, device="cpu")[0])
    assert (want - stock).abs().max() > 1.0  # the adapter matters, so equality below means something

    paths = export_version(version, tmp_path / "fp32", {"merged"}, settings=settings, dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(paths["merged"], dtype=torch.float32)
    torch.testing.assert_close(logits(merged), want, atol=1e-4, rtol=1e-4)

    paths = export_version(version, tmp_path / "bf16", ["merged"], settings=settings)  # default bfloat16
    folder = paths["merged"]
    with safe_open(folder / "model.safetensors", "pt") as f:
        names = f.keys()
        assert {f.get_tensor(k).dtype for k in names} == {torch.bfloat16}
    assert not list(folder.glob("*.bin"))
    merged = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    got = logits(merged)
    assert (got - want).abs().max() < 0.05 * (want - stock).abs().max()  # bf16 rounding only
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() > 0.9
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    assert (folder / "generation_config.json").is_file()
    assert not (tmp_path / "bf16" / "adapter").exists()  # only what was asked for


def test_refuses_to_merge_into_a_quantized_base(tiny_model_dir, tmp_path):
    settings = Settings(home=tmp_path / "home")
    model, _, _ = load_base_model(str(tiny_model_dir), settings, device="cpu")
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    # bitsandbytes is not installed here: set the flags it sets, and check the guard reads them.
    model.is_loaded_in_4bit = True
    with pytest.raises(ExportError, match="4-bit .* Load the base in 16-bit"):
        merge_adapter(peft)
    assert any("lora_A" in n for n, _ in peft.named_parameters())  # nothing was merged
    del model.is_loaded_in_4bit
    model.config.quantization_config = {"quant_method": "bitsandbytes", "load_in_8bit": True}
    with pytest.raises(ExportError, match="quantized \\(bitsandbytes\\)"):
        merge_adapter(peft)

    # A base folder that is itself a 4-bit checkpoint is refused before anything is loaded or written.
    version, _ = make_version(str(tiny_model_dir), settings, tmp_path)
    quantized = tmp_path / "base-4bit"
    quantized.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (quantized / "config.json").write_text(json.dumps(config))
    version = version.model_copy(update={"base_model": str(quantized)})
    with pytest.raises(ExportError, match="4-bit checkpoint \\(bitsandbytes\\)"):
        export_version(version, tmp_path / "out", {"merged"}, settings=settings)
    assert not (tmp_path / "out").exists()
    paths = export_version(version, tmp_path / "out", {"adapter"}, settings=settings)  # no merge: fine
    assert (paths["adapter"] / "adapter_model.safetensors").is_file()


def test_gguf_round_trip_keeps_the_base_quantization(q8, tiny_model_dir):
    paths, gguf = q8["paths"], q8["gguf"]
    out = paths["gguf"]
    assert out.name == "clauses-v1.Q8_0.gguf"
    assert tensor_types(out) == tensor_types(gguf)  # same names, same types, tensor by tensor
    assert set(tensor_types(out).values()) == {"Q8_0", "F32"}

    loaded = AutoModelForCausalLM.from_pretrained(out.parent, gguf_file=out.name, dtype=torch.float32)
    got, tuned, stock = logits(loaded), q8["tuned"], q8["stock"]
    # Exactly the merged weights rounded to Q8_0: names, Q/K permutation and data all right.
    torch.testing.assert_close(got, q8["on_grid"], atol=1e-4, rtol=1e-4)
    assert (got - tuned).abs().max() < 0.1 * (tuned - stock).abs().max()  # Q8_0 noise << the tuning

    base, exported = GGUFReader(gguf), GGUFReader(out)
    old = {t.name: t for t in base.tensors}
    for t in exported.tensors:
        same = np.array_equal(np.asarray(t.data), np.asarray(old[t.name].data))
        assert same == ("norm" in t.name or t.name == "token_embd.weight")  # LoRA touched every linear
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.chat_template",
                "llama.context_length", "llama.attention.head_count_kv", "llama.rope.freq_base"):
        assert exported.fields[key].contents() == base.fields[key].contents()
    assert exported.fields["lextune.dataset_sha256"].contents() == "ab" * 32
    tok = AutoTokenizer.from_pretrained(out.parent, gguf_file=out.name)
    assert tok.chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    assert "<|im_start|>" in tok.chat_template
    modelfile = paths["modelfile"].read_text()
    assert f"FROM ./{out.name}" in modelfile and "<|im_start|>{{ .Role }}" in modelfile


def test_gguf_keeps_mixed_types_like_the_bundled_file(tiny_model_dir, tmp_path):
    settings = Settings(home=tmp_path / "home")
    # The bundled SmolLM2 GGUF: token_embd Q8_0, every block matrix Q4_1, norms F32.
    gguf = write_tiny_gguf(tiny_model_dir, tmp_path / "tiny.Q4_1.gguf", Q8, Q4_1)
    version, _ = make_version(str(gguf), settings, tmp_path)
    paths = export_version(version, tmp_path / "out", {"gguf"}, settings=settings)
    out = paths["gguf"]
    assert out.name.endswith(".Q4_1.gguf") and tensor_types(out) == tensor_types(gguf)
    card = json.loads(paths["card_json"].read_text())["exports"]["gguf"]
    assert card["tensor_types"] == {"Q8_0": 1, "Q4_1": 14, "F32": 5} and card["f16_fallbacks"] == {}
    assert card["requantized_tensors"] == 14
    loaded = AutoModelForCausalLM.from_pretrained(out.parent, gguf_file=out.name, dtype=torch.float32)
    peft = load_version(version, settings=settings)[0]
    tuned = logits(peft)
    stock = logits(load_base_model(str(gguf), settings, device="cpu")[0])
    got = logits(loaded)
    torch.testing.assert_close(got, on_grid(peft, Q8, Q4_1), atol=1e-4, rtol=1e-4)
    assert (got - tuned).abs().mean() < 0.5 * (stock - tuned).abs().mean()  # the tuning survives Q4_1

    # Asked for Q8_0 instead (finer than the base's Q4_1): every matrix Q8_0, norms stay F32.
    paths = export_version(version, tmp_path / "q8", {"gguf"}, settings=settings, gguf_quant="q8_0")
    out = paths["gguf"]
    assert out.name.endswith(".Q8_0.gguf") and set(tensor_types(out).values()) == {"Q8_0", "F32"}
    assert GGUFReader(out).fields["general.file_type"].contents() == 7  # LlamaFileType.MOSTLY_Q8_0
    loaded = AutoModelForCausalLM.from_pretrained(out.parent, gguf_file=out.name, dtype=torch.float32)
    torch.testing.assert_close(logits(loaded), on_grid(load_version(version, settings=settings)[0], Q8, Q8),
                               atol=1e-4, rtol=1e-4)
    with pytest.raises(ExportError, match="unknown GGUF quantization 'Q3_K'"):
        export_version(version, tmp_path / "q3", {"gguf"}, settings=settings, gguf_quant="Q3_K")


def test_types_the_gguf_package_cannot_produce_fall_back_to_f16():
    values = np.random.default_rng(0).standard_normal((2, 256)).astype(np.float32)
    data, written = requantize(values, GGMLQuantizationType.Q4_K)
    assert written == GGMLQuantizationType.F16 and data.dtype == np.float16
    data, written = requantize(values, Q8)
    assert written == Q8 and data.dtype == np.uint8


def test_out_dir_must_be_new_or_empty_and_failures_leave_nothing(q8, tiny_model_dir, monkeypatch):
    version, settings, root = q8["version"], q8["settings"], q8["root"]
    busy = root / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="is not empty; .*overwrite"):
        export_version(version, busy, {"adapter"}, settings=settings)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    export_version(version, busy, {"adapter"}, settings=settings, overwrite=True)
    assert sorted(p.name for p in busy.iterdir()) == ["MODEL_CARD.md", "adapter", "model_card.json"]

    from lextune.train import export

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_merged_gguf", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export_version(version, root / "fresh", settings=settings)
    assert not (root / "fresh").exists() and not list(root.glob(".fresh*"))  # temp folder removed

    hf_base = version.model_copy(update={"base_model": str(tiny_model_dir)})
    with pytest.raises(ExportError, match="GGUF export needs a GGUF base .*convert_hf_to_gguf"):
        export_version(hf_base, root / "fresh", {"gguf"}, settings=settings)
    with pytest.raises(ExportError, match="unknown export format\\(s\\) onnx"):
        export_version(version, root / "fresh", {"adapter", "onnx"}, settings=settings)


def test_card_and_adapter(q8):
    paths, version, settings = q8["paths"], q8["version"], q8["settings"]
    from lextune import __version__

    card = json.loads(paths["card_json"].read_text())
    for key in ("id", "name", "base_model", "dataset_id", "dataset_sha256", "recipe", "metrics", "created_at"):
        assert card[key] == json.loads(version.model_dump_json())[key]
    assert card["lextune_version"] == __version__ and card["exported_at"]
    assert set(card["exports"]) == {"adapter", "merged", "gguf"}
    assert card["exports"]["merged"]["dtype"] == "bfloat16"
    assert card["exports"]["gguf"]["tensor_types"] == {"Q8_0": 15, "F32": 5}
    assert len(card["exports"]["gguf"]["sha256"]) == 64
    md = paths["card"].read_text()
    for text in (version.base_model, "ds-42", "ab" * 32, '"final_loss": 0.5', '"accuracy": 0.8', __version__,
                 "vllm serve", "--enable-lora --lora-modules clauses-v1=./adapter --max-lora-rank 8",
                 "llama-cli -m clauses-v1.Q8_0.gguf", "ollama create", '"learning_rate"',
                 "trained as QLoRA on a 4bit base; merged into the base in fp32 (GGUF de-quantized)"):
        assert text in md, text
    assert card["merge"]["trained_on_quantized_base"] == "4bit"
    out = paths["card"].parent
    assert {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()} == {0o644}  # made to be shared
    assert out.stat().st_mode & 0o777 == 0o755

    adapter = paths["adapter"]
    assert not (adapter / "model_card.json").exists()
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == version.base_model
    base, _, _ = load_base_model(version.base_model, settings, device="cpu")
    reloaded = PeftModel.from_pretrained(base, adapter)
    torch.testing.assert_close(logits(reloaded), q8["tuned"])


@pytest.mark.slow
def test_bundled_model_exports_to_gguf_like_the_shipped_file(tmp_path):
    from lextune.models.catalog import resolve_base_model

    settings = Settings(home=tmp_path / "home")
    version, peft = make_version("smollm2-135m-instruct", settings, tmp_path, name="bundled-v1", scale=0.05)
    paths = export_version(version, tmp_path / "out", {"adapter", "gguf"}, settings=settings)
    resolved = resolve_base_model("smollm2-135m-instruct")
    shipped = resolved.directory / resolved.gguf_file
    out = paths["gguf"]
    assert out.name == "bundled-v1.Q4_1.gguf"
    assert tensor_types(out) == tensor_types(shipped)  # Q8_0 embedding, Q4_1 matrices, F32 norms
    config = json.loads((paths["adapter"] / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"

    loaded = AutoModelForCausalLM.from_pretrained(out.parent, gguf_file=out.name, dtype=torch.float32)
    layer = peft.get_base_model().model.layers[3].self_attn
    got = loaded.model.layers[3].self_attn
    with torch.no_grad():  # 9 query heads, 3 key/value heads: the Q/K permutation must be right for GQA
        for name in ("q_proj", "k_proj", "v_proj"):
            module = getattr(layer, name)
            merged = (module.base_layer.weight + module.get_delta_weight("default")).numpy()
            want = torch.from_numpy(dequantize(quantize(merged, Q4_1), Q4_1)).reshape(merged.shape)
            torch.testing.assert_close(getattr(got, name).weight, want, atol=1e-6, rtol=0)
    assert torch.isfinite(logits(loaded)).all()
