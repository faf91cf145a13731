"""The two stages: recall-first triage (stage 1) and the category model with uncertainty (stage 2).

Stage 1 is a binary logistic regression (privileged or partially privileged vs not) over hashed word
n-grams + named features; its threshold is set on the validation split for >= `target_recall`. Stage 2
is a softmax regression over the same features, trained `members` times on bootstrap resamples: the
mean is the call, the spread (members disagreeing) and the margin between the two top categories make
the uncertainty. An LLM's label probabilities (llm.py), when given, are mixed in and count as a member.

Redaction (partially privileged calls): each body paragraph is scored on its own by stage 1 (its text
only: no subject, no parties, which every paragraph shares); the best-scoring paragraph is always a span,
and so is every other paragraph scoring >= REDACT_MIN. Offsets index doc.text().
"""

from __future__ import annotations

import io
import json

import numpy as np

from lextune.privilege import linear
from lextune.privilege.features import PARAGRAPH_REASONS, Lexicon, featurize, paragraph_docs, paragraph_spans
from lextune.privilege.records import CATEGORIES, PrivilegeCall, PrivilegeDoc, RedactSpan

LABEL = {c: i for i, c in enumerate(CATEGORIES)}
NOT = LABEL["not_privileged"]
# A paragraph scored on its own text: on the SYNTHETIC sample legal-advice paragraphs score >= 0.29 and
# business ones <= 0.03 (train, validation and test), so 0.1 adds a second legal paragraph, not business.
REDACT_MIN = 0.1


