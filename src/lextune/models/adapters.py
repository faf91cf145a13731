"""LoRA adapters at rest: weights sealed on disk, loaded from decrypted bytes in memory.

A model version folder holds adapter_config.json (plain: hyperparameters and the base's path) and
adapter_model.safetensors sealed (kind "adapter"). Weights are serialized in memory and sealed before
they reach the disk, and loaded with safetensors.torch.load(bytes) + set_peft_model_state_dict: plaintext
weights never touch the disk. Folders written before sealing (plain weights) load the same way.
"""

from __future__ import annotations

import copy
from pathlib import Path

from lextune.core.errors import ModelError
from lextune.security.keyring import Keyring
from lextune.security.sealed_files import ADAPTER, read_sealed_bytes, write_maybe_sealed

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"


def adapter_bytes(peft_model, adapter_name: str = "default") -> bytes:
    """The adapter's weights as a safetensors file, in memory (what PEFT's save_pretrained writes)."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save

    state = get_peft_model_state_dict(peft_model, adapter_name=adapter_name, save_embedding_layers="auto")
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        v = v.detach().cpu()
        ptr = v.untyped_storage().data_ptr() if isinstance(v, torch.Tensor) else id(v)
        # safetensors refuses aliased tensors (tied adapters): clone the second and later names.
        out[k] = (v.clone() if ptr in seen else v).contiguous()
        seen.add(ptr)
    return save(out, metadata={"format": "pt"})


def save_adapter(peft_model, directory: Path, keyring: Keyring | None, adapter_name: str = "default") -> None:
    """PEFT's folder layout (loads in PEFT), the weights sealed when `keyring` is given."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(peft_model.peft_config[adapter_name])
    if config.base_model_name_or_path is None:
        config.base_model_name_or_path = peft_model.base_model.model.__dict__.get("name_or_path") or None
    config.inference_mode = True
    config.save_pretrained(str(directory))
    write_maybe_sealed(directory / WEIGHTS, adapter_bytes(peft_model, adapter_name), keyring, ADAPTER)


def load_adapter_state(folder: Path, keyring: Keyring | None, kind: str = ADAPTER) -> dict:
    """The adapter's tensors (CPU), opened in memory; CiphertextError names the file if it does not open."""
    from safetensors.torch import load

    return load(read_sealed_bytes(Path(folder) / WEIGHTS, keyring, kind))


def attach_adapter(model, folder: Path, keyring: Keyring | None, adapter_name: str = "default"):
    """`model` with the adapter of `folder` loaded for inference (as PeftModel.from_pretrained /
    load_adapter do, from bytes); returns the PeftModel."""
    from peft import PeftConfig, PeftModel, set_peft_model_state_dict
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise ModelError(f"adapter files missing at {folder}")
    config_cls = PEFT_TYPE_TO_CONFIG_MAPPING[PeftConfig._get_peft_type(str(folder))]
    config = config_cls.from_pretrained(str(folder))
    config.inference_mode = True
    state = load_adapter_state(folder, keyring)
    if isinstance(model, PeftModel):
        model.add_adapter(adapter_name, config)
    else:
        model = PeftModel(model, config, adapter_name=adapter_name)
    result = set_peft_model_state_dict(model, state, adapter_name=adapter_name)
    if result.unexpected_keys:
        raise ModelError(f"{folder / WEIGHTS}: weights that fit no module of the base model "
                         f"({', '.join(result.unexpected_keys[:3])}...): is it the right base?")
    model.eval()
    return model
