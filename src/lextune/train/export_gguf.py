"""Write a merged model as GGUF, quantized tensor by tensor like the base GGUF it came from.

The base GGUF is the template: its metadata (architecture, hyperparameters, tokenizer, chat
template) is copied as is, and each of its tensors is replaced by the merged model's weight,
re-quantized to that tensor's original type. Tensors the adapter did not change keep the base's
bytes exactly. This is the route for llama-architecture GGUF bases (the bundled one included);
an HF-folder base needs llama.cpp's convert_hf_to_gguf.py on the exported `merged/` folder.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gguf import (
    MODEL_ARCH,
    GGMLQuantizationType,
    GGUFEndian,
    GGUFReader,
    GGUFValueType,
    GGUFWriter,
    LlamaFileType,
    get_tensor_name_map,
)
from gguf.quants import QuantError, dequantize, quantize

from lextune.core.errors import ModelError

# Architectures whose HF -> GGUF conversion is renaming plus llama.cpp's Q/K row permutation.
_LLAMA_LIKE = {"llama": MODEL_ARCH.LLAMA}
# What `quant=` may ask for instead of the base's types: the ones gguf-py writes faithfully.
QUANT_CHOICES = ("F16", "BF16", "Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0")


class ExportError(ModelError):
    """A model version cannot be exported in the requested form."""


def requantize(values: np.ndarray, qtype: GGMLQuantizationType) -> tuple[np.ndarray, GGMLQuantizationType]:
    """`values` encoded as `qtype`, or as F16 where the gguf package cannot produce that type."""
    try:
        return quantize(values, qtype), qtype
    except (NotImplementedError, QuantError):
        # QuantError: the row length is not a multiple of the type's block size.
        return values.astype(np.float16), GGMLQuantizationType.F16


def _permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's convert_hf_to_gguf interleaves rotary halves per head; transformers undoes it
    # on load (LlamaTensorProcessor._reverse_permute_weights), so the export must redo it.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _field(reader: GGUFReader, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return field.contents() if field is not None else default


def _gguf_weights(model, arch: str, n_layers: int, n_head: int, n_kv: int) -> dict[str, np.ndarray]:
    """The model's weights under GGUF tensor names, in GGUF layout (float32)."""
    names = get_tensor_name_map(_LLAMA_LIKE[arch], n_layers)
    out: dict[str, np.ndarray] = {}
    for hf_name, tensor in model.state_dict().items():
        stem, _, suffix = hf_name.rpartition(".")
        gguf_stem = names.get_name(stem)
        if gguf_stem is None:
            continue
        values = tensor.detach().to(device="cpu", dtype=torch.float32).numpy()
        if gguf_stem.endswith(".attn_q"):
            values = _permute_qk(values, n_head)
        elif gguf_stem.endswith(".attn_k"):
            values = _permute_qk(values, n_kv)
        out[f"{gguf_stem}.{suffix}"] = values
    return out


