"""Load the model that answers: the stock base model or a version (base + LoRA adapter)."""

from __future__ import annotations

from pathlib import Path

from lextune.core.config import Settings
from lextune.core.errors import ModelError
from lextune.core.records import ModelVersion
from lextune.models.adapters import attach_adapter
from lextune.models.loading import load_base_model
from lextune.security.sealed_files import keyring_for_file


def load_version(version: ModelVersion | None, base_model: str | None = None,
                 settings: Settings | None = None):
    """Return (model, tokenizer, label): base + adapter for a version, the stock model for None."""
    if version is None:
        model, tok, resolved = load_base_model(base_model, settings)
        return model, tok, f"stock:{resolved.name}"
    adapter = Path(version.adapter_path)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(f"model version {version.name}: adapter files missing at {adapter}")
    model, tok, _ = load_base_model(version.base_model, settings)
    # The weights are sealed at rest: opened in memory with the store's keyring, never written out plain.
    model = attach_adapter(model, adapter, keyring_for_file(adapter, settings))
    return model, tok, f"{version.name} ({version.id})"
