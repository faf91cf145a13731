"""Export a model version for use outside lextune: PEFT adapter, merged 16-bit model, GGUF, model card.

One call writes one folder, atomically (a temp folder renamed into place):

    adapter/            PEFT LoRA adapter (vLLM multi-LoRA, PEFT)
    merged/             base + adapter merged, 16-bit safetensors, tokenizer with chat template
    NAME.Q4_1.gguf      the merged model as GGUF, each tensor quantized like the base GGUF's
    Modelfile           Ollama recipe for the GGUF
    MODEL_CARD.md       provenance (base, dataset hash, recipe, metrics, lextune version), how to run
    model_card.json     the same, for machines
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lextune import __version__
from lextune.core.atomic import atomic_dir, write_json, write_text
from lextune.core.config import Settings, get_settings
from lextune.core.records import ModelVersion, utcnow
from lextune.models.adapters import attach_adapter
from lextune.models.catalog import DEFAULT_BASE_MODEL, ResolvedModel, resolve_base_model
from lextune.models.loading import base_model_dir
from lextune.security.keyring import Keyring
from lextune.security.sealed_files import ADAPTER, ADAPTER_SEALED, keyring_for_file, read_sealed_bytes
from lextune.train.export_gguf import QUANT_CHOICES, ExportError, gguf_chat_template, write_merged_gguf

FORMATS = ("adapter", "merged", "gguf")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# Where a catalog model's original weights live on the Hugging Face Hub: what vLLM should serve.
HUB_IDS = {DEFAULT_BASE_MODEL: "HuggingFaceTB/SmolLM2-135M-Instruct"}
_VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted --max-lora-rank values
_TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"}

__all__ = ["DTYPES", "FORMATS", "ExportError", "export_version", "merge_adapter", "quantization_problem"]


def quantization_problem(model) -> str | None:
    """Why `model`'s weights are not plain floating point (bitsandbytes 4/8-bit, GPTQ, GGUF...), or None."""
    if getattr(model, "is_loaded_in_4bit", False):
        return "4-bit (bitsandbytes)"
    if getattr(model, "is_loaded_in_8bit", False):
        return "8-bit (bitsandbytes)"
    config = getattr(getattr(model, "config", None), "quantization_config", None)
    if config:
        method = config.get("quant_method") if isinstance(config, dict) else getattr(config, "quant_method", None)
        return f"quantized ({getattr(method, 'value', method) or 'unknown method'})"
    if getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None:
        return "quantized"
    layers = {type(m).__name__ for m in model.modules()} & {"Linear4bit", "Linear8bitLt", "GgufLinear"}
    return f"quantized ({', '.join(sorted(layers))} layers)" if layers else None


def merge_adapter(peft_model):
    """Fold the LoRA weights into the base (`merge_and_unload`); refuses a quantized base."""
    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    why = quantization_problem(base)
    if why:
        raise ExportError(
            f"refusing to merge the adapter into a {why} base: the merged weights would be rounded to the "
            "quantized grid and lose the fine-tuning. Load the base in 16-bit (bf16/fp16) or fp32, apply "
            "the adapter, and merge that (QLoRA adapters merge into the full-precision base)")
    return peft_model.merge_and_unload()


