import pytest

from lextune.core.errors import ConfigError
from lextune.train.recipe import load_recipe


def test_defaults_without_a_file():
    r = load_recipe(None)
    assert r.lora.r == 16 and r.base_model == "smollm2-135m-instruct"


def test_shipped_recipe_is_valid():
    from importlib import resources
    from pathlib import Path

    path = Path(str(resources.files("lextune") / "recipes" / "lora-cpu.yaml"))
    assert load_recipe(path).learning_rate == 4e-4


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("learning_rate: 1e-4\nlora:\n  rank: 8\n")
    with pytest.raises(ConfigError, match=r"unknown key 'lora.rank'") as e:
        load_recipe(p)
    assert str(p) in str(e.value)


def test_wrong_type_is_named(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("batch_size: eight\n")
    with pytest.raises(ConfigError, match="'batch_size'"):
        load_recipe(p)


def test_not_a_mapping_and_missing_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_recipe(p)
    with pytest.raises(ConfigError, match="no such recipe"):
        load_recipe(tmp_path / "missing.yaml")
