"""The review screen's dashboard (`/review/dashboard`): fine-tuning jobs, model versions, evaluations, and
activations with the verdict of the gate each one passed (or was forced past), for the viewer's tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import desc, func, select
from starlette.concurrency import run_in_threadpool

from lextune.core.store import Store
from lextune.core.tables import (
    ActiveModelRow,
    AuditEventRow,
    EvalComparisonRow,
    EvalRunRow,
    ModelVersionRow,
    TrainingJobRow,
)
from lextune.core.tables_review import REVIEW_STATES, ReviewItemRow
from lextune.serve.review_auth import Viewer, viewer_for
from lextune.serve.review_pages import e, page, pill, when

router = APIRouter(prefix="/review", tags=["review"], include_in_schema=False)

ACTIVATIONS = ("model.activate", "model.activate.forced", "model.stock")

Reader = Annotated[Viewer, Depends(viewer_for("read"))]


def _headline(run: EvalRunRow) -> list[tuple[str, float]]:
    """The run's headline metric first, then up to three other top-level numbers."""
    metrics = run.metrics or {}
    out: list[tuple[str, float]] = []
    key = (run.notes or {}).get("headline")
    if key:
        node: Any = metrics
        for part in str(key).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int | float) and not isinstance(node, bool):
            out.append((str(key), float(node)))
    for k, v in metrics.items():
        if len(out) >= 4:
            break
        if isinstance(v, int | float) and not isinstance(v, bool) and k != key:
            out.append((k, float(v)))
    return out


def _dashboard_data(store: Store) -> dict:
    with store.session() as s:
        versions = list(s.scalars(select(ModelVersionRow).order_by(desc(ModelVersionRow.created_at)).limit(30)))
        names = {v.id: v.name for v in s.scalars(select(ModelVersionRow))}
        data = {
            "jobs": list(s.scalars(select(TrainingJobRow).order_by(desc(TrainingJobRow.started_at)).limit(20))),
            "versions": versions,
            "names": names,
            "active": list(s.scalars(select(ActiveModelRow).order_by(ActiveModelRow.scope))),
            "runs": list(s.scalars(select(EvalRunRow).order_by(desc(EvalRunRow.created_at)).limit(20))),
            "comparisons": list(s.scalars(select(EvalComparisonRow).order_by(desc(EvalComparisonRow.created_at))
                                          .limit(20))),
            "activations": list(s.scalars(select(AuditEventRow).where(AuditEventRow.action.in_(ACTIVATIONS))
                                          .order_by(desc(AuditEventRow.id)).limit(30))),
            "review": dict(s.execute(select(ReviewItemRow.status, func.count())
                                     .group_by(ReviewItemRow.status)).all()),
        }
        s.expunge_all()
    return data


def _verdict(comparison: EvalComparisonRow | None) -> str:
    if comparison is None:
        return '<span class="muted">no comparison</span>'
    verdict = (comparison.report or {}).get("verdict") or {}
    checks = "".join(f'<li>{pill("passed" if c.get("passed") else "failed")} {e(c.get("name"))}'
                     f'<div class="small muted">{e(c.get("detail", ""))}</div></li>'
                     for c in verdict.get("checks") or [])
    missing = verdict.get("missing") or []
    return (pill("passed" if comparison.passed else "failed") + f' <span class="small muted">comparison '
            f'{e(comparison.id)} · {when(comparison.created_at)}</span>'
            + (f'<ul class="small" style="margin:4px 0;padding-left:18px">{checks}</ul>' if checks else "")
            + (f'<div class="small muted">missing: {e(", ".join(map(str, missing)))}</div>' if missing else ""))


def _gate_for(comparisons: list[EvalComparisonRow], version_id: str | None, at) -> EvalComparisonRow | None:
    """The newest comparison of `version_id` as candidate made before `at` (what the gate consulted)."""
    for c in comparisons:  # newest first
        if c.b_version_id == version_id and (at is None or c.created_at is None or _naive(c.created_at) <= _naive(at)):
            return c
    return None


def _naive(value):
    return value.replace(tzinfo=None) if getattr(value, "tzinfo", None) else value


