import pytest

from lextune.core.errors import ModelError
from lextune.models.catalog import CATALOG, DEFAULT_BASE_MODEL, resolve_base_model


def test_default_is_in_catalog():
    assert DEFAULT_BASE_MODEL in CATALOG


def test_hf_directory_resolves(tiny_model_dir):
    r = resolve_base_model(str(tiny_model_dir))
    assert r.kind == "hf_dir" and r.directory == tiny_model_dir.resolve()


def test_unknown_path_lists_catalog(tmp_path):
    with pytest.raises(ModelError, match=f"unknown base model .*{DEFAULT_BASE_MODEL}"):
        resolve_base_model(str(tmp_path / "nope"))


def test_gguf_path_resolves(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    r = resolve_base_model(str(f))
    assert r.kind == "gguf" and r.gguf_file == "m.gguf"
