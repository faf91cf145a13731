"""`lextune keys`: the data keys that seal this store at rest, their rotation, and the master key's.

No step stops the service: rotation adds a key, re-encryption goes in small transactions, a master
rotation re-wraps data keys only. Nothing here ever prints key material: ids, dates and counts only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lextune.progress import console

stdout = Console()
keys_app = typer.Typer(help="Encryption at rest: data keys, rotation, re-encryption, the master key.",
                       no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(
    reencrypt: Annotated[bool, typer.Option(
        "--reencrypt", help="Re-seal every sealed column, file and cache entry with the active key (and seal "
        "legacy plaintext), then retire the older keys that seal nothing.")] = False,
    new_key: Annotated[bool | None, typer.Option(
        "--new-key/--no-new-key", help="Create a new active data key (default: yes, unless a new master key "
        "is given).")] = None,
    new_master_key_file: Annotated[Path | None, typer.Option(
        help="Re-wrap every data key under the master key in this file (created, 0600, when absent).")] = None,
    new_master_key_env: Annotated[str | None, typer.Option(
        help="Re-wrap every data key under the master key in this environment variable.")] = None,
    delete_retired: Annotated[bool, typer.Option(
        "--delete-retired", help="Delete retired data keys that (counted again) seal nothing. Backups made "
        "before the re-encryption need them: only once those may go.")] = False,
    batch: Annotated[int, typer.Option(help="Rows per transaction when re-encrypting.", min=1)] = 500,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
):
    """Rotate keys: a new data key (default), --reencrypt everything with it, or a new master key."""
    from pydantic import SecretStr

    from lextune.core.config import get_settings
    from lextune.core.errors import ConfigError
    from lextune.core.store import Store
    from lextune.security import rotation

    master = new_master_key_file is not None or new_master_key_env is not None
    new_key = new_key if new_key is not None else not master
    if not (master or new_key or reencrypt or delete_retired):
        raise ConfigError("nothing to do: drop --no-new-key, or add --reencrypt or --delete-retired")
    outcome: dict = {}
    settings = get_settings()
    if master:
        outcome["master"], raw = _rotate_master(new_master_key_file, new_master_key_env)
        # The rest runs under the new master key, whichever way this process was given the old one.
        settings = settings.model_copy(update={"master_key": SecretStr(raw.hex()), "key_provider": None})
    if new_key or reencrypt or delete_retired:
        store = Store(settings)
        try:
            if new_key:
                outcome["new_data_key"] = rotation.add_data_key(store)
            if reencrypt:
                outcome["reencrypt"] = rotation.reencrypt(store, batch=batch, progress=lambda m: console.print(m))
            if delete_retired:
                outcome["deleted"] = rotation.delete_retired(store)
        finally:
            store.close()
    if json_out:
        stdout.print_json(json.dumps(outcome))
    else:
        _print_rotation(outcome)


def _rotate_master(file: Path | None, env: str | None) -> tuple[dict, bytes]:
    from lextune.core.config import DEFAULT_TENANT, get_settings, root_settings
    from lextune.core.errors import ConfigError
    from lextune.security.master_rotation import new_master, rotate_master

    if get_settings().tenant != DEFAULT_TENANT:
        raise ConfigError("the master key wraps every tenant's keys: rotate it as the default tenant's admin "
                          "(without LEXTUNE_TENANT)")
    new, raw, created = new_master(file, env)
    outcome = rotate_master(root_settings(), new, raw)
    outcome["new_key_file_created"] = str(file) if created else None
    return outcome, raw


def _print_rotation(outcome: dict) -> None:
    say = lambda text: stdout.print(text, highlight=False, soft_wrap=True)
    if "master" in outcome:
        m = outcome["master"]
        if m["new_key_file_created"]:
            say(f"created a new master key in {m['new_key_file_created']} (0600)")
        say(f"master key {m['previous_master_key_id']} -> {m['master_key_id']}: "
            + ", ".join(f"{s['store']} ({s['rewrapped']} data keys re-wrapped)" for s in m["stores"]))
        for line in m["todo"]:
            say(f"to do: {line}")
    if "new_data_key" in outcome:
        later = "" if "reencrypt" in outcome else " (lextune keys rotate --reencrypt --no-new-key re-seals it)"
        say(f"new active data key {outcome['new_data_key']}; older keys stay to open what they sealed{later}")
    if "reencrypt" in outcome:
        r = outcome["reencrypt"]
        say(f"re-encrypted with {r['active']}: columns {_counts(r['columns'])}; files {_counts(r['files'])}; "
            f"evaluation cache {_counts(r['eval_cache'])}; teacher cache {_counts(r['teacher_cache'])}")
        for problem in r["unreadable"]:
            say(f"unreadable, left as is: {problem}")
        say(f"retired: {', '.join(r['retired']) or 'none (older keys still seal something: see lextune keys status)'}")
    if "deleted" in outcome:
        say(f"deleted retired keys: {', '.join(outcome['deleted']) or 'none'}")


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n) or "nothing"


@keys_app.command("status")
def keys_status(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False):
    """This store's data keys (ids, state, created, master key id) and what each seals; never key material."""
    from lextune.core.store import Store
    from lextune.security.rotation import describe_keys

    store = Store()
    try:
        info = describe_keys(store)
    finally:
        store.close()
    if json_out:
        stdout.print_json(json.dumps(info))
        return
    table = Table("data key", "state", "created", "master key", "records", "files", "eval cache", "teacher cache")
    for k in info["keys"]:
        seals = k["seals"]
        table.add_row(k["id"], k["state"], (k["created_at"] or "")[:19], k["master_key_id"],
                      *(str(seals.get(x, "")) if k["purpose"] != "index" else "-"
                        for x in ("records", "files", "eval_cache", "teacher_cache")))
    stdout.print(table)
    plain = info["plaintext"]
    if plain:
        stdout.print(f"not sealed yet (lextune keys rotate --reencrypt --no-new-key seals them): {_counts(plain)}",
                     highlight=False, soft_wrap=True)
    for kid, seals in info["unknown_keys"].items():
        stdout.print(f"sealed with a key this store does not have ({kid}): {_counts(seals)}", highlight=False)