class PrivilegeModel:
    def __init__(self, lexicon: Lexicon, target_recall: float = 0.98, members: int = 5, review_margin: float = 0.35,
                 llm_weight: float = 0.3, seed: int = 0):
        self.lexicon = lexicon
        self.target_recall = target_recall
        self.members = members
        self.review_margin = review_margin
        self.llm_weight = llm_weight
        self.seed = seed
        self.s1: tuple[np.ndarray, np.ndarray] | None = None
        self.s2: list[tuple[np.ndarray, np.ndarray]] = []
        self.threshold = 0.5
        self.validation: dict = {}

    # ---- training ----------------------------------------------------------------------------------
    def fit(self, train: list[PrivilegeDoc], validation: list[PrivilegeDoc]) -> PrivilegeModel:
        X, _ = featurize(train, self.lexicon)
        y = np.array([LABEL[d.label] for d in train])
        yb = (y != NOT).astype(int)
        self.s1 = linear.fit_softmax(X, yb, 2, weights=linear.balanced_weights(yb, 2, {1: 2.0}))
        rng = np.random.default_rng(self.seed)
        self.s2 = []
        for _ in range(self.members):
            idx = rng.integers(0, len(y), len(y))
            self.s2.append(linear.fit_softmax(X[idx], y[idx], 3, weights=linear.balanced_weights(y[idx], 3)))
        if validation:
            Xv, _ = featurize(validation, self.lexicon)
            pos = np.array([d.label != "not_privileged" for d in validation])
            scores = self.stage1_scores(Xv)
            self.threshold = linear.recall_threshold(scores, pos, self.target_recall)
            flagged = scores >= self.threshold
            self.validation = {"recall": float(flagged[pos].mean()) if pos.any() else None,
                               "flagged": int(flagged.sum()), "n": len(validation), "threshold": self.threshold}
        return self

    # ---- scoring -----------------------------------------------------------------------------------
    def stage1_scores(self, X: np.ndarray) -> np.ndarray:
        return linear.predict_proba(X, *self.s1)[:, 1]

    def member_probs(self, X: np.ndarray) -> np.ndarray:
        """(members, n, 3) stage-2 probabilities of each member."""
        return np.stack([linear.predict_proba(X, W, b) for W, b in self.s2])

    def locate(self, docs: list[PrivilegeDoc]) -> list[list[RedactSpan]]:
        """The paragraph(s) of each document to redact, most likely first; [] for a document without a body."""
        spans = [paragraph_spans(d) for d in docs]
        paras = [p for d, sp in zip(docs, spans) for p in paragraph_docs(d, sp)]
        if not paras:
            return [[] for _ in docs]
        X, reasons = featurize(paras, self.lexicon)
        scores = self.stage1_scores(X)
        out, k = [], 0
        for sp in spans:
            found = []
            for j, (a, b) in enumerate(sp):
                why = [r for r in reasons[k + j] if r in PARAGRAPH_REASONS]
                found.append(RedactSpan(start=a, end=b, score=round(float(scores[k + j]), 4), reasons=why))
            k += len(sp)
            found.sort(key=lambda r: -r.score)
            out.append([r for i, r in enumerate(found) if i == 0 or r.score >= REDACT_MIN])
        return out

    def predict(self, docs: list[PrivilegeDoc], llm_probs: np.ndarray | None = None) -> list[PrivilegeCall]:
        """Calls for `docs`; `llm_probs` (n, 3) from an LLM scorer, or None."""
        from lextune.privilege.describe import asserted, describe

        X, reasons = featurize(docs, self.lexicon)
        s1 = self.stage1_scores(X)
        members = self.member_probs(X)
        if llm_probs is not None:
            members = np.concatenate([members, llm_probs[None]], axis=0)
            clf = members[:-1].mean(axis=0)
            probs = (1 - self.llm_weight) * clf + self.llm_weight * llm_probs
        else:
            probs = members.mean(axis=0)
        calls = []
        for i, doc in enumerate(docs):
            p = probs[i]
            passed = bool(s1[i] >= self.threshold)
            order = np.argsort(-p)
            margin = float(p[order[0]] - p[order[1]])
            votes = members[:, i, :].argmax(axis=1)
            if passed:
                cat = CATEGORIES[int(order[0])]
                disagreement = float((votes != order[0]).mean())
                review = margin < self.review_margin or disagreement > 0
                # Borderline triage: stage 2 clears a document stage 1 barely flagged.
                review = review or (cat == "not_privileged" and p[NOT] < 0.8)
            else:  # below the recall-first threshold: not privileged, no review
                cat, disagreement, review = "not_privileged", 0.0, False
            call = PrivilegeCall(
                doc_id=doc.id, stage1_score=float(s1[i]), stage1_pass=passed, category=cat,
                probabilities={c: round(float(p[j]), 4) for j, c in enumerate(CATEGORIES)},
                uncertainty=round(1 - margin, 4), disagreement=round(disagreement, 4), reasons=reasons[i],
                needs_review=bool(review),
                llm_probabilities=({c: round(float(llm_probs[i][j]), 4) for j, c in enumerate(CATEGORIES)}
                                   if llm_probs is not None else None))
            call.privilege_asserted = asserted(call)
            call.description = describe(doc, call, self.lexicon)
            calls.append(call)
        partial = [i for i, c in enumerate(calls) if c.category == "partially_privileged"]
        for i, spans in zip(partial, self.locate([docs[i] for i in partial])):
            calls[i].redact = spans
        return calls

    # ---- persistence (bytes: the caller seals them) --------------------------------------------------
    def to_bytes(self) -> bytes:
        arrays = {"s1_W": self.s1[0], "s1_b": self.s1[1]}
        for k, (W, b) in enumerate(self.s2):
            arrays[f"s2_{k}_W"], arrays[f"s2_{k}_b"] = W, b
        meta = {"threshold": self.threshold, "members": len(self.s2), "target_recall": self.target_recall,
                "review_margin": self.review_margin, "llm_weight": self.llm_weight, "validation": self.validation,
                "lexicon": self.lexicon.__dict__}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> PrivilegeModel:
        z = np.load(io.BytesIO(blob))
        meta = json.loads(z["meta"].tobytes().decode())
        m = cls(Lexicon(**meta["lexicon"]), meta["target_recall"], meta["members"], meta["review_margin"],
                meta["llm_weight"])
        m.threshold, m.validation = meta["threshold"], meta["validation"]
        m.s1 = (z["s1_W"], z["s1_b"])
        m.s2 = [(z[f"s2_{k}_W"], z[f"s2_{k}_b"]) for k in range(meta["members"])]
        return m
