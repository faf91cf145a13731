import pytest

from lextune.core.errors import ConfigError
from lextune.train.recipe import load_recipe


def test_defaults_without_a_file():
    r = load_recipe(None)
    assert r.lora.r == 16 and r.base_model == "smollm2-135m-instruct"


def test_shipped_recipes_are_valid():
    from importlib import resources
    from pathlib import Path

    folder = Path(str(resources.files("lextune") / "recipes"))
    recipes = {p.name: load_recipe(p) for p in folder.glob("*.yaml")}
    assert recipes["lora-cpu.yaml"].learning_rate == 4e-4 and recipes["lora-cpu.yaml"].precision == "auto"
    assert recipes["qlora-gpu-4bit.yaml"].quantization == "4bit"
    assert recipes["dora-gpu-bf16.yaml"].lora.use_dora
    assert recipes["lora-gpu-bf16.yaml"].precision == "bf16"


def test_every_recipe_field_is_documented():
    from lextune.train.recipe import LoraSettings, Recipe

    for model in (Recipe, LoraSettings):
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name} has no description"


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
