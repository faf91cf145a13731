"""The teacher client against a real local OpenAI-format server: answers, retries, errors, cache."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lextune.core.errors import DatasetError
from lextune.data.teacher import Teacher, TeacherConfig, TeacherError, teacher_from


def completion(content: object) -> dict:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "fake-teacher",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if srv.delay:
            time.sleep(srv.delay)
        status, payload, headers = (
            srv.script.pop(0) if srv.script else (200, completion(srv.answer(body)), {})
        )
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def log_message(self, *args: object) -> None:
        pass


def user_text(body: dict) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


@contextmanager
def fake_openai_server(
    answer: Callable[[dict], str] | None = None,
    script: list[tuple[int, object, dict]] | None = None,
    delay: float = 0.0,
) -> Iterator[tuple[ThreadingHTTPServer, str]]:
    """A loopback /v1/chat/completions server: scripted (status, payload, headers) replies first, then
    200 answers from `answer(request body)`. Yields the server (its .requests) and the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests, server.script, server.delay = [], list(script or []), delay
    server.answer = answer or (lambda body: "ANSWER: " + user_text(body)[:40])
    # A short poll keeps shutdown() fast (the default waits up to half a second per test).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def make_teacher(url: str, **kw: object) -> Teacher:
    sleeps: list[float] = []
    t = Teacher(TeacherConfig(base_url=url, model="fake-teacher", **kw), sleep=sleeps.append)
    t.sleeps = sleeps  # type: ignore[attr-defined]
    return t


MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Summarize clause 4."}]


def test_complete_sends_openai_request_and_returns_content(monkeypatch):
    monkeypatch.setenv("LEXTUNE_TEACHER_API_KEY", "sk-test-123")
    with fake_openai_server(lambda body: "  A short summary.  ") as (srv, url), make_teacher(url) as t:
        assert t.complete(MSGS) == "A short summary."
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test-123"
    assert req["body"] == {"model": "fake-teacher", "messages": MSGS, "max_tokens": 512, "temperature": 0.0}
    info = t.describe()
    assert info["base_url"] == url and info["endpoint"] == url + "/chat/completions"
    assert info["model"] == "fake-teacher" and info["requests_sent"] == 1
    assert "sk-test-123" not in json.dumps(info)


def test_no_key_means_no_auth_header(monkeypatch):
    monkeypatch.delenv("LEXTUNE_TEACHER_API_KEY", raising=False)
    with fake_openai_server() as (srv, url), make_teacher(url) as t:
        t.complete(MSGS)
    assert "Authorization" not in srv.requests[0]["headers"]


def test_500_then_200_is_retried_with_backoff():
    script = [(500, {"error": {"message": "overloaded"}}, {})]
    with fake_openai_server(lambda b: "ok", script=script) as (srv, url), make_teacher(url, backoff=0.5) as t:
        assert t.complete(MSGS) == "ok"
    assert len(srv.requests) == 2
    assert t.sleeps == [0.5]


def test_429_honours_retry_after():
    script = [(429, {"error": {"message": "slow down"}}, {"Retry-After": "2"}), (503, "busy", {})]
    with fake_openai_server(lambda b: "ok", script=script) as (srv, url), make_teacher(url, backoff=1) as t:
        assert t.complete(MSGS) == "ok"
    assert t.sleeps == [2.0, 2.0]  # the server's hint, then doubling from 1 s
    assert len(srv.requests) == 3


def test_401_is_a_precise_error_without_retry():
    script = [(401, {"error": {"message": "Incorrect API key provided"}}, {})]
    with (
        fake_openai_server(script=script) as (srv, url),
        make_teacher(url) as t,
        pytest.raises(TeacherError) as e,
    ):
        t.complete(MSGS)
    assert isinstance(e.value, DatasetError)
    assert e.value.kind == "auth" and e.value.status == 401
    msg = str(e.value)
    assert url + "/chat/completions" in msg and "401" in msg and "Incorrect API key" in msg
    assert "LEXTUNE_TEACHER_API_KEY" in msg
    assert len(srv.requests) == 1


def test_persistent_5xx_gives_up_after_max_retries():
    script = [(502, "bad gateway", {})] * 5
    with (
        fake_openai_server(script=script) as (srv, url),
        make_teacher(url, max_retries=2) as t,
        pytest.raises(TeacherError, match=r"HTTP 502 after 3 attempt\(s\): bad gateway") as e,
    ):
        t.complete(MSGS)
    assert e.value.kind == "http" and len(srv.requests) == 3


