"""/v1/models: the stock base, the aliases (`active`, scopes) and every registered version."""

from __future__ import annotations

from typing import Any

from lextune.models.catalog import resolve_base_model
from lextune.registry.versions import DEFAULT_SCOPE, list_versions
from lextune.serve.pool import ACTIVE, STOCK, scopes


def _card(model_id: str, created: int, **lextune: Any) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "lextune",
            "parent": lextune.get("parent"), "lextune": lextune}


def model_cards(store, default_base: str | None = None) -> list[dict[str, Any]]:
    base = resolve_base_model(default_base).name
    versions = list_versions(store)
    by_id = {v.id: v for v in versions}
    active = scopes(store)
    scopes_of: dict[str | None, list[str]] = {}
    for scope, vid in active.items():
        scopes_of.setdefault(vid, []).append(scope)
    cards = [_card(base, 0, kind="base", parent=None, scopes=scopes_of.get(None, []), served=True)]
    for alias in [ACTIVE, *sorted(s for s in active if s != DEFAULT_SCOPE)]:
        scope = DEFAULT_SCOPE if alias == ACTIVE else alias
        v = by_id.get(active.get(scope) or "")
        cards.append(_card(alias, 0, kind="alias", scope=scope, parent=v.base_model if v else base,
                           resolves_to=v.name if v else f"{STOCK}:{base}", served=True))
    for v in versions:
        cards.append(_card(v.name, int(v.created_at.timestamp()), kind=v.kind, parent=v.base_model,
                           version_id=v.id, scopes=sorted(scopes_of.get(v.id, [])),
                           dataset_id=v.dataset_id, served=v.kind == "local"))
    return cards
