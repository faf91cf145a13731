"""Request bodies are limited on the bytes received: a chunked body without Content-Length is cut too."""

from __future__ import annotations

import httpx

from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig


def test_body_limits(store, tiny_model_dir):
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir), max_request_bytes=2048))
    with live_server(app) as server:
        url = f"{server.url}/v1/chat/completions"
        big = b'{"model": "stock", "messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}'
        r = httpx.post(url, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "max_request_bytes" in r.json()["error"]["message"]

        def chunks():  # no Content-Length: chunked transfer encoding
            for i in range(0, len(big), 512):
                yield big[i:i + 512]

        r = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "over the limit of 2048" in r.json()["error"]["message"]
        small = httpx.get(f"{server.url}/v1/models")
        assert small.status_code == 200  # the service goes on
