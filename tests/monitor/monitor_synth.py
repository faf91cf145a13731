"""Synthetic served traffic over several weeks (audit rows at planted times), with or without a planted shift."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np

from lextune.core import audit
from lextune.core.tables_review import ReviewItemRow
from lextune.monitor.questions import record_question
from lextune.serve.trace import SERVED

NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)  # a Thursday: the latest week is 2025-W11
TOPICS = {
    "employment": ["employee", "dismissal", "notice", "severance", "overtime", "contract", "salary", "termination", "wages"],
    "lease": ["tenant", "landlord", "lease", "rent", "deposit", "premises", "eviction", "repairs", "sublet"],
    "tax": ["tax", "deduction", "vat", "invoice", "audit", "return", "filing", "liability", "withholding"],
}
NEW_TOPIC = ["visa", "spouse", "immigration", "residence", "permit", "sponsor", "asylum", "citizenship", "border"]
FILLER = ["what", "does", "the", "say", "about", "our", "in", "this", "case", "please", "explain"]


def fake_embed(texts: list[str]) -> np.ndarray:
    """Hashed bag of words, unit length: questions sharing words are near (MiniLM stays out of unit tests)."""
    out = np.zeros((len(texts), 64))
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def question(rng: random.Random, topic_words: list[str]) -> str:
    return " ".join(rng.sample(topic_words, 4) + rng.sample(FILLER, 2))


def plant(store, weeks: int = 4, per_week: int = 40, shift: bool = False, reviews: int = 20) -> None:
    """`weeks` weeks of answers ending in NOW's week; with `shift`, the last week is longer, on a new topic,
    refuses more, is slower and gets corrected more."""
    rng = random.Random(7)
    monday = (NOW - timedelta(days=NOW.weekday())).replace(hour=9, minute=0)
    for k in range(weeks):
        start = monday - timedelta(weeks=weeks - 1 - k)
        shifted = shift and k == weeks - 1
        rows, items = [], []
        for i in range(per_week):
            ts = start + timedelta(minutes=37 * i)
            if shifted and i % 2 == 0:
                q = question(rng, NEW_TOPIC)
            else:
                q = question(rng, TOPICS[rng.choice(sorted(TOPICS))])
            refused = rng.random() < (0.35 if shifted else 0.05)
            facts = {"latency_ms": rng.gauss(1400 if shifted else 400, 40),
                     "input_tokens": rng.randint(300, 340) if shifted else rng.randint(100, 120),
                     "output_tokens": rng.randint(40, 60), "input_chars": (260 if shifted else 90) + rng.randint(0, 20),
                     "output_chars": 200, "grounded": True, "refused": refused,
                     "refusal_reason": "low_confidence" if refused else None, "not_in_documents": refused}
            rows.append((ts, f"req-{k}-{i}", facts))
            record_question(store, f"req-{k}-{i}", q, ts=ts)
        for i in range(reviews):
            bad = i < (10 if shifted else 2)
            items.append(ReviewItemRow(id=f"rv-{k}-{i}", task="cited_answer", source_text="passage",
                                       output={"text": "x"}, status="corrected" if bad else "accepted",
                                       reviewer="lawyer", reviewed_at=start + timedelta(hours=i)))
        real = audit.utcnow
        audit.utcnow = iter([ts for ts, _, _ in rows]).__next__  # planted times: the HMAC chain covers them as usual
        try:
            with store.session() as s:
                for _, rid, facts in rows:
                    audit.record(s, SERVED, "v1", {"request_id": rid, "route": "chat.completions", "client": None,
                                                   "user": None, "model_version": "v1", **facts})
                s.add_all(items)
        finally:
            audit.utcnow = real


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def webhook_server():
    """A local HTTP server that keeps the JSON bodies POSTed to it: (its URL, the bodies)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.received
    finally:
        server.shutdown()
        server.server_close()