def export_version(
    version: ModelVersion, out_dir: Path, formats: Iterable[str] = FORMATS, *,
    settings: Settings | None = None, dtype: str = "bfloat16", gguf_quant: str = "base",
    overwrite: bool = False, on_status: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write the version's adapter, merged model and/or GGUF plus its model card into `out_dir`.

    `dtype` is the merged model's (bfloat16, float16; float32 for checks); `gguf_quant` is "base"
    (each tensor as in the base GGUF) or one of QUANT_CHOICES for every matrix. Returns each
    written artifact's final path by key (adapter, merged, gguf, modelfile, card, card_json).
    """
    settings = settings or get_settings()
    formats = _check_formats(formats)
    if dtype not in DTYPES:
        raise ExportError(f"unknown dtype '{dtype}'; choose one of {', '.join(DTYPES)}")
    quant = None if gguf_quant.lower() == "base" else gguf_quant.upper()
    if quant is not None and quant not in QUANT_CHOICES:
        raise ExportError(f"unknown GGUF quantization '{gguf_quant}'; choose base or one of "
                          f"{', '.join(QUANT_CHOICES)}")
    if version.kind == "remote":
        raise ExportError(f"model version {version.name} lives at {(version.remote or {}).get('backend')} "
                          f"({(version.remote or {}).get('fine_tuned_model')}); there are no weights to export")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    adapter_dir = Path(version.adapter_path)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ExportError(f"model version {version.name}: adapter files missing at {adapter_dir}")
    resolved = resolve_base_model(version.base_model)
    if formats & {"merged", "gguf"}:
        _check_mergeable_base(resolved)
    if "gguf" in formats and resolved.gguf_file is None:
        raise ExportError(
            f"GGUF export needs a GGUF base (a catalog model or a .gguf file); {version.base_model} is a "
            "Hugging Face folder: export 'merged' and convert it with llama.cpp's convert_hf_to_gguf.py")

    def status(text: str) -> None:
        if on_status:
            on_status(text)

    # The version's weights are sealed at rest; an export is the plaintext copy the user asked for, by name.
    keyring = keyring_for_file(adapter_dir, settings)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", version.name).strip("-.") or version.id
    written: dict[str, str] = {}
    exports: dict[str, Any] = {}
    with atomic_dir(out_dir) as tmp:
        if "adapter" in formats:
            status("copying the adapter")
            exports["adapter"] = _export_adapter(adapter_dir, tmp / "adapter", version, resolved, keyring)
            written["adapter"] = "adapter"
        if formats & {"merged", "gguf"}:
            status("loading the base model")
            _, model_dir = base_model_dir(version.base_model, settings)
            base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            status("merging the adapter")
            merged = merge_adapter(attach_adapter(base, adapter_dir, keyring)).eval()
            if "gguf" in formats:
                gguf_path = resolved.directory / resolved.gguf_file
                status(f"writing GGUF ({quant or 'quantized like ' + gguf_path.name})")
                info = _export_gguf(merged, gguf_path, tmp, stem, version, quant)
                exports["gguf"] = info
                written["gguf"] = info["path"]
                written["modelfile"] = "Modelfile"
            if "merged" in formats:
                status(f"saving the merged model ({dtype})")
                _save_merged(merged, AutoTokenizer.from_pretrained(model_dir), tmp / "merged", DTYPES[dtype])
                exports["merged"] = {"path": "merged", "format": "safetensors", "dtype": dtype}
                written["merged"] = "merged"
        card = _card(version, resolved, exports, stem)
        write_text(tmp / "model_card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n", mode=0o644)
        write_text(tmp / "MODEL_CARD.md", _card_markdown(card), mode=0o644)
        _share(tmp)
    written.update(card="MODEL_CARD.md", card_json="model_card.json")
    return {key: out_dir / rel for key, rel in written.items()}


def _share(folder: Path) -> None:
    # An export is made to be handed on (a laptop, a serving host): readable like any build output,
    # not private like the temp folders and files it was written through.
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _check_formats(formats: Iterable[str]) -> set[str]:
    chosen = {f.strip().lower() for f in formats if f.strip()}
    unknown = chosen - set(FORMATS)
    if unknown or not chosen:
        raise ExportError(f"unknown export format(s) {', '.join(sorted(unknown)) or '(none given)'}; "
                          f"choose from {', '.join(FORMATS)}")
    return chosen


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ExportError(f"{out_dir} is not empty; choose a new folder or pass overwrite=True (--overwrite)")


def _check_mergeable_base(resolved: ResolvedModel) -> None:
    # A GGUF base is de-quantized to fp32 by lextune before merging; an HF folder is loaded as is.
    if resolved.kind != "hf_dir":
        return
    config = json.loads((resolved.directory / "config.json").read_text(encoding="utf-8"))
    quant = config.get("quantization_config")
    if quant:
        method = quant.get("quant_method", "unknown method")
        bits = "4-bit" if quant.get("load_in_4bit") else "8-bit" if quant.get("load_in_8bit") else "quantized"
        raise ExportError(
            f"refusing to merge into {resolved.directory}: it is a {bits} checkpoint ({method}); merging "
            "into quantized weights loses the fine-tuning. Point the version at the 16-bit original of "
            "this model (or export only the adapter)")


def _base_ref(version: ModelVersion, resolved: ResolvedModel) -> str:
    """The base that the adapter's config names: the Hub id of a catalog model, else the path."""
    return HUB_IDS.get(resolved.name, version.base_model) if resolved.kind == "catalog" else version.base_model


def _export_adapter(src: Path, target: Path, version: ModelVersion, resolved: ResolvedModel,
                    keyring: Keyring | None) -> dict:
    target.mkdir()
    for f in sorted(src.iterdir()):  # the PEFT files only: not lextune's card, not checkpoints
        if f.is_file() and f.name in ADAPTER_SEALED and f.name.startswith("adapter_"):
            (target / f.name).write_bytes(read_sealed_bytes(f, keyring, ADAPTER))  # opened: the export is plain
        elif f.is_file() and (f.name.startswith("adapter_") or f.name in _TOKENIZER_FILES):
            shutil.copy2(f, target / f.name)
    config = json.loads((src / "adapter_config.json").read_text(encoding="utf-8"))
    base_ref = _base_ref(version, resolved)
    config["base_model_name_or_path"] = base_ref
    write_json(target / "adapter_config.json", config)
    rank = int(config.get("r", 8))
    write_text(target / "README.md", (
        f"# {version.name}: LoRA adapter\n\nPEFT LoRA adapter (r={rank}) trained by lextune {__version__} on "
        f"`{version.base_model}` (`{base_ref}`). Load it onto that base model; see ../MODEL_CARD.md.\n"))
    return {"path": "adapter", "format": "peft-lora", "base_model_name_or_path": base_ref, "r": rank,
            "lora_alpha": config.get("lora_alpha"), "target_modules": config.get("target_modules"),
            "modules_to_save": config.get("modules_to_save"), "use_dora": bool(config.get("use_dora"))}


def _export_gguf(merged, base_gguf: Path, tmp: Path, stem: str, version: ModelVersion, quant: str | None) -> dict:
    scratch = tmp / f".{stem}.gguf.part"
    info = write_merged_gguf(base_gguf, merged, scratch, quant=quant, metadata={
        "lextune.version": __version__, "lextune.model_version": f"{version.name} ({version.id})",
        "lextune.base_model": version.base_model, "lextune.dataset_sha256": version.dataset_sha256})
    name = f"{stem}.{info['file_type']}.gguf"
    scratch.rename(tmp / name)
    digest = hashlib.sha256()
    with open(tmp / name, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    template = gguf_chat_template(base_gguf)
    write_text(tmp / "Modelfile", _modelfile(name, template))
    return {"path": name, "sha256": digest.hexdigest(), "bytes": (tmp / name).stat().st_size,
            "chatml": "<|im_start|>" in template, **info}


def _modelfile(gguf_name: str, chat_template: str) -> str:
    head = f"# ollama create NAME -f Modelfile && ollama run NAME\nFROM ./{gguf_name}\n"
    if "<|im_start|>" not in chat_template:
        # Ollama reads tokenizer.chat_template from the GGUF for the templates it knows.
        return head
    return head + (
        'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n'
        '{{ end }}<|im_start|>assistant\n"""\n'
        'PARAMETER stop "<|im_start|>"\nPARAMETER stop "<|im_end|>"\nPARAMETER temperature 0\n')


def _save_merged(model, tokenizer, target: Path, dtype: torch.dtype) -> None:
    model.to(dtype)
    if dtype == torch.float16 and not all(torch.isfinite(p).all() for p in model.parameters()):
        raise ExportError("the merged weights overflow float16; export with dtype bfloat16")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def _vllm_rank(r: int) -> int:
    return next((n for n in _VLLM_RANKS if n >= r), r)


def _card(version: ModelVersion, resolved: ResolvedModel, exports: dict, stem: str) -> dict:
    card: dict[str, Any] = {
        **version.model_dump(mode="json"),
        "lextune_version": __version__,
        "exported_at": utcnow().isoformat(timespec="seconds"),
        "base": {"name": version.base_model, "kind": resolved.kind, "hub_id": HUB_IDS.get(resolved.name),
                 "gguf_file": resolved.gguf_file},
        "exports": exports,
        "run": {},
    }
    if exports.keys() & {"merged", "gguf"}:
        # QLoRA adapters were trained against a 4/8-bit base, but are merged into the full-precision one.
        card["merge"] = {"into": "the base in fp32" + (" (GGUF de-quantized)" if resolved.gguf_file else ""),
                         "trained_on_quantized_base": version.recipe.get("quantization", "none")}
    run = card["run"]
    if "adapter" in exports:
        a = exports["adapter"]
        run["vllm"] = (f"vllm serve {a['base_model_name_or_path']} --enable-lora --lora-modules {stem}=./adapter "
                       f"--max-lora-rank {_vllm_rank(a['r'])}")
    if "merged" in exports:
        run["vllm_merged"] = f"vllm serve ./merged --served-model-name {stem} --dtype {exports['merged']['dtype']}"
        run["transformers"] = "AutoModelForCausalLM.from_pretrained('merged'); AutoTokenizer.from_pretrained('merged')"
    if "gguf" in exports:
        g = exports["gguf"]["path"]
        run["llama_cpp"] = f"llama-cli -m {g} -cnv"
        run["llama_server"] = f"llama-server -m {g} --port 8080"
        run["ollama"] = f"ollama create {stem.lower()} -f Modelfile && ollama run {stem.lower()}"
    return card


def _card_markdown(card: dict) -> str:
    ex, run = card["exports"], card["run"]
    training = {k: v for k, v in card["metrics"].get("training", {}).items() if k != "loss_curve"}
    metrics = {**card["metrics"], "training": training} if "training" in card["metrics"] else card["metrics"]
    merge = card.get("merge", {})
    qlora = [] if merge.get("trained_on_quantized_base", "none") == "none" else [
        f"- trained as QLoRA on a {merge['trained_on_quantized_base']} base; merged into {merge['into']}, never "
        + "into quantized weights"]
    lines = [
        f"# {card['name']}", "",
        f"Fine-tuned by lextune {card['lextune_version']} (LoRA); exported {card['exported_at']}.", "",
        "## Provenance", "",
        f"- model version: `{card['name']}` (`{card['id']}`), trained {card['created_at']}",
        f"- base model: `{card['base']['name']}`"
        + (f" (Hugging Face: `{card['base']['hub_id']}`)" if card["base"]["hub_id"] else "")
        + (f", GGUF `{card['base']['gguf_file']}` de-quantized to fp32 for training" if card["base"]["gguf_file"]
           else ""),
        f"- dataset: `{card['dataset_id']}`, sha256 `{card['dataset_sha256']}`",
        *qlora,
        f"- lextune version: {card['lextune_version']}", "",
        "### Recipe", "", "```json", json.dumps(card["recipe"], indent=2), "```", "",
        "### Metrics", "", "```json", json.dumps(metrics, indent=2, default=str), "```",
        "(The loss curve and everything above are in `model_card.json`.)", "",
        "## Files and how to run them", "",
    ]
    if "adapter" in ex:
        a = ex["adapter"]
        lines += [
            f"### `adapter/`: PEFT LoRA adapter (r={a['r']}, alpha={a['lora_alpha']})", "",
            f"Load it onto the base `{a['base_model_name_or_path']}`. With vLLM's multi-LoRA server:", "",
            "```sh", run["vllm"], "```", "",
            f"then ask for `\"model\": \"{run['vllm'].split('--lora-modules ')[1].split('=')[0]}\"` on "
            "`/v1/chat/completions`. The adapter was trained on the base weights as lextune loads them"
            + (" (the GGUF de-quantized), which differ slightly from the Hub's originals; for exact parity"
               " serve `merged/`." if card["base"]["gguf_file"] else ".")
            + (" It is a DoRA adapter: vLLM's LoRA server does not load DoRA, so serve `merged/` there."
               if a["use_dora"] else ""), "",
        ]
    if "merged" in ex:
        lines += [
            f"### `merged/`: base + adapter merged, {ex['merged']['dtype']} safetensors", "",
            "A plain Hugging Face model folder with its tokenizer and chat template:", "",
            "```sh", run["vllm_merged"], "```", "",
            f"or in Python: `{run['transformers']}`.", "",
        ]
    if "gguf" in ex:
        g = ex["gguf"]
        types = ", ".join(f"{n} x {t}" for t, n in sorted(g["tensor_types"].items()))
        fallback = (f" {len(g['f16_fallbacks'])} tensors fell back to F16 (type not producible here): "
                    f"{', '.join(sorted(g['f16_fallbacks']))}." if g["f16_fallbacks"] else "")
        lines += [
            f"### `{g['path']}`: GGUF for llama.cpp and Ollama", "",
            (f"Quantized like the base `{g['base_gguf']}`, tensor by tensor ({types}); "
             f"{g['requantized_tensors']} tensors changed by the adapter were re-quantized, the rest are the "
             f"base's bytes." if g["quantization"] == "like the base" else
             f"Quantized to {g['quantization']} (norms stay F32) from the base `{g['base_gguf']}` ({types}).")
            + f"{fallback} sha256 `{g['sha256']}`.", "",
            "```sh", run["llama_cpp"], run["llama_server"], "```", "",
            "Ollama, with the `Modelfile` next to it"
            + (" (ChatML template and stop tokens):" if g["chatml"] else ":"), "",
            "```sh", run["ollama"], "```", "",
        ]
    return "\n".join(lines)
