"""A teacher model behind any OpenAI-compatible `/v1/chat/completions` endpoint, for written answers.

Client text (already anonymized by the vault) leaves the machine only when the user configured a
teacher: `TeacherConfig.from_env()` returns None unless LEXTUNE_TEACHER_BASE_URL is set, and the
endpoint a build talked to is logged and returned by `Teacher.describe()` for the audit trail.
Answers are cached by a hash of the request (optionally in a JSONL file), so a rebuild does not pay
for, or re-send, what it already asked. The default cache (under LEXTUNE_HOME) seals each answer with
the store's keyring (answers are about client documents); a cache file the caller names is kept as given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field

from lextune.core.config import TEACHER_CACHE, get_settings
from lextune.core.errors import DatasetError
from lextune.security.keyring import TEXT_PREFIX, CiphertextError, Keyring

log = logging.getLogger(__name__)

ENV_BASE_URL = "LEXTUNE_TEACHER_BASE_URL"
ENV_MODEL = "LEXTUNE_TEACHER_MODEL"
ENV_API_KEY = "LEXTUNE_TEACHER_API_KEY"
ANSWER_AAD = "teacher_cache.answer"
CACHE_FILE = TEACHER_CACHE
# Statuses worth asking again: rate limits and server-side trouble; any other 4xx will not improve.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


class TeacherError(DatasetError):
    """The teacher could not answer. `kind` tells a builder whether to stop the build or skip one row:
    auth / timeout / http / connection stop it; malformed (one odd answer) may be skipped."""

    def __init__(
        self,
        message: str,
        kind: Literal["auth", "timeout", "http", "connection", "malformed"],
        status: int | None = None,
    ):
        self.kind = kind
        self.status = status
        super().__init__(message)


class TeacherConfig(BaseModel):
    """Where the teacher lives and how to ask it. The key itself is never stored, only its env var."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(
        description="Endpoint root, e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1."
    )
    model: str = Field(description="Model name the endpoint serves.")
    api_key_env: str = Field(ENV_API_KEY, description="Env var holding the API key; unset = no auth header.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for one answer.")
    max_tokens: int = Field(512, ge=1, description="Longest answer, in tokens.")
    temperature: float = Field(0.0, ge=0, le=2, description="0 keeps rebuilds reproducible.")
    max_retries: int = Field(
        4, ge=0, description="Extra attempts on 429/5xx, timeouts and refused connections."
    )
    backoff: float = Field(1.0, ge=0, description="First retry delay in seconds; doubles per attempt.")
    cache_path: Path | None = Field(None, description="JSONL file that keeps answers across builds.")

    @classmethod
    def from_env(cls, **overrides: Any) -> TeacherConfig | None:
        """The teacher the environment configures, or None when LEXTUNE_TEACHER_BASE_URL is unset."""
        base_url = overrides.pop("base_url", None) or os.environ.get(ENV_BASE_URL)
        if not base_url:
            return None
        model = overrides.pop("model", None) or os.environ.get(ENV_MODEL)
        if not model:
            raise DatasetError(
                f"{ENV_BASE_URL} is set ({base_url}) but {ENV_MODEL} is not: name the teacher model"
            )
        return cls(base_url=base_url, model=model, **overrides)

    @property
    def endpoint(self) -> str:
        """The chat-completions URL, whether base_url names the root, the /v1 root or the full path."""
        url = self.base_url.rstrip("/")
        if url.endswith("/chat/completions"):
            return url
        if url.endswith("/v1"):
            return url + "/chat/completions"
        return url + "/v1/chat/completions"


