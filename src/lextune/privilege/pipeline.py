"""`lextune privilege run`: stream documents in batches, call each, queue the uncertain ones for review.

A run folder (home/reports/privilege/<run>/, so `keys rotate --reencrypt` covers it) holds, each sealed
with the store's keyring: model.npz (the trained stages, so a resumed run calls alike), batch-NNNNN.jsonl
(the docs' log metadata and calls) and progress.json (written after each batch: a killed run loses at most
the batch in flight; `--resume RUN` skips the lines already done). Input is read line by line, never whole.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from lextune.core.errors import LextuneError
from lextune.core.store import Store
from lextune.privilege.describe import safe_description
from lextune.privilege.features import Lexicon
from lextune.privilege.model import PrivilegeModel
from lextune.privilege.records import PrivilegeCall, PrivilegeDoc
from lextune.privilege.synthetic import default_sample_path
from lextune.security.sealed_files import REPORT, read_sealed_text, write_sealed_bytes, write_sealed_text

KIND = REPORT


def read_docs(path: Path) -> Iterator[PrivilegeDoc]:
    """Documents of a JSONL (optionally .gz) file, one line at a time."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield PrivilegeDoc(**json.loads(line))
                except (ValueError, TypeError) as e:
                    raise LextuneError(f"{path}:{n}: not a privilege document: {e}") from None


def load_sample(path: Path | None = None) -> dict[str, list[PrivilegeDoc]]:
    out: dict[str, list[PrivilegeDoc]] = {"train": [], "validation": [], "test": []}
    for d in read_docs(path or default_sample_path()):
        out.setdefault(d.split or "train", []).append(d)
    return out


def train_default(lexicon: Lexicon, sample: Path | None = None, **kw) -> PrivilegeModel:
    s = load_sample(sample)
    return PrivilegeModel(lexicon, **kw).fit(s["train"], s["validation"])


def runs_dir(store: Store) -> Path:
    return Path(store.settings.home) / "reports" / "privilege"


def run_dir(store: Store, run_id: str) -> Path:
    d = runs_dir(store) / run_id
    if not (d / "progress.json").is_file():
        raise LextuneError(f"privilege run {run_id!r} not found under {runs_dir(store)}")
    return d


@dataclass
class RunResult:
    run_id: str
    folder: Path
    docs: int = 0  # done in this invocation
    total_done: int = 0
    batches: int = 0
    privileged: int = 0
    partially_privileged: int = 0
    review_queued: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    engine: str = "local"
    counts: dict = field(default_factory=dict)

    @property
    def docs_per_hour(self) -> float:
        return self.docs / self.seconds * 3600 if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"run": self.run_id, "folder": str(self.folder), "docs_this_invocation": self.docs,
                "docs_total": self.total_done, "batches_total": self.batches, "resumed_from_doc": self.resumed_from,
                "privileged": self.privileged, "partially_privileged": self.partially_privileged,
                "review_queued": self.review_queued, "seconds": round(self.seconds, 2),
                "docs_per_hour": round(self.docs_per_hour), "engine": self.engine}


def _log_row(doc: PrivilegeDoc, call: PrivilegeCall) -> dict:
    # What the log needs; the body stays out of the run folder (the review queue keeps it, sealed).
    return {"doc": {"id": doc.id, "date": doc.date, "author": doc.author, "recipients": doc.recipients,
                    "cc": doc.cc, "doc_type": doc.doc_type}, "call": call.model_dump()}


def review_item_id(run_id: str, doc_id: str) -> str:
    return hashlib.sha256(f"{run_id}\0{doc_id}".encode()).hexdigest()[:32]


def enqueue(store: Store, run_id: str, matter: str | None, pairs: list[tuple[PrivilegeDoc, PrivilegeCall]],
            model_label: str) -> int:
    """Put the calls that need a lawyer into review_items (idempotent per run and document)."""
    from lextune.core.tables_review import ReviewItemRow

    n = 0
    with store.session() as s:
        for doc, call in pairs:
            if not call.needs_review:
                continue
            s.merge(ReviewItemRow(
                id=review_item_id(run_id, doc.id), task="privilege", matter=matter, document_id=doc.id[:32],
                source_text=doc.text(), prompt=None, model_version=model_label,
                output={"category": call.category, "probabilities": call.probabilities, "reasons": call.reasons,
                        "privilege_asserted": call.privilege_asserted, "description": call.description},
                confidence=round(1 - call.uncertainty, 4), status="pending",
                extra={"run": run_id, "doc_id": doc.id, "stage1_score": call.stage1_score,
                       "disagreement": call.disagreement}))
            n += 1
    return n