def write_merged_gguf(base_gguf: Path, model, target: Path, metadata: dict[str, str] | None = None,
                      quant: str | None = None) -> dict:
    """Write `model` (merged, full precision) to `target` with the base GGUF's metadata and tensor types.

    `quant` (one of QUANT_CHOICES) writes every quantized matrix in that type instead of the base's:
    re-rounding to a coarse grid such as Q4_1 adds noise of the size of the original quantization.
    Returns what the card records: per-tensor types, fallbacks to F16, how many tensors changed.
    """
    if quant is not None and quant not in QUANT_CHOICES:
        raise ExportError(f"unknown GGUF quantization '{quant}'; choose one of {', '.join(QUANT_CHOICES)}")
    override = GGMLQuantizationType[quant] if quant else None
    reader = GGUFReader(base_gguf)
    arch = _field(reader, "general.architecture")
    if arch not in _LLAMA_LIKE:
        raise ExportError(f"{base_gguf.name}: GGUF export supports llama-architecture bases, not '{arch}'; "
                          "convert the exported merged/ folder with llama.cpp's convert_hf_to_gguf.py")
    if reader.endianess != GGUFEndian.LITTLE:
        raise ExportError(f"{base_gguf.name}: big-endian GGUF files are not supported for export")
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    weights = _gguf_weights(model, arch, int(_field(reader, f"{arch}.block_count")), n_head,
                            int(_field(reader, f"{arch}.attention.head_count_kv", n_head)))

    writer = GGUFWriter(target, arch, use_temp_file=True)
    if "general.alignment" in reader.fields:
        writer.data_alignment = int(_field(reader, "general.alignment"))
    overrides = dict(metadata or {})
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture" or field.name in overrides:
            continue
        if field.name == "general.file_type" and override is not None:
            writer.add_file_type(LlamaFileType[f"MOSTLY_{override.name}"])
            continue
        sub_type = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    for key, value in overrides.items():
        writer.add_key_value(key, value, GGUFValueType.STRING)

    types: dict[str, str] = {}
    fallbacks: dict[str, str] = {}
    changed = 0
    base_names = {t.name for t in reader.tensors}
    matrices = {t.name for t in reader.tensors if len(t.shape) > 1} | {"output.weight"}
    for tensor in reader.tensors:
        stored = GGMLQuantizationType(tensor.tensor_type)
        # F32 tensors (norms) stay F32 whatever `quant` says, as llama.cpp's quantizer keeps them.
        qtype = override if override is not None and stored != GGMLQuantizationType.F32 else stored
        values = weights.get(tensor.name)
        if values is None:  # a tensor transformers has no weight for (e.g. rope_freqs): keep it
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=stored)
            types[tensor.name] = stored.name
            continue
        shape = tuple(int(n) for n in reversed(tensor.shape.tolist()))
        if values.shape != shape:
            raise ExportError(f"{base_gguf.name}: tensor {tensor.name} is {shape} in the base GGUF but "
                              f"{values.shape} in the merged model; is this the base the adapter was trained on?")
        unchanged = np.array_equal(dequantize(tensor.data, stored).reshape(shape), values)
        if unchanged and qtype == stored:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=stored)
            types[tensor.name] = stored.name
            continue
        data, written = requantize(values, qtype)
        writer.add_tensor(tensor.name, data, raw_dtype=written)
        types[tensor.name] = written.name
        changed += not unchanged
        if written != qtype:
            fallbacks[tensor.name] = f"{qtype.name} -> {written.name}"
    untied = weights.get("output.weight")
    if (untied is not None and "output.weight" not in base_names
            and not np.array_equal(untied, weights.get("token_embd.weight"))):
        # The merged head no longer equals the embedding (it was trained): give it its own tensor.
        qtype = override or GGMLQuantizationType(
            next(t.tensor_type for t in reader.tensors if t.name == "token_embd.weight"))
        data, written = requantize(untied, qtype)
        writer.add_tensor("output.weight", data, raw_dtype=written)
        types["output.weight"] = written.name
        changed += 1

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    matrix_types = Counter(t for name, t in types.items() if name in matrices)
    return {
        "base_gguf": base_gguf.name,
        "quantization": quant or "like the base",
        "file_type": matrix_types.most_common(1)[0][0] if matrix_types else "F32",
        "tensor_types": dict(Counter(types.values())),
        "requantized_tensors": changed,
        "f16_fallbacks": fallbacks,
    }


def tensor_types(path: Path) -> dict[str, str]:
    """Each tensor's GGML type in a GGUF file, by tensor name."""
    return {t.name: GGMLQuantizationType(t.tensor_type).name for t in GGUFReader(path).tensors}


def gguf_chat_template(path: Path) -> str:
    """The chat template a GGUF file carries ("" if none)."""
    return _field(GGUFReader(path), "tokenizer.chat_template", "") or ""