def teacher_from(
    base_url: str | None = None,
    model: str | None = None,
    *,
    cache_path: Path | None | Literal["default"] = "default",
    **overrides: Any,
) -> Teacher | None:
    """The teacher the arguments or the environment configure (arguments win), or None when no base
    URL is given anywhere. Answers are cached in LEXTUNE_HOME/teacher_cache.jsonl unless cache_path says
    otherwise (None: memory only)."""
    config = TeacherConfig.from_env(base_url=base_url, model=model, **overrides)
    if config is None:
        return None
    keyring = None
    if cache_path == "default":
        from lextune.security.sealed_files import keyring_for

        settings = get_settings()
        cache, keyring = settings.home / CACHE_FILE, keyring_for(settings)
    else:
        cache = cache_path
    return Teacher(config.model_copy(update={"cache_path": cache}), keyring=keyring)


class Teacher:
    """Calls the configured endpoint; `complete(messages)` returns the answer text."""

    def __init__(
        self,
        config: TeacherConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        keyring: Keyring | None = None,
    ):
        self.config = config
        self.keyring = keyring  # seals the answers written to the cache file
        self._sleep = sleep
        self._client = httpx.Client(timeout=config.timeout, transport=transport)
        self._cache: dict[str, str] = {}
        self.requests_sent = 0
        self.cache_hits = 0
        if config.cache_path is not None:
            self._cache.update(_load_cache(config.cache_path, keyring))
        log.info(
            "teacher configured: anonymized document text will be sent to %s (model %s)",
            config.endpoint,
            config.model,
        )

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def describe(self) -> dict[str, Any]:
        """What the dataset manifest and audit log record: where text went, and how much."""
        return {
            "base_url": self.config.base_url,
            "endpoint": self.config.endpoint,
            "model": self.config.model,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "requests_sent": self.requests_sent,
            "cache_hits": self.cache_hits,
        }

    def cache_key(self, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> str:
        payload = json.dumps(
            [self.config.endpoint, self.config.model, messages, max_tokens, temperature],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> str:
        """The teacher's answer to a chat, from the cache when this exact request was asked before."""
        max_tokens = self.config.max_tokens if max_tokens is None else max_tokens
        temperature = self.config.temperature if temperature is None else temperature
        key = self.cache_key(messages, max_tokens, temperature)
        if key in self._cache:
            self.cache_hits += 1
            return self._cache[key]
        body = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        answer = _parse(self._post(body), self.config.endpoint)
        self._cache[key] = answer
        if self.config.cache_path is not None:
            _append_cache(self.config.cache_path, key, self.config.model, answer, self.keyring)
        return answer

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        url = self.config.endpoint
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                self.requests_sent += 1
                resp = self._client.post(url, json=body, headers=headers)
            except httpx.TimeoutException as e:
                if last:
                    raise TeacherError(
                        f"teacher at {url} timed out after {self.config.timeout:g}s "
                        f"({attempts} attempt(s)); raise the timeout or check the server",
                        "timeout",
                    ) from e
                self._sleep(self._delay(attempt, None))
                continue
            except httpx.TransportError as e:
                if last:
                    raise TeacherError(
                        f"teacher at {url} unreachable after {attempts} attempt(s): {type(e).__name__}: {e}",
                        "connection",
                    ) from e
                self._sleep(self._delay(attempt, None))
                continue
            if resp.status_code < 300:
                return resp
            if resp.status_code in (401, 403):
                raise TeacherError(
                    f"teacher at {url} refused the request: HTTP {resp.status_code} "
                    f"({_server_message(resp)}); check the key in ${self.config.api_key_env}",
                    "auth",
                    resp.status_code,
                )
            if resp.status_code not in RETRY_STATUSES or last:
                tried = f" after {attempts} attempt(s)" if resp.status_code in RETRY_STATUSES else ""
                raise TeacherError(
                    f"teacher at {url} answered HTTP {resp.status_code}{tried}: {_server_message(resp)}",
                    "http",
                    resp.status_code,
                )
            log.warning("teacher at %s answered HTTP %s; retrying", url, resp.status_code)
            self._sleep(self._delay(attempt, resp.headers.get("Retry-After")))
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        # A server that says when to come back knows better than our doubling guess.
        if retry_after:
            try:
                return min(float(retry_after), MAX_BACKOFF_S)
            except ValueError:
                pass
        return min(self.config.backoff * 2**attempt, MAX_BACKOFF_S)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(resp: httpx.Response, url: str) -> str:
    try:
        data = resp.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise TeacherError(
            f"teacher at {url} sent a malformed answer (HTTP {resp.status_code}): no "
            f"choices[0].message.content in {resp.text[:200]!r}",
            "malformed",
            resp.status_code,
        ) from e
    if not isinstance(content, str) or not content.strip():
        raise TeacherError(
            f"teacher at {url} sent an empty answer (HTTP {resp.status_code})", "malformed", resp.status_code
        )
    return content.strip()


def _server_message(resp: httpx.Response) -> str:
    """The server's own error text (OpenAI style {"error": {"message"}} or plain), kept short."""
    try:
        err = resp.json().get("error")
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)[:200]
    except (ValueError, AttributeError):
        pass
    return resp.text[:200] or resp.reason_phrase


def _load_cache(path: Path, keyring: Keyring | None = None) -> dict[str, str]:
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out[rec["key"]] = _open_answer(rec["answer"], keyring)
        except (ValueError, KeyError, TypeError, CiphertextError):
            # A torn last line after a crash (or an answer no key opens) costs one re-ask, not the whole cache.
            log.warning("%s:%d: unreadable teacher cache line skipped", path, n)
    return out


def _open_answer(answer: str, keyring: Keyring | None) -> str:
    if not answer.startswith(TEXT_PREFIX):
        return answer  # written before sealing, or a cache the caller named
    if keyring is None:
        raise CiphertextError(f"{ANSWER_AAD}: a sealed answer and no keyring")
    return keyring.open_text(answer, ANSWER_AAD)


def _line(key: str, model: str, answer: str, keyring: Keyring | None) -> str:
    stored = answer if keyring is None else keyring.seal_text(answer, ANSWER_AAD)
    return json.dumps({"key": key, "model": model, "answer": stored}, ensure_ascii=False) + "\n"


def _append_cache(path: Path, key: str, model: str, answer: str, keyring: Keyring | None = None) -> None:
    # Append, not rewrite: each answer is paid for, so it is kept the moment it arrives.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as f:
        # A line torn by a crash must not swallow the record written after it.
        torn = f.tell() > 0 and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n"
    with path.open("a", encoding="utf-8") as f:
        f.write("\n" if torn else "")
        f.write(_line(key, model, answer, keyring))


def reseal_cache(path: Path, keyring: Keyring) -> dict[str, int]:
    """The cache file rewritten (atomically) with every answer sealed by the active key; lines that do not
    open are dropped (asked again). An answer appended by a build during the rewrite may be lost: a re-ask."""
    from lextune.security.sealed_files import write_bytes_atomic

    counts = {"current": 0, "resealed": 0, "sealed": 0, "dropped": 0}
    if not path.is_file():
        return counts
    lines = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            stored = rec["answer"]
            answer = _open_answer(stored, keyring)
        except (ValueError, KeyError, TypeError, CiphertextError):
            counts["dropped"] += 1
            continue
        kid = keyring.text_key_of(stored)
        counts["current" if kid == keyring.active else "resealed" if kid else "sealed"] += 1
        lines.append(_line(rec["key"], rec.get("model", ""), answer, keyring))
    write_bytes_atomic(path, "".join(lines).encode("utf-8"))
    return counts


def cache_key_counts(path: Path, keyring: Keyring) -> dict[str | None, int]:
    """Answers per data key id (None: plaintext), for `lextune keys status`."""
    out: dict[str | None, int] = {}
    for line in path.read_text(encoding="utf-8").split("\n") if path.is_file() else []:
        try:
            kid = keyring.text_key_of(json.loads(line)["answer"])
        except (ValueError, KeyError, TypeError):
            continue
        out[kid] = out.get(kid, 0) + 1
    return out