def test_other_4xx_is_not_retried():
    script = [(404, {"error": {"message": "model 'x' not found"}}, {})]
    with (
        fake_openai_server(script=script) as (srv, url),
        make_teacher(url) as t,
        pytest.raises(TeacherError, match="HTTP 404: model 'x' not found"),
    ):
        t.complete(MSGS)
    assert len(srv.requests) == 1


@pytest.mark.parametrize(
    "payload", ["not json at all", {"choices": []}, {"result": "x"}, completion(None), completion("   ")]
)
def test_malformed_answer_is_reported(payload):
    with (
        fake_openai_server(script=[(200, payload, {})]) as (_srv, url),
        make_teacher(url) as t,
        pytest.raises(TeacherError) as e,
    ):
        t.complete(MSGS)
    assert e.value.kind == "malformed" and url in str(e.value) and "200" in str(e.value)


def test_timeout_names_url_and_limit():
    with (
        fake_openai_server(delay=0.6) as (_srv, url),
        make_teacher(url, timeout=0.1, max_retries=1) as t,
        pytest.raises(TeacherError, match=r"timed out after 0.1s \(2 attempt") as e,
    ):
        t.complete(MSGS)
    assert e.value.kind == "timeout" and url in str(e.value)


def test_unreachable_server():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        make_teacher(f"http://127.0.0.1:{port}", max_retries=1) as t,
        pytest.raises(TeacherError, match="unreachable after 2 attempt") as e,
    ):
        t.complete(MSGS)
    assert e.value.kind == "connection" and str(port) in str(e.value)


def test_cache_avoids_paying_twice_and_persists(tmp_path):
    cache = tmp_path / "cache" / "teacher.jsonl"
    with fake_openai_server(lambda b: f"answer {len(user_text(b))}") as (srv, url):
        with make_teacher(url, cache_path=cache) as t:
            a1 = t.complete(MSGS)
            assert t.complete(MSGS) == a1
            t.complete(MSGS + [{"role": "user", "content": "more"}])
            assert len(srv.requests) == 2 and t.cache_hits == 1
        with cache.open("a") as f:
            f.write('{"key": "torn')  # a crash mid-write must not lose the cache
        with make_teacher(url, cache_path=cache) as t2:
            assert t2.complete(MSGS) == a1
            assert t2.requests_sent == 0 and t2.cache_hits == 1
            t2.complete(MSGS, temperature=0.7)  # a different request is asked anew
        assert len(srv.requests) == 3
        with make_teacher(url, cache_path=cache) as t3:  # the record after the torn line survived
            t3.complete(MSGS, temperature=0.7)
            assert t3.requests_sent == 0
    assert "Summarize clause 4" not in cache.read_text()  # answers only, not the client text asked


def test_config_from_env_and_endpoint_forms(monkeypatch):
    monkeypatch.delenv("LEXTUNE_TEACHER_BASE_URL", raising=False)
    monkeypatch.delenv("LEXTUNE_TEACHER_MODEL", raising=False)
    assert TeacherConfig.from_env() is None
    monkeypatch.setenv("LEXTUNE_TEACHER_BASE_URL", "http://h:8000/v1/")
    with pytest.raises(DatasetError, match="LEXTUNE_TEACHER_MODEL"):
        TeacherConfig.from_env()
    monkeypatch.setenv("LEXTUNE_TEACHER_MODEL", "qwen")
    cfg = TeacherConfig.from_env(timeout=5)
    assert (cfg.base_url, cfg.model, cfg.timeout, cfg.temperature) == ("http://h:8000/v1/", "qwen", 5, 0.0)
    assert cfg.endpoint == "http://h:8000/v1/chat/completions"
    assert TeacherConfig(base_url="http://h:8000", model="m").endpoint == "http://h:8000/v1/chat/completions"
    full = "http://h/openai/v1/chat/completions"
    assert TeacherConfig(base_url=full, model="m").endpoint == full


def test_teacher_from_arguments_win_and_cache_lives_in_home(monkeypatch, home):
    monkeypatch.setenv("LEXTUNE_TEACHER_BASE_URL", "http://env:1/v1")
    monkeypatch.setenv("LEXTUNE_TEACHER_MODEL", "env-model")
    t = teacher_from("http://arg:2/v1", None)
    assert (t.base_url, t.model) == ("http://arg:2/v1", "env-model")
    assert t.config.cache_path == home.resolve() / "teacher_cache.jsonl"
    t.close()
    monkeypatch.delenv("LEXTUNE_TEACHER_BASE_URL")
    assert teacher_from() is None
