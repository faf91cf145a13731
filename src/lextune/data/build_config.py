"""Read a `data build` config from YAML and command-line overrides, validated before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lextune.core.errors import ConfigError
from lextune.core.yaml_config import describe_validation, read_yaml_mapping
from lextune.data.dataset import BuildConfig


def load_build_config(path: Path | None, overrides: dict[str, Any] | None = None) -> BuildConfig:
    """BuildConfig from an optional YAML file, then command-line values on top."""
    data = read_yaml_mapping(path, "build config") if path is not None else {}
    data.update(overrides or {})
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation(e, str(path or "build options"), "build config")) from None
