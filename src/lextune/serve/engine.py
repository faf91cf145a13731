"""The generation engine: one worker thread, requests from all clients batched together.

Handlers never run the model: they put a job on a queue and await its results, so the event loop
keeps serving (health checks, streams, other clients) while a batch decodes. The worker waits a
few milliseconds after the first job for others to arrive (dynamic batching), then decodes them
in one round, with their adapters mixed in one batch where PEFT allows it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lextune.core.errors import LextuneError
from lextune.models.chat import end_of_turn_ids, prompt_ids
from lextune.serve.decode import LiveBatch, Row, decode_round
from lextune.serve.pool import ModelPool, Target


class PromptTooLong(LextuneError):
    """The prompt plus max_tokens does not fit the model's context window."""

    http_status = 400
    code = "context_length_exceeded"


@dataclass
class Job:
    target: Target
    row: Row
    on_done: Callable[[Job, BaseException | None], None]
    cancel: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.monotonic)


def context_length(tokenizer, model_config=None) -> int:
    limit = getattr(model_config, "max_position_embeddings", None) if model_config is not None else None
    if limit:
        return int(limit)
    tl = getattr(tokenizer, "model_max_length", None)
    return int(tl) if tl and tl < 10**7 else 2048


@dataclass
class _Live:
    """The worker's running batch: one base model, its jobs, and their decoding state."""

    jobs: list[Job] = field(default_factory=list)
    batch: LiveBatch | None = None
    base: str | None = None
    model: object = None
    multi: bool = False

    def reset(self) -> None:
        self.jobs, self.batch, self.base, self.model, self.multi = [], None, None, None, False


