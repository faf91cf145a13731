"""`lextune serve --engine vllm --vllm-url URL`: generation on a vLLM server, everything else here.

vLLM does the batching and multi-LoRA decoding on GPUs (start it with `--enable-lora
--lora-modules NAME=ADAPTER_DIR ...`, one module per version, named like the version); lextune
keeps resolving `model` (active, scope aliases), retrieval, citation verification, the trace and
the audit row. The adapter a version exports (`lextune models export --format adapter`) is the
folder vLLM loads.
"""

from __future__ import annotations

import json

import httpx

from lextune.core.errors import LextuneError
from lextune.serve.decode import Row
from lextune.serve.pool import ModelNotFound, Target, resolve


class RemoteEngineError(LextuneError):
    """The generation server refused or failed a request."""

    http_status = 502


class VllmEngine:
    """Same surface as the local Engine, forwarding to vLLM's OpenAI-compatible API."""

    def __init__(self, base_url: str, store, default_base: str | None = None, base_model_name: str | None = None,
                 timeout_s: float = 600.0):
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.default_base = default_base
        self._base_name = base_model_name  # vLLM's name of the base; found from /models when None
        self._timeout = timeout_s
        self._client: httpx.AsyncClient | None = None
        self.rounds = self.batched_rows = self.cancelled_rows = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout)

    def stop(self) -> None:
        self._client = None  # connections close with the event loop

    def warm(self, target: Target) -> None:  # vLLM loads its models itself
        return None

    # ------------------------------------------------------------------ requests
    def encode_chat(self, target: Target, messages: list[dict[str, str]]):
        return {"messages": messages}

    def encode_text(self, target: Target, text: str):
        return {"prompt": text}

    def check_fits(self, target: Target, prompt, max_new_tokens: int) -> None:
        return None  # vLLM knows its context length and answers 400 itself

    def _models(self) -> list[dict]:
        r = httpx.get(f"{self.base_url}/models", timeout=30)
        r.raise_for_status()
        return r.json().get("data", [])

    def model_name(self, target: Target) -> str:
        """vLLM's name for the target: the version's LoRA module, or the base model."""
        if target.version is not None:
            return target.version.name
        if self._base_name is None:
            try:
                models = self._models()
            except httpx.HTTPError as e:
                raise RemoteEngineError(f"vLLM at {self.base_url}: cannot list models: {e}") from None
            bases = [m["id"] for m in models if not m.get("parent")]
            if not bases:
                raise RemoteEngineError(f"vLLM at {self.base_url} lists no base model")
            self._base_name = bases[0]
        return self._base_name

    def _body(self, target: Target, row: Row, stream: bool) -> tuple[str, dict]:
        body = {**row.prompt, "model": self.model_name(target), "max_tokens": row.max_new_tokens,
                "temperature": row.temperature, "top_p": row.top_p, "stream": stream}
        if row.stop:
            body["stop"] = row.stop
        if row.seed is not None:
            body["seed"] = row.seed
        if stream:
            body["stream_options"] = {"include_usage": True}
        return ("/chat/completions" if "messages" in row.prompt else "/completions"), body

    def _refused(self, status: int, payload: bytes, target: Target):
        try:
            message = json.loads(payload)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = payload.decode(errors="replace")[:500]
        if status == 404:
            return ModelNotFound(f"vLLM at {self.base_url} does not serve '{self.model_name(target)}' ({message}); "
                                 f"start it with --enable-lora --lora-modules {self.model_name(target)}=ADAPTER_DIR")
        return RemoteEngineError(f"vLLM at {self.base_url} answered {status}: {message}")

    async def run(self, target: Target, row: Row, on_text=None) -> Row:
        """Stream the answer from vLLM into `row`; cancelling the task closes the connection, which
        makes vLLM abort the request."""
        if self._client is None:
            raise LextuneError("the vLLM proxy is not running")
        path, body = self._body(target, row, stream=True)
        chat = "messages" in row.prompt
        try:
            async with self._client.stream("POST", self.base_url + path, json=body) as r:
                if r.status_code >= 400:
                    raise self._refused(r.status_code, await r.aread(), target)
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if event.get("usage"):
                        u = event["usage"]
                        row.reported_usage = (u.get("prompt_tokens", 0), u.get("completion_tokens", 0))
                    for choice in event.get("choices", []):
                        delta = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                        if delta:
                            row.text += delta
                            if on_text:
                                on_text(delta)
                        if choice.get("finish_reason"):
                            row.finish_reason = choice["finish_reason"]
        except httpx.HTTPError as e:
            raise RemoteEngineError(f"vLLM at {self.base_url}: {e}") from None
        self.rounds += 1
        self.batched_rows += 1
        return row

    def generate_sync(self, model: str, conversations: list[list[dict[str, str]]],
                      max_new_tokens: int, store=None) -> tuple[list[str], dict]:
        """Blocking answers for server-side features (analysis); vLLM batches the requests itself."""
        target = resolve(store or self.store, model, self.default_base)
        answers = []
        with httpx.Client(timeout=self._timeout) as client:
            for conv in conversations:
                path, body = self._body(target, Row(prompt={"messages": conv}, max_new_tokens=max_new_tokens),
                                        stream=False)
                r = client.post(self.base_url + path, json=body)
                if r.status_code >= 400:
                    raise self._refused(r.status_code, r.content, target)
                answers.append((r.json()["choices"][0]["message"]["content"] or "").strip())
        return answers, target.trace()
