import pytest

from lextune.core.errors import NotFoundError
from lextune.core.records import ModelVersion
from lextune.registry.versions import (
    activate,
    active_version,
    get_version,
    list_versions,
    register_version,
    use_stock,
)


def _version(store, name: str) -> ModelVersion:
    return register_version(store, ModelVersion(
        id=f"mv-{name}", name=name, base_model="tiny", adapter_path="/nowhere", dataset_id="ds-1",
        dataset_sha256="0" * 64, recipe={}))


def test_one_active_version_and_back_to_stock(store):
    _version(store, "a")
    _version(store, "b")
    assert active_version(store) is None
    activate(store, "a")
    assert active_version(store).name == "a"
    activate(store, "mv-b")
    assert active_version(store).name == "b"
    use_stock(store)
    assert active_version(store) is None
    assert [v.name for v in list_versions(store)] == ["a", "b"]  # nothing deleted


def test_scopes_are_independent(store):
    _version(store, "a")
    activate(store, "a", scope="litigation")
    assert active_version(store, "litigation").name == "a"
    assert active_version(store) is None


def test_unknown_version_lists_known(store):
    _version(store, "a")
    with pytest.raises(NotFoundError, match="no model version 'zzz'; known: a"):
        get_version(store, "zzz")
    with pytest.raises(NotFoundError):
        activate(store, "zzz")


def test_scope_names_are_checked(store):
    from lextune.core.errors import ConfigError

    _version(store, "a")
    activate(store, "a", scope="immigration/spousal")
    for bad in ("active", "stock", "", "/leading-slash", "x" * 65, "has space"):
        with pytest.raises(ConfigError, match="scope"):
            activate(store, "a", scope=bad)


def test_cli_activates_and_resets_a_scope(store):
    from typer.testing import CliRunner

    from lextune.cli import app

    _version(store, "a")
    runner = CliRunner()
    r = runner.invoke(app, ["models", "activate", "a", "--scope", "tax/eu", "--force"])
    assert r.exit_code == 0, r.output
    assert "for scope tax/eu" in r.output and active_version(store, "tax/eu").name == "a"
    assert active_version(store) is None  # the default scope is untouched
    assert runner.invoke(app, ["models", "stock", "--scope", "tax/eu"]).exit_code == 0
    assert active_version(store, "tax/eu") is None