class Engine:
    """Local generation with dynamic batching over a ModelPool."""

    def __init__(self, pool: ModelPool, store, default_base: str | None = None, max_batch: int = 16,
                 batch_window_s: float = 0.01):
        self.pool = pool
        self.store = store  # resolves model names for generate_sync
        self.default_base = default_base
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._context: dict[str, int] = {}
        self.rounds = 0  # decoding rounds run (batches); with `batched_rows` shows batching at work
        self.batched_rows = 0
        self.cancelled_rows = 0  # rows dropped because their client went away

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="lextune-engine", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def warm(self, target: Target) -> None:
        """Load the target's base (and adapter) now, so the first request does not pay for it."""
        done = threading.Event()
        errors: list[BaseException] = []
        row = Row(prompt=self.encode_chat(target, [{"role": "user", "content": "Hi"}]), max_new_tokens=1)

        def finished(_job, error):
            if error:
                errors.append(error)
            done.set()

        self.submit(Job(target, row, finished))
        done.wait()
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ encoding (any thread)
    def encode_chat(self, target: Target, messages: list[dict[str, str]]) -> list[int]:
        tok = self.pool.tokenizer(target.base)
        with self.pool.encode_lock():
            return prompt_ids(tok, messages)

    def encode_text(self, target: Target, text: str) -> list[int]:
        tok = self.pool.tokenizer(target.base)
        with self.pool.encode_lock():
            return tok(text, add_special_tokens=True)["input_ids"]

    def check_fits(self, target: Target, prompt: list[int], max_new_tokens: int) -> None:
        limit = self._context_for(target.base)
        over = len(prompt) + max_new_tokens - limit
        if over > 0:
            raise PromptTooLong(
                f"the prompt is {len(prompt)} tokens and max_tokens is {max_new_tokens}: "
                f"{over} tokens over the model's context length of {limit}")

    def _context_for(self, base: str) -> int:
        if base not in self._context:
            from transformers import AutoConfig

            from lextune.models.loading import base_model_dir

            _, folder = base_model_dir(base, self.pool.settings)
            self._context[base] = context_length(self.pool.tokenizer(base), AutoConfig.from_pretrained(folder))
        return self._context[base]

    # ------------------------------------------------------------------ submitting
    def submit(self, job: Job) -> None:
        if self._thread is None:
            raise LextuneError("the generation engine is not running")
        job.row.cancelled = job.cancel.is_set
        self._queue.put(job)

    async def run(self, target: Target, row: Row, on_text: Callable[[str], None] | None = None) -> Row:
        """Decode one row on the worker and return it finished; cancelling the awaiting task
        (a client that hangs up) frees its slot in the batch at the next token."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future = loop.create_future()
        if on_text is not None:
            row.on_text = lambda delta: loop.call_soon_threadsafe(on_text, delta)

        def done(_job: Job, error: BaseException | None) -> None:
            def settle():
                if finished.done():
                    return
                if error is not None:
                    finished.set_exception(error)
                else:
                    finished.set_result(row)
            loop.call_soon_threadsafe(settle)

        job = Job(target, row, done)
        self.submit(job)
        try:
            return await asyncio.shield(finished)
        except asyncio.CancelledError:
            job.cancel.set()
            raise

    def generate_sync(self, model: str, conversations: list[list[dict[str, str]]],
                      max_new_tokens: int, store=None) -> tuple[list[str], dict]:
        """Blocking batch generation for server-side features (analysis): greedy answers + trace."""
        from lextune.serve.pool import resolve

        target = resolve(store or self.store, model, self.default_base)  # the request's tenant store
        events = [threading.Event() for _ in conversations]
        rows, errors = [], []
        for conv, ev in zip(conversations, events):
            row = Row(prompt=self.encode_chat(target, conv), max_new_tokens=max_new_tokens)
            rows.append(row)

            def done(_job, error, ev=ev):
                if error:
                    errors.append(error)
                ev.set()
            self.submit(Job(target, row, done))
        for ev in events:
            ev.wait()
        if errors:
            raise errors[0]
        return [r.text.strip() for r in rows], target.trace()

    # ------------------------------------------------------------------ the worker
    def _take_batch(self) -> list[Job] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self.batch_window_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _work(self) -> None:
        """Continuous batching: new requests join the running batch between decoding steps."""
        backlog: deque[Job] = deque()
        live = _Live()
        stopping = False
        while True:
            if not live.jobs and not backlog:
                if stopping:
                    return
                got = self._take_batch()  # idle: block for the first request, then a short window
                if got is None:
                    return
                backlog.extend(got)
            else:
                stopping = self._drain(backlog) or stopping
            if backlog and len(live.jobs) < self.max_batch:
                self._admit(live, backlog)
            if live.jobs:
                self._step(live)

    def _drain(self, backlog: deque) -> bool:
        """Move queued jobs to the backlog without waiting; True when asked to stop."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            backlog.append(job)

    @staticmethod
    def _uses_dora(jobs) -> bool:
        return any((j.target.version.recipe.get("lora") or {}).get("use_dora") for j in jobs if j.target.version)

    def _admit(self, live: _Live, backlog: deque) -> None:
        """Prefill the backlog's jobs for the running batch's base (up to max_batch) and add them to it."""
        base = live.base or backlog[0].target.base
        admit = []
        for job in list(backlog):
            if job.target.base == base and len(live.jobs) + len(admit) < self.max_batch:
                backlog.remove(job)
                if job.cancel.is_set():
                    job.row.finish_reason = "cancelled"
                    self.cancelled_rows += 1
                    job.on_done(job, None)
                else:
                    admit.append(job)
        if not admit:
            return
        if self._uses_dora(admit) or self._uses_dora(live.jobs):  # PEFT mixes plain LoRA adapters only
            self._round(base, admit)
            return
        try:
            versions = {j.target.version.id: j.target.version for j in live.jobs + admit if j.target.version}
            model, tok = self.pool.prepare(base, list(versions.values()))
            if live.batch is None:
                if not LiveBatch.can_merge(model):
                    self._round(base, admit)
                    return
                stops = end_of_turn_ids(tok)
                pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
                live.batch = LiveBatch(stops, pad, lambda ids: tok.decode(ids, skip_special_tokens=True))
                live.base = base
            live.model, live.multi = model, self.pool.is_multi_adapter(base)  # an adapter load may wrap it
            for j in admit:
                j.row.adapter = j.target.adapter
            live.batch.add(live.model, [j.row for j in admit], live.multi)
        except Exception as e:  # noqa: BLE001 - these clients get the error, the batch goes on
            for j in admit:
                j.on_done(j, e)
            return
        live.jobs += admit
        self.rounds += 1
        self.batched_rows += len(admit)

    def _step(self, live: _Live) -> None:
        try:
            done = live.batch.step(live.model, live.multi)
        except Exception as e:  # noqa: BLE001 - every client in the batch gets the error, the worker lives on
            for j in live.jobs:
                j.on_done(j, e)
            live.reset()
            return
        finished = {id(r) for r in done}
        for j in [j for j in live.jobs if id(j.row) in finished]:
            live.jobs.remove(j)
            self.cancelled_rows += j.row.finish_reason == "cancelled"
            j.on_done(j, None)
        if not live.jobs:
            live.reset()

    def _round(self, base: str, jobs: list[Job]) -> None:
        live = [j for j in jobs if not j.cancel.is_set()]
        for j in jobs:
            if j.cancel.is_set():
                j.row.finish_reason = "cancelled"
                j.on_done(j, None)
        if not live:
            return
        try:
            versions = list({j.target.version.id: j.target.version for j in live if j.target.version}.values())
            model, tok = self.pool.prepare(base, versions)
            stops = end_of_turn_ids(tok)
            pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]

            def decode(ids: list[int]) -> str:
                return tok.decode(ids, skip_special_tokens=True)

            multi = self.pool.is_multi_adapter(base)
            dora = any((v.recipe.get("lora") or {}).get("use_dora") for v in versions)
            for j in live:
                j.row.adapter = j.target.adapter
            if multi and dora:  # PEFT mixes adapters in one batch for plain LoRA only
                groups: dict[str | None, list[Job]] = {}
                for j in live:
                    groups.setdefault(j.target.adapter, []).append(j)
                for adapter, group in groups.items():
                    self._decode_one_adapter(model, adapter, group, stops, pad, decode)
            else:
                decode_round(model, [j.row for j in live], stops, pad, decode, multi_adapter=multi)
            self.rounds += 1
            self.batched_rows += len(live)
        except Exception as e:  # noqa: BLE001 - every waiting client gets the error, the worker lives on
            for j in live:
                j.on_done(j, e)
            return
        self.cancelled_rows += sum(j.row.finish_reason == "cancelled" for j in live)
        for j in live:
            j.on_done(j, None)

    @staticmethod
    def _decode_one_adapter(model, adapter, jobs, stops, pad, decode) -> None:
        import contextlib

        if adapter is None:
            ctx = model.disable_adapter()
        else:
            model.set_adapter(adapter)
            ctx = contextlib.nullcontext()
        with ctx:
            decode_round(model, [j.row for j in jobs], stops, pad, decode, multi_adapter=False)
