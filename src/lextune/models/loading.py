"""Load a base model and tokenizer; GGUF files are de-quantized once and cached as safetensors."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from lextune.core.atomic import atomic_dir
from lextune.core.config import Settings, get_settings
from lextune.core.errors import ModelError
from lextune.models.catalog import ResolvedModel, resolve_base_model

log = logging.getLogger(__name__)


def pick_device_and_dtype() -> tuple[str, torch.dtype]:
    """fp32 on CPU (these CPUs have no fast bf16); bf16 on a GPU that supports it."""
    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return "cuda", dtype
    return "cpu", torch.float32


def _cache_dir(resolved: ResolvedModel, settings: Settings) -> Path:
    gguf = resolved.directory / (resolved.gguf_file or "")
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    slug = Path(resolved.gguf_file or "model").stem.lower()
    return settings.models_dir / f"{slug}-{key[:12]}"


def _convert_gguf(resolved: ResolvedModel, target: Path) -> None:
    """De-quantize a GGUF into a plain model folder.

    Trainer and save_pretrained refuse a model loaded with gguf_file= (its quantizer stays
    attached), so we rebuild the architecture from a clean config and copy the weights over.
    """
    log.info("converting %s (first use only)", resolved.gguf_file)
    kwargs = {"gguf_file": resolved.gguf_file}
    tok = AutoTokenizer.from_pretrained(resolved.directory, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(resolved.directory, dtype=torch.float32, **kwargs)
    cfg = loaded.config.to_dict()
    cfg.pop("quantization_config", None)
    clean_config = AutoConfig.for_model(**cfg)
    plain = AutoModelForCausalLM.from_config(clean_config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    with atomic_dir(target) as tmp:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "lextune_source.json").write_text(json.dumps({"gguf": resolved.name}))


def base_model_dir(spec: str | None, settings: Settings | None = None) -> tuple[ResolvedModel, Path]:
    """The folder that from_pretrained can read for this base model (converting GGUF if needed)."""
    settings = settings or get_settings()
    resolved = resolve_base_model(spec)
    if resolved.kind == "hf_dir":
        return resolved, resolved.directory
    target = _cache_dir(resolved, settings)
    if not (target / "config.json").is_file():
        _convert_gguf(resolved, target)
    return resolved, target


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.chat_template is None:
        raise ModelError(f"{model_dir}: tokenizer has no chat template; use an instruct model")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def quantization_config(quantization: str, dtype: torch.dtype):
    """bitsandbytes settings for a frozen base: 4-bit NF4 with double quantization (QLoRA) or 8-bit."""
    if quantization == "none":
        return None
    if not torch.cuda.is_available():
        raise ModelError(f"quantization '{quantization}' (bitsandbytes) needs a CUDA GPU; "
                         "on a CPU use quantization: none")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError(f"quantization '{quantization}' needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=dtype)
    return BitsAndBytesConfig(load_in_8bit=True)


def load_base_model(spec: str | None, settings: Settings | None = None, device: str | None = None,
                    quantization: str = "none"):
    """Return (model, tokenizer, resolved) for a catalog name, GGUF path or HF directory."""
    resolved, model_dir = base_model_dir(spec, settings)
    auto_device, dtype = pick_device_and_dtype()
    device = device or auto_device
    bnb = quantization_config(quantization, dtype)
    try:
        if bnb is not None:  # placed on the GPU by bitsandbytes itself
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, quantization_config=bnb,
                                                         device_map={"": device})
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
            model.to(device)
    except (OSError, ValueError) as e:
        raise ModelError(f"{model_dir}: cannot load model: {e}") from e
    model.eval()
    return model, load_tokenizer(model_dir), resolved
