"""Every CLI command checks the caller's role; LEXTUNE_TENANT scopes the CLI to that tenant's store."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from lextune.cli import app
from lextune.core.config import get_settings, tenant_settings
from lextune.core.store import Store
from lextune.security import tenancy
from lextune.security.cli_guard import CLI_PERMISSIONS
from lextune.security.roles import ROLES, role_allows
from lextune.vault.vault import Vault


def _leaves(command, path=()):
    if hasattr(command, "commands"):
        if path and getattr(command, "invoke_without_command", False):
            yield " ".join(path)
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield " ".join(path)


def test_every_command_has_a_permission():
    leaves = set(_leaves(typer.main.get_command(app)))
    assert leaves and leaves <= set(CLI_PERMISSIONS), leaves - set(CLI_PERMISSIONS)


@pytest.fixture()
def firm(store, monkeypatch):
    tenancy.create_tenant(store, "acme")
    for role in ROLES:
        tenancy.add_user(store, "acme", f"u-{role}", role)
    monkeypatch.setenv("LEXTUNE_TENANT", "acme")
    return store


@pytest.mark.parametrize("role", ROLES)
def test_each_role_runs_only_what_it_may(firm, monkeypatch, role):
    monkeypatch.setenv("LEXTUNE_USER", f"u-{role}")
    runner = CliRunner()
    for argv, permission in [(["models", "list"], "read"), (["audit", "served"], "review"),
                             (["jobs", "cancel", "ftjob-x"], "train"), (["vault", "forget", "doc-x", "--reason", "r", "--yes"], "admin"),
                             (["users", "list"], "admin")]:
        result = runner.invoke(app, argv)
        denied = "may not" in str(result.exception or "") + result.output
        assert denied == (not role_allows(role, permission)), (role, argv, result.output, result.exception)


def test_unknown_user_or_tenant_is_refused(firm, monkeypatch):
    monkeypatch.setenv("LEXTUNE_USER", "mallory")
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code != 0 and "no user 'mallory'" in str(result.exception)
    monkeypatch.setenv("LEXTUNE_TENANT", "nobody")
    monkeypatch.delenv("LEXTUNE_USER")
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code != 0 and "no tenant 'nobody'" in str(result.exception)


def test_a_tenant_admin_cannot_manage_tenants_or_others(firm, monkeypatch):
    monkeypatch.setenv("LEXTUNE_USER", "u-admin")
    runner = CliRunner()
    assert "only an admin of the default tenant" in str(runner.invoke(app, ["tenants", "create", "evil"]).exception)
    assert "manages only that tenant" in str(runner.invoke(app, ["users", "list", "--tenant", "default"]).exception)


def test_the_cli_works_on_the_tenants_own_store(firm, tmp_path, monkeypatch):
    monkeypatch.setenv("LEXTUNE_USER", "u-engineer")
    (tmp_path / "nda.txt").write_text("MUTUAL NDA\n\n1. Confidentiality. Each party keeps secrets.\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nda.txt")])
    assert result.exit_code == 0, result.output
    settings = get_settings()
    assert settings.home == firm.settings.home / "tenants" / "acme"
    acme = Store(tenant_settings(firm.settings, "acme"))
    assert len(Vault(acme).documents()) == 1
    from sqlalchemy import select

    from lextune.core.tables import AuditEventRow

    with acme.session() as s:
        actors = {(r.action, r.actor) for r in s.scalars(select(AuditEventRow))}
    assert ("ingest", "acme/u-engineer") in actors, actors  # the trail names who acted
    assert Vault(firm).documents() == []  # the default tenant's vault holds nothing of acme's
    from lextune.core.audit import verify_trail

    assert verify_trail(acme).ok and verify_trail(firm).ok
    acme.close()
