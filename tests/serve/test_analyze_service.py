"""POST /v1/lextune/analyze through the real service: its warm engine answers, the trace says which model."""

from __future__ import annotations

import httpx

from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig

CONTRACT = ("SUPPLY AGREEMENT\n\n1. Governing Law. This Agreement is governed by the laws of the State of Delaware.\n\n"
            "2. Renewal. This Agreement renews automatically for one year unless either party gives thirty (30) "
            "days' notice.\n")


def test_analyze_route_on_the_served_model(store, tiny_model_dir):
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir)))
    with live_server(app) as server:
        ok = httpx.post(f"{server.url}/v1/lextune/analyze", timeout=120, json={
            "text": CONTRACT, "filename": "supply.txt", "model": "stock", "format": "json+html",
            "playbook": {"name": "test", "required": ["Cap on Liability"]}})
        bad = httpx.post(f"{server.url}/v1/lextune/analyze", timeout=60, json={
            "text": CONTRACT, "playbook": {"name": "test", "requird": ["Cap on Liability"]}})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["lextune"]["model_version"].startswith("stock:") and body["lextune"]["fine_tuned"] is False
    # A random model finds no cap on liability, so the playbook's required clause is flagged missing.
    assert any("Cap on Liability" in f["message"] for f in body["flags"])
    assert all(CONTRACT[c["start"]:c["end"]] == c["text"] for c in body["clauses"])
    assert body["html"].startswith("<!DOCTYPE html>")
    assert bad.status_code == 422 and "requird" in bad.text
