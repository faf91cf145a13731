"""Tenants never see each other's data through the API (404, not 403); keys, roles and rate limits hold."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from lextune.core.config import tenant_settings
from lextune.core.store import Store
from lextune.core.tables import ModelVersionRow, TrainingJobRow
from lextune.core.tables_review import ReviewItemRow
from lextune.security import tenancy
from lextune.serve.app import create_app
from lextune.serve.config import ServeConfig
from lextune.vault.vault import Vault

CHAT = {"messages": [{"role": "system", "content": "Legal assistant."},
                     {"role": "user", "content": "Which law governs?"},
                     {"role": "assistant", "content": "New York law."}]}


@pytest.fixture()
def world(db_store, tmp_path, tiny_model_dir):
    """Two firms with a document, an uploaded file, a job, a model version and a review item each in acme;
    on SQLite and on PostgreSQL (each tenant a schema)."""
    store = db_store
    tenancy.create_tenant(store, "acme", "Acme LLP")
    tenancy.create_tenant(store, "beta", "Beta & Co")
    for tenant, user, role in [("acme", "ann", "admin"), ("acme", "vic", "viewer"), ("beta", "bea", "admin"),
                               ("default", "ops", "admin")]:
        tenancy.add_user(store, tenant, user, role)
    keys = {u: tenancy.create_api_key(store, t, u)[1] for t, u in [("acme", "ann"), ("acme", "vic"),
                                                                   ("beta", "bea"), ("default", "ops")]}
    acme = Store(tenant_settings(store.settings, "acme"))
    (tmp_path / "msa.txt").write_text("MASTER SERVICES AGREEMENT\n\n1. Governing Law. This Agreement is governed "
                                      "by the laws of Delaware.\n\n2. Term. Two years.\n", encoding="utf-8")
    Vault(acme).ingest([tmp_path / "msa.txt"])
    doc_id = Vault(acme).documents()[0].id
    with acme.session() as s:
        s.add(ModelVersionRow(id="v" * 32, name="acme-v1", base_model=str(tiny_model_dir), adapter_path="/nowhere",
                              dataset_id="d", dataset_sha256="0" * 64, recipe={}))
        s.add(TrainingJobRow(id="ftjob-a1b2c3", status="running", dataset_id="d", base_model="b", recipe={}))
        s.add(ReviewItemRow(id=REVIEW_ITEM, task="clause_extraction", matter="Initech", document_id=doc_id,
                            source_text="1. Governing Law. This Agreement is governed by the laws of Delaware.",
                            span_start=18, span_end=70, output={"label": "Governing Law", "text": "Delaware"},
                            confidence=0.9, model_version="acme-v1"))
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir)))
    with TestClient(app) as client:
        up = client.post("/v1/files", headers=_auth(keys["ann"]),
                         files={"file": ("train.jsonl", (json.dumps(CHAT) + "\n").encode())},
                         data={"purpose": "fine-tune"})
        assert up.status_code == 200, up.text
        yield {"client": client, "keys": keys, "doc": doc_id, "file": up.json()["id"], "item": REVIEW_ITEM,
               "acme": acme, "app": app}
    acme.close()


REVIEW_ITEM = "a1" * 16  # acme's review item (a real one: the fixture makes it)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# Every route, asked by beta for acme's things. Routes without a tenant resource are listed apart.
CROSS_TENANT = [
    ("GET", "/v1/models/{model_id:path}", "/v1/models/acme-v1", None),
    ("POST", "/v1/chat/completions", "/v1/chat/completions", {"model": "acme-v1", **CHAT}),
    ("POST", "/v1/chat/completions", "/v1/chat/completions",
     {"model": "stock", **CHAT, "lextune": {"retrieve": True, "documents": ["{doc}"]}}),
    ("POST", "/v1/completions", "/v1/completions", {"model": "acme-v1", "prompt": "Governing law:"}),
    ("GET", "/v1/files/{file_id}", "/v1/files/{file}", None),
    ("GET", "/v1/files/{file_id}/content", "/v1/files/{file}/content", None),
    ("DELETE", "/v1/files/{file_id}", "/v1/files/{file}", None),
    ("GET", "/v1/fine_tuning/jobs/{job_id}", "/v1/fine_tuning/jobs/ftjob-a1b2c3", None),
    ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel", "/v1/fine_tuning/jobs/ftjob-a1b2c3/cancel", None),
    ("GET", "/v1/fine_tuning/jobs/{job_id}/events", "/v1/fine_tuning/jobs/ftjob-a1b2c3/events", None),
    ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints", "/v1/fine_tuning/jobs/ftjob-a1b2c3/checkpoints", None),
    ("POST", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs", {"model": "stock", "training_file": "{file}"}),
    ("POST", "/v1/lextune/analyze", "/v1/lextune/analyze", {"document_id": "{doc}", "model": "stock"}),
    # The review screen: acme's review item, asked for by beta (more in tests/serve/test_review_screen.py)
    ("GET", "/review/items/{item_id}", "/review/items/{item}", None),
    ("POST", "/review/items/{item_id}/decide", "/review/items/{item}/decide", None),
]
LISTINGS = [("GET", "/v1/models"), ("GET", "/v1/files"), ("GET", "/v1/fine_tuning/jobs"), ("GET", "/review/dashboard")]
# The review queue's listing is checked per tenant in tests/serve/test_review_screen.py; sign-in is public.
NO_TENANT_RESOURCE = [("POST", "/v1/embeddings"), ("GET", "/health"), ("GET", "/review"), ("GET", "/review/login"),
                      ("POST", "/review/login"), ("POST", "/review/logout")]


def _fill(value, world):
    text = json.dumps(value).replace("{file}", world["file"]).replace("{doc}", world["doc"])
    return json.loads(text)


def test_every_route_is_covered_and_checks_a_permission(world):
    routes = {(m, r.path) for r in world["app"].routes if isinstance(r, APIRoute) for m in r.methods}
    covered = {(m, p) for m, p, _, _ in CROSS_TENANT} | set(LISTINGS) | set(NO_TENANT_RESOURCE)
    assert routes - {("GET", "/openapi.json")} <= covered, f"routes without a cross-tenant test: {routes - covered}"
    for r in world["app"].routes:
        if isinstance(r, APIRoute) and r.path != "/health":
            perms = [getattr(d.call, "permission", None) for d in r.dependant.dependencies]
            assert any(perms), f"{r.path} has no permission dependency"


@pytest.mark.parametrize("method,_route,path,body", CROSS_TENANT, ids=[f"{m} {p}" for m, p, _, _ in CROSS_TENANT])
def test_another_tenants_resource_is_404(world, method, _route, path, body):
    client, keys = world["client"], world["keys"]
    path = path.replace("{file}", world["file"]).replace("{item}", world["item"])
    r = client.request(method, path, headers=_auth(keys["bea"]), json=_fill(body, world) if body else None)
    assert r.status_code == 404, (path, r.status_code, r.text)
    assert "acme" not in r.text.lower().replace("acme-v1", "")  # nothing of acme's beyond what was asked
    # ... and exactly what an id that never existed gets: existence does not leak
    ids = [("acme-v1", "nope-v1"), ("ftjob-a1b2c3", "ftjob-ffffff"), (world["file"], "file-" + "0" * 24),
           (world["doc"], "doc-000000000000"), (world["item"], "f" * 32)]
    swap = (lambda t: [t := t.replace(a, b) for a, b in ids][-1])
    never = client.request(method, swap(path), headers=_auth(keys["bea"]),
                           json=json.loads(swap(json.dumps(_fill(body, world)))) if body else None)
    assert (never.status_code, never.json().get("error", {}).get("code")) == (404, r.json().get("error", {}).get("code"))


def test_the_owner_sees_them(world):
    client, key = world["client"], world["keys"]["ann"]
    assert client.get("/v1/models/acme-v1", headers=_auth(key)).status_code == 200
    assert client.get(f"/v1/files/{world['file']}", headers=_auth(key)).status_code == 200
    assert client.get("/v1/fine_tuning/jobs/ftjob-a1b2c3", headers=_auth(key)).status_code == 200
    assert client.get(f"/review/items/{world['item']}", headers=_auth(key)).status_code == 200


def test_listings_hold_only_the_tenants_own(world):
    client, keys = world["client"], world["keys"]
    for _, path in LISTINGS:
        mine = client.get(path, headers=_auth(keys["ann"])).text
        theirs = client.get(path, headers=_auth(keys["bea"]))
        assert theirs.status_code == 200
        assert "acme-v1" not in theirs.text and world["file"] not in theirs.text and "ftjob-a1b2c3" not in theirs.text
        assert any(x in mine for x in ("acme-v1", world["file"], "ftjob-a1b2c3"))


def test_bad_keys_get_401_and_nothing_else(world, db_store):
    store = db_store
    client, keys = world["client"], world["keys"]
    wrong = keys["vic"][:-4] + ("AAAA" if not keys["vic"].endswith("AAAA") else "BBBB")
    for headers in ({}, _auth("nonsense"), _auth(wrong), {"Authorization": keys["vic"]}):
        r = client.get("/v1/models", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"error": {"message": "Invalid API key.", "type": "authentication_error",
                                      "param": None, "code": "invalid_api_key"}}
    key_id = keys["vic"].split("_")[1]
    assert client.get("/v1/models", headers=_auth(keys["vic"])).status_code == 200
    tenancy.revoke_api_key(store, "acme", key_id)
    assert client.get("/v1/models", headers=_auth(keys["vic"])).status_code == 401  # at once, not after a cache
    tenancy.set_user(store, "acme", "ann", disabled=True)
    assert client.get("/v1/models", headers=_auth(keys["ann"])).status_code == 401


def test_roles_are_checked_within_a_tenant(world):
    client, keys = world["client"], world["keys"]
    r = client.post("/v1/files", headers=_auth(keys["vic"]), files={"file": ("t.jsonl", b"{}\n")},
                    data={"purpose": "fine-tune"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert client.post("/v1/fine_tuning/jobs", headers=_auth(keys["vic"]),
                       json={"model": "stock", "training_file": world["file"]}).status_code == 403
    assert client.get("/v1/models", headers=_auth(keys["vic"])).status_code == 200  # viewers may read


def test_rate_limit_per_key(store, tiny_model_dir):
    tenancy.add_user(store, "default", "ops", "viewer")
    _, key = tenancy.create_api_key(store, "default", "ops")
    _, other = tenancy.create_api_key(store, "default", "ops")
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir), rate_limit_per_minute=1, rate_limit_burst=2))
    with TestClient(app) as client:
        codes = [client.get("/v1/models", headers=_auth(key)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert client.get("/v1/models", headers=_auth(other)).status_code == 200  # per key, not global


def test_no_secret_in_logs_or_trail(world, db_store, caplog, capfd):
    store = db_store
    caplog.set_level(logging.DEBUG)
    client, keys = world["client"], world["keys"]
    for key in keys.values():
        client.get("/v1/models", headers=_auth(key))
        client.get("/v1/models", headers=_auth(key[:-2] + "zz"))
    secrets = [k.split("_", 2)[2] for k in keys.values()]
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    with store.session() as s:
        from sqlalchemy import select

        from lextune.core.tables import AuditEventRow

        trail = json.dumps([[r.actor, r.target, r.details] for r in s.scalars(select(AuditEventRow))])
    assert "api_key.create" not in trail or all(k.split("_")[1] in trail for k in keys.values())
    raw = _raw_database(store)
    for secret in secrets:
        assert secret not in logged and secret not in trail and secret.encode() not in raw


def _raw_database(store) -> bytes:
    """Everything the database holds: the SQLite file and its WAL, or every row of the PostgreSQL schema as text."""
    if store.is_sqlite:
        db = store.settings.home / "lextune.db"
        wal = db.with_name("lextune.db-wal")
        return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    from sqlalchemy import inspect, text

    with store.engine.connect() as conn:
        names = inspect(conn).get_table_names(schema=store.schema)
        return "\n".join(str(v) for t in names for v in conn.execute(
            text(f'SELECT t::text FROM "{store.schema}"."{t}" t')).scalars()).encode()


def test_no_keys_means_local_admin_on_loopback_only(store, tiny_model_dir):
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir)))
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 200
    from typer.testing import CliRunner

    from lextune.cli import app as cli

    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--no-warm"])
    assert result.exit_code != 0 and "no API key exists yet" in str(result.exception)


def test_served_answers_and_their_audit_rows_stay_in_the_tenant(world, db_store):
    store = db_store
    from lextune.core.tables import AuditEventRow
    from lextune.serve.trace import served_answers

    client, keys = world["client"], world["keys"]
    r = client.post("/v1/chat/completions", headers=_auth(keys["ann"]),
                    json={"model": "stock", "messages": CHAT["messages"][:2], "max_tokens": 2})
    assert r.status_code == 200, r.text
    mine = served_answers(world["acme"])
    assert [a["request_id"] for a in mine] == [r.json()["lextune"]["request_id"]]
    beta = Store(tenant_settings(store.settings, "beta"))
    assert served_answers(beta) == [] and served_answers(store) == []
    from sqlalchemy import select

    with world["acme"].session() as s:
        row = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "serve.answer")).one()
    assert row.actor == f"acme/ann key:{keys['ann'].split('_')[1]}"  # who asked, by key id, never the key
    beta.close()
