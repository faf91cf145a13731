"""Every CLI command checks the caller's role: one table, applied to the whole command tree at import.

The CLI acts as the local admin unless LEXTUNE_USER names a user of LEXTUNE_TENANT (whose role is then
looked up). A command missing from the table stops the CLI from loading, so no new command can slip in
unchecked (tests/security/test_cli_roles.py walks the tree too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from lextune.core.errors import LextuneError
from lextune.security.roles import PermissionDenied

CLI_PERMISSIONS: dict[str, str] = {
    "ingest": "data", "analyze": "query", "ask": "query", "demo": "read", "serve": "train", "train": "train",
    "data build": "data", "data audit": "data", "data replay-answers": "data", "data export": "data", "data builders": "read",
    "models list": "read", "models export": "train", "models activate": "train", "models stock": "train",
    "eval": "train", "eval compare": "train", "eval tasks": "read", "eval runs": "read",
    "jobs list": "read", "jobs show": "read", "jobs cancel": "train", "jobs logs": "read",
    "audit served": "review", "audit verify": "admin", "vault forget": "admin", "pii mapping": "admin",
    "tenants create": "admin", "tenants list": "admin",
    "users add": "admin", "users list": "admin", "users set": "admin",
    "api-keys create": "admin", "api-keys list": "admin", "api-keys revoke": "admin",
    "keys rotate": "admin", "keys status": "admin",
    "privilege run": "data", "privilege log": "review", "privilege eval": "train",
    "monitor drift": "review",
    "retrain": "train", "models canary": "train", "models promote": "train", "models rollback": "train",
}

# Deployment-wide commands: only an admin of the default tenant (the installation's operator).
OPERATOR_ONLY = {"tenants create", "tenants list"}


class AccessDenied(LextuneError):
    """The CLI's user may not run this command."""


def check_cli(path: str) -> None:
    from lextune.core import audit
    from lextune.security.tenancy import cli_principal

    principal = cli_principal()
    try:
        principal.require(CLI_PERMISSIONS[path])
    except PermissionDenied as e:
        raise AccessDenied(f"lextune {path}: {e}") from None
    if path in OPERATOR_ONLY and principal.tenant != "default":
        raise AccessDenied(f"lextune {path}: only an admin of the default tenant manages tenants")
    if principal.user != "local-admin" or principal.tenant != "default":
        audit.set_actor(principal.actor)


def _guarded(path: str, fn: Callable[..., Any], group: bool) -> Callable[..., Any]:
    @functools.wraps(fn)  # typer reads the parameters through __wrapped__
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = next((v for v in kwargs.values() if isinstance(v, typer.Context)), None)
        if not group or ctx is None or not ctx.invoked_subcommand:  # a group's callback runs before its subcommands
            check_cli(path)
        return fn(*args, **kwargs)

    return wrapper


def guard(app: typer.Typer, prefix: str = "") -> None:
    """Wrap every command (and every group callback that is itself a command) of `app` with its check."""
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        path = f"{prefix}{name}"
        if path not in CLI_PERMISSIONS:
            raise RuntimeError(f"CLI command {path!r} has no entry in CLI_PERMISSIONS")
        info.callback = _guarded(path, info.callback, group=False)
    for group in app.registered_groups:
        sub = group.typer_instance
        name = group.name or sub.info.name
        path = f"{prefix}{name}"
        callback = sub.registered_callback
        if callback is not None and callback.callback is not None and path in CLI_PERMISSIONS:
            callback.callback = _guarded(path, callback.callback, group=True)
        guard(sub, f"{path} ")
