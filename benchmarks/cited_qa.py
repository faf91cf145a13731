"""Cited QA over the vault: BM25 alone vs hybrid, on held-out CUAD and ContractNLI documents.

    .venv/bin/python benchmarks/cited_qa.py [--quick] [--calibrate] [--data ../shared/data]

Documents: CUAD dev contracts (none is in the demo's cuad_sample.json.gz; checked at start) and ContractNLI
dev NDAs, split by the parity of a hash of their id: odd -> "report" (the figures printed), even ->
"calibrate" (`--calibrate` chooses rag.retrieve.MIN_CONFIDENCE there, maximizing balanced accuracy of
"confident" vs "answerable"; never on the report half). They are ingested into a temporary vault through
the normal ingest path. Each question is asked of one document (`document_ids`):

- CUAD: a category's whole-agreement question (cuad_categories.Category.ask) is answerable when the contract
  has a labelled clause of it (gold = the clause spans), unanswerable when it has none (absence-reliable
  categories only);
- ContractNLI: "What does the agreement say about <hypothesis>?" is answerable for Entailment or
  Contradiction (gold = evidence spans), unanswerable for NotMentioned.

Retrieval (all questions, both modes): recall@k (an answerable question with a shown passage overlapping a
gold span) and precision@k (shown passages overlapping gold / shown passages). Answers (a sample, the
bundled stock model, both modes): citation precision (kept citations whose passage overlaps gold / kept
citations), correct refusals on unanswerable questions, false refusals on answerable ones.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CUAD_CATEGORIES = ["Governing Law", "Expiration Date", "Renewal Term", "Anti-Assignment", "Termination for Convenience",
                   "Insurance", "Audit Rights", "Cap on Liability", "Non-Compete", "Exclusivity", "Warranty Duration",
                   "Change of Control"]


@dataclass
class Question:
    text: str
    document_id: str
    source: str
    gold: list[tuple[int, int]] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def half(key: str) -> str:
    return "calibrate" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 else "report"


def overlaps(s: int, e: int, gold: list[tuple[int, int]]) -> bool:
    return any(s < ge and gs < e for gs, ge in gold)


def write_inputs(data: Path, split: str, n_cuad: int, n_nli: int, out: Path) -> list[Path]:
    """The chosen documents as files the vault ingests (CUAD contracts JSONL, a ContractNLI JSON)."""
    from lextune.demo import sample_path

    with gzip.open(sample_path(), "rt", encoding="utf-8") as f:
        demo_titles = {d["title"] for d in json.load(f)["data"]}
    with gzip.open(data / "cuad" / "cuad_dev.contracts.jsonl.gz", "rt", encoding="utf-8") as f:
        cuad = [json.loads(line) for line in f if line.strip()]
    cuad = [c for c in cuad if half(c["id"]) == split]
    assert not {c["title"] for c in cuad} & demo_titles, "a benchmark contract is in the demo's training sample"
    cuad = sorted(cuad, key=lambda c: c["id"])[:n_cuad]
    nli = json.loads((data / "contract_nli" / "dev.json").read_text())
    docs = sorted((d for d in nli["documents"] if half(str(d["id"])) == split), key=lambda d: d["id"])[:n_nli]
    out.mkdir(parents=True, exist_ok=True)
    (out / "cuad.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cuad))
    (out / "nli.json").write_text(json.dumps({**nli, "documents": docs}))
    return [out / "cuad.jsonl", out / "nli.json"]


def questions(store) -> list[Question]:
    from lextune.data import cuad_categories
    from lextune.vault.vault import Vault

    vault = Vault(store)
    out: list[Question] = []
    for doc in vault.documents(latest_only=True):
        anns = vault.annotations(doc.id)
        if doc.format == "cuad":
            for name in CUAD_CATEGORIES:
                cat = cuad_categories.BY_NAME[name]
                gold = [(a.start, a.end) for a in anns if a.clause_type == name and a.end > a.start]
                if gold or cat.absence_reliable:
                    out.append(Question(cat.ask, doc.id, "cuad", gold))
        else:
            for a in anns:
                if a.kind != "nli":
                    continue
                hyp = a.extra.get("hypothesis", "").rstrip(".")
                text = f"What does the agreement say about this: {hyp}?"
                gold = [tuple(s) for s in a.extra.get("spans", [])] if a.label != "NotMentioned" else []
                out.append(Question(text, doc.id, "contract_nli", gold))
    return out


def best_threshold(conf: list[float], answerable: list[bool]) -> tuple[float, float]:
    """The confidence cut maximizing balanced accuracy of confident <-> answerable, and that accuracy."""
    best = (0.0, 0.0)
    for t in sorted(set(conf)):
        tp = sum(c >= t and a for c, a in zip(conf, answerable)) / max(1, sum(answerable))
        tn = sum(c < t and not a for c, a in zip(conf, answerable)) / max(1, sum(not a for a in answerable))
        if (tp + tn) / 2 > best[1]:
            best = (t, (tp + tn) / 2)
    return round(best[0], 3), round(best[1], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--quick", action="store_true", help="fewer documents and answered questions")
    ap.add_argument("--calibrate", action="store_true", help="choose thresholds on the calibration half")
    ap.add_argument("--k", type=int, default=None)
    ap.add_argument("--answers", type=int, default=None, help="questions answered by the model, per mode")
    ap.add_argument("--adapter", type=Path, default=None,
                    help="a version's PEFT adapter folder (on the bundled base) to answer instead of the stock model")
    ap.add_argument("--show", type=int, default=0, help="print this many raw answers per mode with their verdicts")
    args = ap.parse_args()
    n_cuad, n_nli, n_answers = (4, 4, 8) if args.quick else (10, 10, 24)
    n_answers = args.answers if args.answers is not None else n_answers
    split = "calibrate" if args.calibrate else "report"
    root = Path(tempfile.mkdtemp(prefix="lextune-cited-qa-"))
    os.environ["LEXTUNE_HOME"] = str(root / "home")
    # Converted base-model weights are reused between runs (conversion takes a while).
    models_cache = Path.home() / ".cache" / "lextune-bench" / "models"
    models_cache.mkdir(parents=True, exist_ok=True)
    (root / "home").mkdir(parents=True)
    (root / "home" / "models").symlink_to(models_cache)

    from lextune.core.store import Store
    from lextune.rag.answer import generate_fn_for
    from lextune.rag.embeddings import get_embedder
    from lextune.rag.grounding import DEFAULT_K, MIN_CONFIDENCE, grounded_messages, retrieve, verify_answer
    from lextune.rag.vectors import embed_chunks
    from lextune.vault.vault import Vault

    k = args.k or DEFAULT_K
    t0 = time.perf_counter()
    store = Store()
    report = Vault(store).ingest(write_inputs(args.data, split, n_cuad, n_nli, root / "in"))
    embedded = embed_chunks(store, get_embedder())
    qs = questions(store)
    n_docs = len(Vault(store).documents(latest_only=True))
    print(f"split={split} documents={n_docs} (ingest errors: {len(report.errors)}) chunks embedded={embedded} "
          f"questions={len(qs)} answerable={sum(q.answerable for q in qs)} k={k} "
          f"setup {time.perf_counter() - t0:.0f} s", flush=True)

    results: dict[str, dict] = {}
    retrievals = {}
    for mode in ("bm25", "hybrid"):
        rs = [retrieve(store, q.text, k, mode, document_ids=[q.document_id]) for q in qs]
        retrievals[mode] = rs
        ans = [(q, r) for q, r in zip(qs, rs) if q.answerable]
        hit = [any(overlaps(p.start, p.end, q.gold) for p in r.passages) for q, r in ans]
        rel = [overlaps(p.start, p.end, q.gold) for q, r in ans for p in r.passages]
        conf = [r.confidence for r in rs]
        thr, bacc = best_threshold(conf, [q.answerable for q in qs])
        results[mode] = {"recall@k": sum(hit) / max(1, len(hit)), "precision@k": sum(rel) / max(1, len(rel)),
                         "best_threshold_here": thr, "balanced_acc_at_best": bacc,
                         "threshold_used": MIN_CONFIDENCE[mode],
                         "confident_answerable": sum(r.confident for q, r in zip(qs, rs) if q.answerable)
                         / max(1, sum(q.answerable for q in qs)),
                         "confident_unanswerable": sum(r.confident for q, r in zip(qs, rs) if not q.answerable)
                         / max(1, sum(not q.answerable for q in qs))}
    print(f"retrieval done {time.perf_counter() - t0:.0f} s", flush=True)

    if n_answers and not args.calibrate:
        from lextune.models.loading import load_base_model

        model, tok, resolved = load_base_model(None)
        label = f"stock:{resolved.name}"
        if args.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(args.adapter)).eval()
            label = f"adapter:{args.adapter.name}"
        gen = generate_fn_for(model, tok, max_new_tokens=96)
        rng = random.Random(0)
        pos = [i for i, q in enumerate(qs) if q.answerable]
        neg = [i for i, q in enumerate(qs) if not q.answerable]
        sample = rng.sample(pos, min(len(pos), n_answers // 2)) + rng.sample(neg, min(len(neg), n_answers - n_answers // 2))
        for mode in ("bm25", "hybrid"):
            rs = [retrievals[mode][i] for i in sample]
            todo = [j for j, r in enumerate(rs) if r.confident]
            raws = [""] * len(rs)
            if todo:
                for j, text in zip(todo, gen([grounded_messages(qs[sample[j]].text, rs[j].passages) for j in todo])):
                    raws[j] = text
            kept = good = refused_un = n_un = refused_ans = n_ans = 0
            for n, (i, r, raw) in enumerate(zip(sample, rs, raws)):
                g = verify_answer(raw, r)
                q = qs[i]
                if n < args.show:
                    print(f"--- {mode} Q: {q.text}\n    answerable={q.answerable} confident={r.confident}\n"
                          f"    raw: {raw[:300]!r}\n    reply: {g.text[:200]!r}\n    checks: "
                          f"{[(c.number, c.evidence) for c in g.citations]}", flush=True)
                shown = {p.number: p for p in r.passages}
                for c in g.citations:
                    if c.supported and not g.refused:
                        kept += 1
                        good += overlaps(shown[c.number].start, shown[c.number].end, q.gold)
                if q.answerable:
                    n_ans += 1
                    refused_ans += g.refused
                else:
                    n_un += 1
                    refused_un += g.refused
            results[mode].update({"answered": len(sample), "model": label,
                                  "citations_kept": kept,
                                  "citation_precision": good / kept if kept else float("nan"),
                                  "correct_not_in_documents": refused_un / max(1, n_un),
                                  "false_refusals": refused_ans / max(1, n_ans)})
            print(f"answers {mode} done {time.perf_counter() - t0:.0f} s", flush=True)

    keys = sorted({key for r in results.values() for key in r}, key=lambda x: list(results["bm25"]).index(x)
                  if x in results["bm25"] else 99)
    print(f"\n{'figure':28} {'bm25':>14} {'hybrid':>14}")
    for key in keys:
        cells = [results[m].get(key, "") for m in ("bm25", "hybrid")]
        print(f"{key:28} " + " ".join(f"{c:>14.3f}" if isinstance(c, float) else f"{c!s:>14}" for c in cells))
    print()
    for mode in ("bm25", "hybrid"):
        for key, value in results[mode].items():
            print(f"{split} {mode} {key} = {value:.3f}" if isinstance(value, float) else f"{split} {mode} {key} = {value}")
    print(f"total {time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPUs")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
