"""Document metadata the user sets: on the command line, in a folder's `lextune.meta.yaml`, or in a
sidecar file beside one document (`contract.pdf.meta.yaml` / `.meta.yml` / `.meta.json`).

The standard keys (client, matter, jurisdiction, practice area, document type) drive splits by
matter or client and the dataset audit's diversity section; other keys are kept as they are. A key
that looks like a misspelt standard key ("clinet") is an error, not a silent new key.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from lextune.core.errors import IngestError

STANDARD_KEYS = ("client", "matter", "jurisdiction", "practice_area", "document_type")
FOLDER_META = "lextune.meta.yaml"
SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")


def is_metadata_file(path: Path) -> bool:
    """Sidecar and folder metadata files are read with the documents, not ingested as documents."""
    name = path.name.lower()
    return name == FOLDER_META or name.endswith(SIDECAR_SUFFIXES)


def check_metadata(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Validate user metadata: scalar values, standard keys spelt right; '-' in keys becomes '_'."""
    out: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).strip().lower().replace("-", "_").replace(" ", "_")
        if key not in STANDARD_KEYS:
            close = difflib.get_close_matches(key, STANDARD_KEYS, n=1, cutoff=0.75)
            if close:
                raise IngestError(source, f"unknown metadata key '{raw_key}': did you mean '{close[0]}'?")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise IngestError(source, f"metadata '{raw_key}' must be a single value, got {type(value).__name__}")
        out[key] = value
    return out


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs from the command line."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise IngestError("--meta", f"expected key=value, got '{pair}'")
        values[key.strip()] = value.strip()
    return check_metadata(values, "--meta")


@lru_cache(maxsize=4096)
def _read_meta_file(path: Path) -> tuple[tuple[str, Any], ...]:
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise IngestError(path, f"unreadable metadata file: {exc}") from exc
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise IngestError(path, "a metadata file is a mapping of keys to values")
    return tuple(check_metadata(data, str(path)).items())


def metadata_for(path: Path, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Metadata for one file: `base` (command line), then folder files from the outermost folder
    in, then the file's own sidecar; the most specific source wins."""
    merged: dict[str, Any] = dict(base or {})
    path = path.resolve()
    for folder in reversed(path.parents):
        folder_meta = folder / FOLDER_META
        if folder_meta.is_file():
            merged.update(_read_meta_file(folder_meta))
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.is_file():
            merged.update(_read_meta_file(sidecar))
            break
    return merged
