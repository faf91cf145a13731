"""A fake OpenAI fine-tuning service on 127.0.0.1 for the backend tests: files and fine_tuning.jobs.

It speaks the wire format the official SDK expects (OpenAI's JSON objects, cursor pages listed
newest first, {"error": {...}} bodies), moves each job one state further on every GET, and records
every request so tests can check what the client sent.
"""

from __future__ import annotations

import email.policy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What each scenario's job goes through, one step per GET; the last state sticks.
SCENARIOS = {
    "succeed": ["validating_files", "queued", "running", "running", "running", "succeeded"],
    "fail": ["validating_files", "queued", "running", "failed"],
    "stuck": ["validating_files", "queued"],
}
FAILURE = {"code": "invalid_training_file", "message": "Training file has 3 examples with too many tokens",
           "param": "training_file"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or {"fields": {...}, "files": {...}} for multipart


@dataclass
class FakeOpenAI:
    api_key: str = "sk-test"
    scenario: str = "succeed"
    page_size: int = 2  # small, so listing events needs the SDK to follow `after` cursors
    requests: list[Request] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # oldest first
    failures: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path regex, status), once each
    reject_model: str | None = None
    _steps: dict[str, int] = field(default_factory=dict)
    _ids: Any = field(default_factory=itertools.count)

    def fail_once(self, method: str, path_regex: str, status: int) -> None:
        self.failures.append((method, path_regex, status))

    def event_messages(self, job_id: str) -> list[str]:
        return [e["message"] for e in self.events[job_id]]

    # -- endpoint logic -------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/v1/files":
            return self._upload(body)
        if m := re.fullmatch(r"/v1/files/([\w-]+)", path):
            if method == "DELETE" and self.files.pop(m[1], None) is not None:
                return 200, {"id": m[1], "object": "file", "deleted": True}
            return _error(404, f"No such File object: {m[1]}")
        if method == "POST" and path == "/v1/fine_tuning/jobs":
            return self._create(body)
        if not (m := re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)(/cancel|/events)?", path)):
            return _error(404, f"Invalid URL ({method} {path})")
        job = self.jobs.get(m[1])
        if job is None:
            return _error(404, f"Could not find fine-tune: {m[1]}")
        if method == "GET" and not m[2]:
            self._advance(job)
            return 200, job
        if method == "POST" and m[2] == "/cancel":
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return _error(400, f"Job has already completed: {job['id']}")
            self._set(job, "cancelled")
            return 200, job
        if method == "GET" and m[2] == "/events":
            return 200, self._page(job["id"], query)
        return _error(405, f"{method} not allowed on {path}")

    def _upload(self, body: dict[str, Any]) -> tuple[int, Any]:
        upload = body["files"].get("file")
        if upload is None or body["fields"].get("purpose") != "fine-tune":
            return _error(400, "expected a file and purpose=fine-tune")
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = {"filename": upload[0], "content": upload[1], "purpose": body["fields"]["purpose"]}
        return 200, {"id": file_id, "object": "file", "bytes": len(upload[1]), "created_at": int(time.time()),
                     "filename": upload[0], "purpose": "fine-tune", "status": "processed"}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("model") == self.reject_model:
            return _error(400, f"Model {body['model']} is not available for fine-tuning or does not exist.")
        if body.get("training_file") not in self.files:
            return _error(400, f"invalid training_file: {body.get('training_file')}")
        job_id = f"ftjob-{next(self._ids)}"
        hp = (body.get("method") or {}).get("supervised", {}).get("hyperparameters", {})
        self.jobs[job_id] = {
            "id": job_id, "object": "fine_tuning.job", "model": body["model"], "created_at": int(time.time()),
            "finished_at": None, "fine_tuned_model": None, "organization_id": "org-test", "result_files": [],
            "status": "validating_files", "trained_tokens": None, "training_file": body["training_file"],
            "validation_file": body.get("validation_file"), "hyperparameters": hp, "seed": 42,
            "error": None, "suffix": body.get("suffix"),
        }
        self._steps[job_id] = 0
        self.events[job_id] = []
        self._event(job_id, f"Validating training file: {body['training_file']}")
        return 200, self.jobs[job_id]

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] == "cancelled":
            return
        states = SCENARIOS[self.scenario]
        step = min(self._steps[job["id"]] + 1, len(states) - 1)
        self._steps[job["id"]] = step
        if states[step] != job["status"] or states[step] == "running":
            self._set(job, states[step])

    def _set(self, job: dict[str, Any], state: str) -> None:
        job_id, previous = job["id"], job["status"]
        job["status"] = state
        if state == "queued":
            self._event(job_id, "Files validated, moving job to queued state")
        elif state == "running" and previous != "running":
            self._event(job_id, "Fine-tuning job started")
        elif state == "running":
            n = sum(e["type"] == "metrics" for e in self.events[job_id]) + 1
            self._event(job_id, f"Step {n}/2: training loss={2.0 / n:.2f}", "metrics",
                        {"step": n, "train_loss": 2.0 / n, "total_steps": 2})
        elif state == "succeeded":
            job["fine_tuned_model"] = f"ft:{job['model']}:org-test:{job['suffix'] or 'x'}:{job_id}"
            job["trained_tokens"], job["finished_at"] = 1234, int(time.time())
            self._event(job_id, f"New fine-tuned model created: {job['fine_tuned_model']}")
            self._event(job_id, "The job has successfully completed")
        elif state == "failed":
            job["error"], job["finished_at"] = dict(FAILURE), int(time.time())
            self._event(job_id, FAILURE["message"], level="error")
        elif state == "cancelled":
            job["finished_at"] = int(time.time())
            self._event(job_id, "Fine-tuning job cancelled")

    def _event(self, job_id: str, message: str, kind: str = "message", data: Any = None,
               level: str = "info") -> None:
        self.events[job_id].append({
            "id": f"ftevent-{next(self._ids)}", "object": "fine_tuning.job.event", "created_at": int(time.time()),
            "level": level, "message": message, "type": kind, "data": data,
        })

    def _page(self, job_id: str, query: dict[str, str]) -> dict[str, Any]:
        newest_first = self.events[job_id][::-1]
        if after := query.get("after"):
            ids = [e["id"] for e in newest_first]
            newest_first = newest_first[ids.index(after) + 1:] if after in ids else []
        limit = min(int(query.get("limit", 20)), self.page_size)
        return {"object": "list", "data": newest_first[:limit], "has_more": len(newest_first) > limit}


