"""`lextune tenants|users|api-keys`: the control plane (firms, people and their roles, API keys)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from lextune.progress import console
from lextune.security.roles import ROLES

tenants_app = typer.Typer(help="Tenants (firms): each has its own store, folders and data keys.", no_args_is_help=True)
users_app = typer.Typer(help="Users of a tenant and their roles: " + ", ".join(ROLES) + ".", no_args_is_help=True)
api_keys_app = typer.Typer(help="API keys of users (shown once; only a hash is kept).", no_args_is_help=True)

TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant (default: LEXTUNE_TENANT or 'default').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _root():
    from lextune.core.config import root_settings
    from lextune.core.store import Store

    return Store(root_settings())


def _tenant(tenant: str | None) -> str:
    """The tenant a command acts on: a tenant's admin only ever acts on their own."""
    from lextune.security.cli_guard import AccessDenied
    from lextune.security.tenancy import cli_principal

    me = cli_principal()
    chosen = tenant or me.tenant
    if chosen != me.tenant and me.tenant != "default":
        raise AccessDenied(f"an admin of tenant {me.tenant!r} manages only that tenant")
    return chosen


def _print(rows: list[dict], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=title)
    for col in rows[0] if rows else ["(none)"]:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    console.print(table)


@tenants_app.command("create")
def tenants_create(slug: Annotated[str, typer.Argument(help="Short name: lowercase letters, digits, '-'.")],
                   name: Annotated[str | None, typer.Option(help="Display name.")] = None):
    """Create a tenant and its store (its own database or schema, folders and data keys)."""
    from lextune.security.tenancy import create_tenant

    create_tenant(_root(), slug, name)
    typer.echo(f"tenant {slug} created")


@tenants_app.command("list")
def tenants_list(as_json: JsonOpt = False):
    """List tenants."""
    from lextune.security.tenancy import list_tenants

    rows = [{"slug": t.slug, "name": t.name, "created_at": t.created_at.isoformat(), "disabled": t.disabled}
            for t in list_tenants(_root())]
    _print(rows, as_json, "tenants")


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="User name (unique within the tenant).")],
              role: Annotated[str, typer.Option(help="One of: " + ", ".join(ROLES) + ".")],
              tenant: TenantOpt = None):
    """Add a user with a role to a tenant."""
    from lextune.security.tenancy import add_user

    t = _tenant(tenant)
    add_user(_root(), t, name, role)
    typer.echo(f"user {name} ({role}) added to tenant {t}")


@users_app.command("list")
def users_list(tenant: TenantOpt = None, as_json: JsonOpt = False):
    """List a tenant's users."""
    from lextune.security.tenancy import list_users

    rows = [{"name": u.name, "role": u.role, "disabled": u.disabled, "created_at": u.created_at.isoformat()}
            for u in list_users(_root(), _tenant(tenant))]
    _print(rows, as_json, "users")


@users_app.command("set")
def users_set(name: str, role: Annotated[str | None, typer.Option(help="New role.")] = None,
              disable: Annotated[bool | None, typer.Option("--disable/--enable", help="Disable or enable.")] = None,
              tenant: TenantOpt = None):
    """Change a user's role, or disable (keys stop working at once) / enable them."""
    from lextune.security.tenancy import set_user

    u = set_user(_root(), _tenant(tenant), name, role=role, disabled=disable)
    typer.echo(f"user {u.name}: role {u.role}" + (", disabled" if u.disabled else ""))


@api_keys_app.command("create")
def api_keys_create(user: Annotated[str, typer.Option(help="The user the key acts as.")],
                    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
                    tenant: TenantOpt = None):
    """Create an API key. It is printed once, here; lextune keeps only its argon2 hash."""
    from lextune.security.tenancy import create_api_key

    key_id, key = create_api_key(_root(), _tenant(tenant), user, label)
    console.print(f"API key {key_id} for {user}: store it now, it is not shown again")
    typer.echo(key)


@api_keys_app.command("list")
def api_keys_list(tenant: TenantOpt = None, as_json: JsonOpt = False):
    """List a tenant's API keys (ids and owners, never the keys)."""
    from lextune.security.tenancy import list_api_keys

    _print(list_api_keys(_root(), _tenant(tenant)), as_json, "API keys")


@api_keys_app.command("revoke")
def api_keys_revoke(key_id: str, tenant: TenantOpt = None):
    """Revoke an API key: refused (401) from the next request on."""
    from lextune.security.tenancy import revoke_api_key

    revoke_api_key(_root(), _tenant(tenant), key_id)
    typer.echo(f"API key {key_id} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(users_app, name="users")
    app.add_typer(api_keys_app, name="api-keys")
