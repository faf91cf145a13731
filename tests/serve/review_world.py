"""A small world for the review screen's tests: two firms, their users and keys, queued items, and a registry
with a job, versions, evaluations, comparisons and activations (acme's)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from lextune.core import audit
from lextune.core.config import tenant_settings
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.core.tables import EvalComparisonRow, EvalRunRow, ModelVersionRow, TrainingJobRow
from lextune.core.tables_review import ReviewItemRow
from lextune.security import tenancy

PASSAGE = ("MASTER SERVICES AGREEMENT\n\n12. Governing Law. This Agreement shall be governed by and construed in "
           "accordance with the laws of the State of Delaware, without regard to its conflict of laws rules.\n\n"
           "13. Term. This Agreement begins on the Effective Date and continues for two (2) years.")
SPAN = "governed by and construed in accordance with the laws of the State of Delaware"

# (task, matter, confidence, label, text), newest first once enqueued (item 0 is the newest)
ITEMS = [
    ("clause_extraction", "Acme v. Initech", 0.91, "Governing Law", SPAN),
    ("privilege", "Acme v. Initech", 0.42, "privileged", "Attorney-client communication about the merger."),
    ("cited_answer", "Globex lease", 0.67, None, "Delaware law governs the agreement [msa §12]."),
    ("clause_extraction", "Globex lease", 0.18, "Term", "continues for two (2) years"),
]


@dataclass
class World:
    root: Store
    acme: Store
    beta: Store
    keys: dict[str, str]
    items: list[str]  # acme's, newest first
    beta_item: str
    extra: dict = field(default_factory=dict)

    def close(self) -> None:
        self.acme.close()
        self.beta.close()

    def row(self, item_id: str, store: Store | None = None) -> ReviewItemRow:
        with (store or self.acme).session() as s:
            row = s.get(ReviewItemRow, item_id)
            s.expunge(row)
            return row


def add_item(store: Store, task: str, matter: str | None, conf: float | None, label: str | None, text: str,
             created_at=None, source: str = PASSAGE, span: str = SPAN) -> str:
    item_id = uuid.uuid4().hex
    start = source.find(span)
    output = {"text": text} if label is None else {"label": label, "text": text}
    with store.session() as s:
        s.add(ReviewItemRow(id=item_id, created_at=created_at or utcnow(), task=task, matter=matter,
                            document_id="doc-0001", source_text=source,
                            span_start=start if start >= 0 else None,
                            span_end=start + len(span) if start >= 0 else None, prompt="Quote the governing law clause.",
                            output=output, confidence=conf, model_version="acme-v2"))
    return item_id


def add_registry(store: Store) -> dict:
    """Two versions, a job, eval runs, a passed and a failed comparison, and activations (one forced)."""
    from lextune.registry.versions import activate

    now = utcnow()
    v1, v2 = "a" * 32, "b" * 32
    with store.session() as s:
        for vid, name, age in [(v1, "acme-v1", 3), (v2, "acme-v2", 1)]:
            s.add(ModelVersionRow(id=vid, name=name, base_model="SmolLM2-135M-Instruct", adapter_path="/nowhere",
                                  dataset_id="ds-" + name, dataset_sha256="0" * 64, recipe={},
                                  created_at=now - timedelta(hours=age)))
        s.add(TrainingJobRow(id="ftjob-a1b2c3", status="succeeded", dataset_id="ds-acme-v2", base_model="SmolLM2",
                             recipe={}, step=120, total_steps=120, last_loss=0.8123, model_version_id=v2,
                             started_at=now - timedelta(hours=2)))
        s.add(TrainingJobRow(id="ftjob-d4e5f6", status="running", dataset_id="ds-acme-v3", base_model="SmolLM2",
                             recipe={}, step=40, total_steps=200, last_loss=1.2031, started_at=now))
        s.add(EvalRunRow(id="run1", model="acme-v2", model_version_id=v2, dataset_path="-", split="test",
                         metrics={"exact_match": 0.6125, "f1": 0.7342, "n_scored": 80}, task="clause_quote", n=80,
                         notes={"headline": "f1"}, created_at=now - timedelta(minutes=50)))
        s.add(EvalRunRow(id="run2", model="stock", dataset_path="-", split="test",
                         metrics={"exact_match": 0.4, "f1": 0.5511}, task="clause_quote", n=80,
                         notes={"headline": "f1"}, created_at=now - timedelta(minutes=55)))
        s.add(EvalComparisonRow(id="cmp-pass", a_version_id=None, b_version_id=v1, passed=True,
                                created_at=now - timedelta(hours=2, minutes=30), report={"verdict": {
                                    "passed": True, "checks": [{"name": "clause_quote: better on f1", "passed": True,
                                                                "detail": "f1 changed by +8.1 pts (p=0.004)"}]}}))
        s.add(EvalComparisonRow(id="cmp-fail", a_version_id=v1, b_version_id=v2, passed=False,
                                created_at=now - timedelta(minutes=40), report={"verdict": {
                                    "passed": False, "checks": [{"name": "clause_quote: better on f1",
                                                                 "passed": False, "detail": "not better"}]}}))
    activate(store, "acme-v1")
    with store.session() as s:
        audit.record(s, "model.activate.forced", v2, {"reason": "gate failed on comparison cmp-fail", "scope": "default"})
    activate(store, "acme-v2")
    return {"v1": v1, "v2": v2}


def cheap_key_hashing(monkeypatch) -> None:
    """argon2 at its lightest: the tests make and check keys, not the hash's cost (0.5 s a key otherwise)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(tenancy, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def make_world(root: Store, registry: bool = True) -> World:
    tenancy.create_tenant(root, "acme", "Acme LLP")
    tenancy.create_tenant(root, "beta", "Beta & Co")
    users = [("acme", "rita", "reviewer"), ("acme", "vic", "viewer"), ("acme", "ann", "admin"),
             ("beta", "bea", "admin")]
    for tenant, user, role in users:
        tenancy.add_user(root, tenant, user, role)
    keys = {user: tenancy.create_api_key(root, tenant, user)[1] for tenant, user, _ in users}
    acme = Store(tenant_settings(root.settings, "acme"))
    beta = Store(tenant_settings(root.settings, "beta"))
    now = utcnow()
    items = [add_item(acme, *spec, created_at=now - timedelta(minutes=i), span=spec[4] if spec[4] in PASSAGE else SPAN)
             for i, spec in enumerate(ITEMS)]
    beta_item = add_item(beta, "privilege", "Beta matter", 0.5, "privileged", "Beta's own output.")
    world = World(root, acme, beta, keys, items, beta_item)
    if registry:
        world.extra = add_registry(acme)
    return world
