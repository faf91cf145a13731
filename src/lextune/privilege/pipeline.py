"""`lextune privilege run`: stream documents in batches, call each, queue the uncertain ones for review.

A run folder (home/reports/privilege/<run>/, so `keys rotate --reencrypt` covers it) holds, each sealed
with the store's keyring: model.npz (the trained stages, so a resumed run calls alike), manifest.json (the
training set's path and sha256, its counts and skipped lines, model.npz's sha256, the LLM member),
batch-NNNNN.jsonl (the docs' log metadata and calls) and progress.json (written after each batch: a killed
run loses at most the batch in flight; `--resume RUN` skips the lines already done). Input is read line by
line, never whole. A resumed run reuses model.npz (checked against the manifest's sha256), never retrains;
`--train FILE` on resume must be the file the run was trained on, and the LLM member must be the same.
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
from lextune.privilege.training import TrainingSet, file_sha256, load_training
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


def train_on(lexicon: Lexicon, training: TrainingSet, **kw) -> PrivilegeModel:
    """Stages 1 and 2 trained on the set's train split, stage 1's threshold chosen on its validation split."""
    return PrivilegeModel(lexicon, **kw).fit(training.splits["train"], training.splits["validation"])


def train_default(lexicon: Lexicon, sample: Path | None = None, **kw) -> PrivilegeModel:
    return train_on(lexicon, load_training(sample), **kw)


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
    training: dict = field(default_factory=dict)  # the manifest's training entry (path, sha256, ...)

    @property
    def docs_per_hour(self) -> float:
        return self.docs / self.seconds * 3600 if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"run": self.run_id, "folder": str(self.folder), "docs_this_invocation": self.docs,
                "docs_total": self.total_done, "batches_total": self.batches, "resumed_from_doc": self.resumed_from,
                "privileged": self.privileged, "partially_privileged": self.partially_privileged,
                "review_queued": self.review_queued, "seconds": round(self.seconds, 2),
                "docs_per_hour": round(self.docs_per_hour), "engine": self.engine,
                "training": {k: self.training.get(k) for k in ("path", "sha256", "synthetic", "skipped_lines",
                                                               "problems") if k in self.training}}


def _log_row(doc: PrivilegeDoc, call: PrivilegeCall) -> dict:
    # What the log needs; the body stays out of the run folder (the review queue keeps it, sealed).
    return {"doc": {"id": doc.id, "date": doc.date, "author": doc.author, "recipients": doc.recipients,
                    "cc": doc.cc, "doc_type": doc.doc_type}, "call": call.model_dump()}


def review_item_id(run_id: str, doc_id: str) -> str:
    return hashlib.sha256(f"{run_id}\0{doc_id}".encode()).hexdigest()[:32]


def enqueue(store: Store, run_id: str, matter: str | None, pairs: list[tuple[PrivilegeDoc, PrivilegeCall]],
            model_label: str) -> int:
    """Put the calls that need a lawyer into review_items, one item per run and document: a batch redone on
    --resume leaves items already queued (or already decided) as they are."""
    from lextune.review.candidates import ReviewCandidate
    from lextune.review.candidates import enqueue as enqueue_candidates

    candidates = []
    for doc, call in pairs:
        if not call.needs_review:
            continue
        first = call.redact[0] if call.redact else None  # the screen highlights it (offsets into text())
        candidates.append(ReviewCandidate(
            key=f"{run_id}:{doc.id}", id=review_item_id(run_id, doc.id), task="privilege", matter=matter,
            document_id=doc.id[:32], source_text=doc.text(), span_start=first.start if first else None,
            span_end=first.end if first else None, model_version=model_label,
            output={"category": call.category, "probabilities": call.probabilities, "reasons": call.reasons,
                    "privilege_asserted": call.privilege_asserted, "description": call.description,
                    "redact": [r.model_dump() for r in call.redact]},
            confidence=min(1.0, max(0.0, 1 - call.uncertainty)),
            extra={"run": run_id, "doc_id": doc.id, "stage1_score": call.stage1_score,
                   "disagreement": call.disagreement}))
    return len(enqueue_candidates(store, candidates))


def run(store: Store, input_path: Path | None, *, matter: str | None = None, lexicon: Lexicon | None = None,
        batch: int = 64, resume: str | None = None, llm=None, sample: Path | None = None, train: Path | None = None,
        on_batch: Callable[[int, int], None] | None = None) -> RunResult:
    """Call every document of `input_path` (or, with `resume`, the rest of the run's input). The model is
    trained on `train` (a firm's labelled JSONL(.gz), see training.py), else on `sample` / the shipped sample."""
    keyring = store.keyring
    if batch < 1:
        raise LextuneError("--batch must be >= 1")
    engine = getattr(llm, "label", "none") if llm else "none"
    if resume:
        folder = run_dir(store, resume)
        state = json.loads(read_sealed_text(folder / "progress.json", keyring, KIND))
        manifest = _manifest(folder, keyring)
        blob = _read_bytes(folder / "model.npz", keyring)
        _check_resume(resume, manifest, blob, train, state, engine)
        model = PrivilegeModel.from_bytes(blob)
        run_id, input_path = resume, Path(state["input"])
        matter = state["matter"] if matter is None else matter
        batch = state["batch"]
    else:
        if input_path is None or not Path(input_path).is_file():
            raise LextuneError(f"input {input_path} not found")
        training = load_training(train if train is not None else sample)  # refuses a set too small
        model = train_on(lexicon or Lexicon.synthetic_default(), training)
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = runs_dir(store) / run_id
        folder.mkdir(parents=True)
        blob = model.to_bytes()
        write_sealed_bytes(folder / "model.npz", blob, keyring, KIND)
        manifest = {"run": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "input": str(Path(input_path).resolve()), "training": training.manifest(),
                    "model_sha256": hashlib.sha256(blob).hexdigest(), "threshold": model.threshold,
                    "validation": model.validation, "engine": engine}
        write_sealed_text(folder / "manifest.json", json.dumps(manifest), keyring, KIND)
        state = {"run": run_id, "input": str(Path(input_path).resolve()), "matter": matter, "batch": batch,
                 "docs_done": 0, "batches_done": 0, "seconds": 0.0, "privileged": 0, "partially_privileged": 0,
                 "review_queued": 0, "threshold": model.threshold, "validation": model.validation,
                 "engine": engine, "finished": False}
        _save(folder, state, keyring)
    res = RunResult(run_id=run_id, folder=folder, resumed_from=state["docs_done"], engine=state["engine"],
                    training=(manifest or {}).get("training") or {})
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


def _manifest(folder: Path, keyring) -> dict | None:
    path = folder / "manifest.json"
    return json.loads(read_sealed_text(path, keyring, KIND)) if path.is_file() else None  # None: an older run


def _check_resume(run_id: str, manifest: dict | None, blob: bytes, train: Path | None, state: dict,
                  engine: str) -> None:
    """A resumed run calls as it began: the same model.npz, training set and LLM member."""
    if manifest is not None and hashlib.sha256(blob).hexdigest() != manifest["model_sha256"]:
        raise LextuneError(f"run {run_id}: model.npz does not match the sha256 in its manifest; not resuming")
    if train is not None:
        if manifest is None:
            raise LextuneError(f"run {run_id} predates training manifests; resume it without --train "
                               "(it reuses its own model)")
        t = manifest["training"]
        if not Path(train).is_file() or file_sha256(Path(train)) != t["sha256"]:
            raise LextuneError(f"run {run_id} was trained on {t['path']} (sha256 {t['sha256'][:12]}…); "
                               f"--train {train} is not that file. A resumed run reuses its own model: drop --train")
    if state.get("engine", "none") != engine:
        raise LextuneError(f"run {run_id} was scored with LLM member {state.get('engine')!r}, not {engine!r}: "
                           "resume with the same --model / --engine (or none)")


def run_manifest(store: Store, run_id: str) -> dict | None:
    """The run's manifest (training set path and sha256, model sha256, ...); None for a run that predates them."""
    return _manifest(run_dir(store, run_id), store.keyring)


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