def _error(status: int, message: str, kind: str = "invalid_request_error") -> tuple[int, Any]:
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename():
            files[name] = (part.get_filename(), payload)
        else:
            fields[name] = payload.decode()
    return {"fields": fields, "files": files}


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's httpx client expects
        disable_nagle_algorithm = True  # headers and body go out as two writes; no 40 ms delayed-ACK stall

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _serve(self) -> None:
            path, _, qs = self.path.partition("?")
            query = dict(p.split("=", 1) for p in qs.split("&") if "=" in p)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ctype = self.headers.get("Content-Type", "")
            body: Any = None
            if ctype.startswith("multipart/form-data"):
                body = _multipart(ctype, raw)
            elif raw:
                body = json.loads(raw)
            with lock:
                fake.requests.append(Request(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body))
                failure = next((f for f in fake.failures if f[0] == self.command and re.fullmatch(f[1], path)), None)
                if failure:
                    fake.failures.remove(failure)
                    status, payload = _error(failure[2], "The server is overloaded", "server_error")
                elif self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    status, payload = _error(401, "Incorrect API key provided", "invalid_api_key")
                else:
                    status, payload = fake.handle(self.command, path, query, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if failure:
                self.send_header("retry-after-ms", "1")  # the SDK honours it: the retry test stays fast
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

    return Handler


class RunningServer:
    """The fake service on a free loopback port, serving from a daemon thread."""

    def __init__(self, fake: FakeOpenAI):
        self.fake = fake
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