@router.get("/dashboard")
async def dashboard(request: Request, viewer: Reader) -> Response:
    d = await run_in_threadpool(_dashboard_data, request.state.store)
    names = d["names"]
    name = (lambda vid: e(names.get(vid, vid)) if vid else '<span class="muted">stock</span>')
    active_of: dict[str, list[str]] = {}
    for a in d["active"]:
        active_of.setdefault(a.model_version_id or "", []).append(a.scope)
    review = d["review"]
    summary = " · ".join(f"{pill(s)} {review.get(s, 0)}" for s in REVIEW_STATES)
    active = ", ".join(f"<b>{e(a.scope)}</b>: {name(a.model_version_id)}" for a in d["active"]) or \
        '<span class="muted">stock everywhere</span>'
    jobs = "".join(
        f'<tr><td><code>{e(j.id)}</code></td><td>{pill(j.status)}</td><td class="small">{e(j.base_model)}</td>'
        f'<td class="num">{j.step}/{j.total_steps}</td>'
        f'<td class="num">{"" if j.last_loss is None else f"{j.last_loss:.4f}"}</td>'
        f'<td>{name(j.model_version_id) if j.model_version_id else e(j.version_name or "")}</td>'
        f'<td class="small muted">{when(j.started_at)}</td></tr>' for j in d["jobs"])
    versions = "".join(
        f'<tr><td><b>{e(v.name)}</b><div class="small muted">{e(v.id)}</div></td><td class="small">{e(v.base_model)}'
        f'</td><td class="small"><code>{e(v.dataset_id)}</code></td><td>{e(v.kind)}</td>'
        f'<td>{", ".join(e(s) for s in active_of.get(v.id, [])) or ""}</td>'
        f'<td>{_verdict(_gate_for(d["comparisons"], v.id, None))}</td>'
        f'<td class="small muted">{when(v.created_at)}</td></tr>' for v in d["versions"])
    runs = "".join(
        f'<tr><td>{e(r.model)}</td><td>{e(r.task or "")}</td><td>{e(r.split)}</td><td class="num">{e(r.n)}</td>'
        f'<td class="num">' + " · ".join(f"{e(k)} <b>{v:.3f}</b>" if v % 1 else f"{e(k)} <b>{v:.0f}</b>" for k, v in _headline(r)) + "</td>"
        f'<td class="small muted">{when(r.created_at)}</td></tr>' for r in d["runs"])
    acts = []
    for a in d["activations"]:
        details = a.details or {}
        if a.action == "model.activate.forced":
            what, scope, version = "forced past the gate", details.get("scope", "default"), a.target
            extra = f'<div class="small muted">{e(details.get("reason", ""))}</div>'
        elif a.action == "model.stock":
            what, scope, version, extra = "back to stock", a.target, None, ""
            extra = f'<div class="small muted">from {name(details.get("from"))}</div>'
        else:
            what, scope, version = "activated", a.target, details.get("to")
            extra = f'<div class="small muted">from {name(details.get("from"))}</div>'
        gate = _verdict(_gate_for(d["comparisons"], version, a.ts)) if version else ""
        acts.append(f'<tr><td class="small muted">{when(a.ts)}</td><td>{e(what)}{extra}</td><td>{e(scope)}</td>'
                    f'<td>{name(version)}</td><td>{gate}</td><td class="small">{e(a.actor)}</td></tr>')

    def table(head: list[str], rows: str, empty: str) -> str:
        if not rows:
            return f'<div class="card muted">{empty}</div>'
        return f'<table><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead><tbody>{rows}</tbody></table>'

    body = (f'<h1>Dashboard</h1><div class="card"><dl><dt>review queue</dt><dd>{summary} · '
            f'<a href="/review">open the queue</a></dd><dt>active models</dt><dd>{active}</dd></dl></div>'
            '<h2>Activation history and the gate\'s verdicts</h2>'
            + table(["When", "What", "Scope", "Version", "Gate verdict", "By"], "".join(acts),
                    "No model has been activated yet.")
            + "<h2>Model versions</h2>"
            + table(["Version", "Base model", "Dataset", "Kind", "Active in", "Latest gate verdict", "Created"],
                    versions, "No model versions yet.")
            + "<h2>Fine-tuning jobs</h2>"
            + table(["Job", "Status", "Base model", "Step", "Loss", "Version", "Started"], jobs, "No jobs yet.")
            + "<h2>Latest evaluations</h2>"
            + table(["Model", "Task", "Split", "n", "Headline metrics", "When"], runs, "No evaluation runs yet."))
    return viewer.finish(request, page("Dashboard", body, viewer, "dashboard"))
