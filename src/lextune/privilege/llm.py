"""Optional stage-2 LLM member: label log-likelihoods of the three categories, and drafted log descriptions.

LocalLLM scores through lextune's own ModelScorer (evals/engine.py): a model version, "active" or "stock".
VllmLLM asks a vLLM server (OpenAI-compatible /v1/completions with logprobs): the prompt lists the
categories as A/B/C and the next-token log-probabilities of A, B and C are the scores.
"""

from __future__ import annotations

import math

import httpx
import numpy as np

from lextune.core.errors import LextuneError
from lextune.privilege.records import PrivilegeDoc

LABELS = ("privileged", "partially privileged", "not privileged")
LETTERS = ("A", "B", "C")
MAX_CHARS = 2000


def _doc_text(doc: PrivilegeDoc) -> str:
    parties = f"From: {doc.author}\nTo: {', '.join(doc.recipients)}\nCc: {', '.join(doc.cc)}"
    return f"{parties}\nType: {doc.doc_type}\nSubject: {doc.subject}\n\n{doc.body[:MAX_CHARS]}"


def classify_prompt(doc: PrivilegeDoc) -> list[dict[str, str]]:
    return [{"role": "user", "content": (
        "Is this document protected by attorney-client privilege or the work-product doctrine? A lawyer only "
        "on CC, or sharing with opposing counsel or third parties, does not make it privileged.\n\n"
        f"{_doc_text(doc)}\n\nAnswer with one of: privileged, partially privileged, not privileged.")}]


def describe_prompt(doc: PrivilegeDoc, category: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": (
        f"Write one sentence for a privilege log describing the nature of this {category.replace('_', ' ')} "
        "document (type, who is counsel, advice requested or given, or litigation preparation) WITHOUT revealing "
        f"any of its content, subject or topic.\n\n{_doc_text(doc)}")}]


def _normalise(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class LocalLLM:
    """A lextune model (evals.session.load_model's scorer) as a stage-2 member."""

    def __init__(self, scorer, label: str = "llm"):
        self.scorer = scorer
        self.label = label

    def probs(self, docs: list[PrivilegeDoc]) -> np.ndarray:
        res = self.scorer.loglik([classify_prompt(d) for d in docs], [list(LABELS)] * len(docs))
        # Mean log-probability per token: the labels differ in length.
        scores = np.array([[lp / max(n, 1) for lp, n in row] for row in res], dtype=np.float64)
        return _normalise(scores)

    def describe(self, docs: list[PrivilegeDoc], categories: list[str]) -> list[str]:
        gens = self.scorer.generate([describe_prompt(d, c) for d, c in zip(docs, categories)], max_new_tokens=60)
        return [g.text for g in gens]


class VllmLLM:
    """The stage-2 LLM member on a vLLM server (`--engine vllm --vllm-url URL`)."""

    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_s
        self.model = model or self._first_model()
        self.label = f"vllm:{self.model}"

    def _first_model(self) -> str:
        try:
            r = httpx.get(f"{self.base_url}/models", timeout=30)
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise LextuneError(f"vLLM at {self.base_url}: cannot list models: {e}") from None
        data = r.json().get("data", [])
        if not data:
            raise LextuneError(f"vLLM at {self.base_url} lists no model")
        return data[0]["id"]

    @staticmethod
    def _letter_prompt(doc: PrivilegeDoc) -> str:
        q = classify_prompt(doc)[0]["content"].rsplit("\n\n", 1)[0]
        options = " ".join(f"{ltr}) {lab}" for ltr, lab in zip(LETTERS, LABELS))
        return f"{q}\n\nOptions: {options}\nAnswer (A, B or C):"

    def probs(self, docs: list[PrivilegeDoc]) -> np.ndarray:
        body = {"model": self.model, "prompt": [self._letter_prompt(d) for d in docs], "max_tokens": 1,
                "temperature": 0, "logprobs": 20}
        try:
            r = httpx.post(f"{self.base_url}/completions", json=body, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise LextuneError(f"vLLM at {self.base_url}: {e}") from None
        if r.status_code >= 400:
            raise LextuneError(f"vLLM at {self.base_url} answered {r.status_code}: {r.text[:300]}")
        out = np.full((len(docs), 3), -30.0)
        for choice in r.json()["choices"]:
            top = ((choice.get("logprobs") or {}).get("top_logprobs") or [{}])[0] or {}
            for token, lp in top.items():
                t = token.strip().rstrip(")").upper()
                if t in LETTERS and math.isfinite(lp):
                    j = LETTERS.index(t)
                    out[choice["index"], j] = max(out[choice["index"], j], lp)
        return _normalise(out)

    def describe(self, docs: list[PrivilegeDoc], categories: list[str]) -> list[str]:
        texts = []
        with httpx.Client(timeout=self.timeout) as client:
            for d, c in zip(docs, categories):
                r = client.post(f"{self.base_url}/chat/completions", json={
                    "model": self.model, "messages": describe_prompt(d, c), "max_tokens": 60, "temperature": 0})
                texts.append(r.json()["choices"][0]["message"]["content"] if r.status_code < 400 else "")
        return texts
