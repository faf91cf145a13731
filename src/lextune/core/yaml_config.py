"""YAML config files (training recipes, build configs): read as a mapping, explain validation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lextune.core.errors import ConfigError


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The YAML file's top-level mapping ({} for an empty file); ConfigError naming the file otherwise."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} is a YAML mapping of keys to values")
    return data or {}


def describe_validation(e: ValidationError, source: str, what: str) -> str:
    """One line naming every bad key: unknown ones, and the others with the value that was given."""
    parts = []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        else:
            parts.append(f"'{key}': {err['msg']} (got {err.get('input')!r})")
    return f"{source}: invalid {what}: " + "; ".join(parts)
