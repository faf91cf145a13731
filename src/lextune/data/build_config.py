"""Read a `data build` config from YAML and command-line overrides, validated before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lextune.core.errors import ConfigError
from lextune.data.dataset import BuildConfig


def load_build_config(path: Path | None, overrides: dict[str, Any] | None = None) -> BuildConfig:
    """BuildConfig from an optional YAML file, then command-line values on top."""
    data: dict[str, Any] = {}
    source = "build options"
    if path is not None:
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such build config file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a build config is a YAML mapping of keys to values")
        data = loaded or {}
    data.update(overrides or {})
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        parts = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            parts.append(f"unknown key '{key}'" if err["type"] == "extra_forbidden"
                         else f"'{key}': {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{source}: invalid build config: " + "; ".join(parts)) from None