def run(store: Store, input_path: Path | None, *, matter: str | None = None, lexicon: Lexicon | None = None,
        batch: int = 64, resume: str | None = None, llm=None, sample: Path | None = None,
        on_batch: Callable[[int, int], None] | None = None) -> RunResult:
    """Call every document of `input_path` (or, with `resume`, the rest of the run's input)."""
    keyring = store.keyring
    if batch < 1:
        raise LextuneError("--batch must be >= 1")
    if resume:
        folder = run_dir(store, resume)
        state = json.loads(read_sealed_text(folder / "progress.json", keyring, KIND))
        model = PrivilegeModel.from_bytes(_read_bytes(folder / "model.npz", keyring))
        run_id, input_path = resume, Path(state["input"])
        matter = state["matter"] if matter is None else matter
        batch = state["batch"]
    else:
        if input_path is None or not Path(input_path).is_file():
            raise LextuneError(f"input {input_path} not found")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = runs_dir(store) / run_id
        folder.mkdir(parents=True)
        model = train_default(lexicon or Lexicon.synthetic_default(), sample)
        write_sealed_bytes(folder / "model.npz", model.to_bytes(), keyring, KIND)
        state = {"run": run_id, "input": str(Path(input_path).resolve()), "matter": matter, "batch": batch,
                 "docs_done": 0, "batches_done": 0, "seconds": 0.0, "privileged": 0, "partially_privileged": 0,
                 "review_queued": 0, "threshold": model.threshold, "validation": model.validation,
                 "engine": getattr(llm, "label", "none") if llm else "none", "finished": False}
        _save(folder, state, keyring)
    res = RunResult(run_id=run_id, folder=folder, resumed_from=state["docs_done"], engine=state["engine"])
    docs = read_docs(Path(input_path))
    for _ in islice(docs, state["docs_done"]):
        pass  # already called: skipped without scoring
    start = time.perf_counter()
    while True:
        chunk = list(islice(docs, batch))
        if not chunk:
            break
        calls = model.predict(chunk, llm.probs(chunk) if llm else None)
        if llm is not None and hasattr(llm, "describe"):
            withheld = [i for i, c in enumerate(calls) if c.category != "not_privileged"]
            if withheld:
                drafts = llm.describe([chunk[i] for i in withheld], [calls[i].category for i in withheld])
                for i, draft in zip(withheld, drafts):
                    calls[i].description = safe_description(draft, chunk[i], calls[i], model.lexicon)
        pairs = list(zip(chunk, calls))
        queued = enqueue(store, run_id, matter, pairs, getattr(llm, "label", "privilege-linear"))
        k = state["batches_done"]
        write_sealed_text(folder / f"batch-{k:05d}.jsonl",
                          "".join(json.dumps(_log_row(d, c)) + "\n" for d, c in pairs), keyring, KIND)
        state["docs_done"] += len(chunk)
        state["batches_done"] = k + 1
        state["privileged"] += sum(c.category == "privileged" for c in calls)
        state["partially_privileged"] += sum(c.category == "partially_privileged" for c in calls)
        state["review_queued"] += queued
        res.docs += len(chunk)
        state["seconds"] += time.perf_counter() - start - res.seconds
        res.seconds = time.perf_counter() - start
        _save(folder, state, keyring)
        if on_batch:
            on_batch(k, state["docs_done"])
    state["finished"] = True
    _save(folder, state, keyring)
    res.total_done, res.batches = state["docs_done"], state["batches_done"]
    res.privileged, res.partially_privileged = state["privileged"], state["partially_privileged"]
    res.review_queued = state["review_queued"]
    return res


def _read_bytes(path: Path, keyring) -> bytes:
    from lextune.security.sealed_files import read_sealed_bytes

    return read_sealed_bytes(path, keyring, KIND)


def _save(folder: Path, state: dict, keyring) -> None:
    write_sealed_text(folder / "progress.json", json.dumps(state), keyring, KIND)


def progress(store: Store, run_id: str) -> dict:
    return json.loads(read_sealed_text(run_dir(store, run_id) / "progress.json", store.keyring, KIND))


def results(store: Store, run_id: str) -> Iterator[dict]:
    """The run's rows ({"doc": ..., "call": ...}), batch by batch."""
    folder = run_dir(store, run_id)
    for f in sorted(folder.glob("batch-*.jsonl")):
        for line in read_sealed_text(f, store.keyring, KIND).splitlines():
            if line.strip():
                yield json.loads(line)
