"""`lextune retrain`: lawyers' corrections -> a candidate version -> the promotion gate -> proposed or activated.

1. The `corrections` builder turns the review queue's accepted and corrected items into rows, under the
   previous dataset's build settings (pinned splits, anonymization policy), so each row sits in its
   document's split.
2. They join the rows of the dataset the scope's active version was trained on (its replay rows are
   drawn again, as the `replay` builder does, for the new train size); the result is a new dataset.
3. A candidate is trained (by default with the active version's recipe).
4. `eval compare` of the active version (or stock) vs the candidate on the new dataset's test split,
   with the promotion gate; the comparison is stored, where `models activate` finds it.
5. policy `propose` prints the verdict and the command; `auto` activates when the gate passes.

Every step leaves its audit row (dataset.build, train.start, eval.compare, model.activate) between
retrain.start and retrain.finish.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from lextune.core import audit
from lextune.core.errors import ConfigError, DatasetError
from lextune.core.records import DatasetInfo, DatasetRow, ModelVersion
from lextune.core.store import Store
from lextune.train.recipe import Recipe

Policy = Literal["propose", "auto"]
POLICIES = ("propose", "auto")
# The build settings a corrections build takes over from the previous dataset (same splits, same policy).
_INHERITED = ("split_by", "dev_fraction", "test_fraction", "seed", "anonymize", "pii_actions",
              "near_dup_threshold", "rows_per_duplicate_cluster", "cross_split_duplicates")


def retrain(
    store: Store, scope: str = "default", recipe: Recipe | None = None, *, replay_share: float | None = None,
    replay_source: Path | None = None, policy: Policy = "propose", gate_path: Path | None = None,
    dataset: str | None = None, since: Any = None, anonymize: bool | None = None, base_model: str | None = None,
    include_unmatched: bool = False,
    limit: int | None = None, sample: int | None = None, n_resamples: int = 1000, name: str | None = None,
    task_options: dict[str, Any] | None = None, on_status: Callable[[str], None] | None = None, on_step=None,
) -> dict[str, Any]:
    """Run the whole loop once; returns what happened (JSON-able): datasets, candidate, verdict, action."""
    from lextune.data.dataset import get_dataset
    from lextune.evals.gate import default_gate_path, load_gate
    from lextune.registry.versions import active_version, check_scope

    status = on_status or (lambda msg: None)
    if policy not in POLICIES:
        raise ConfigError(f"policy '{policy}': choose propose or auto")
    check_scope(scope)
    load_gate(gate_path or default_gate_path())  # a typo in the gate fails now, not after training
    previous = active_version(store, scope)
    base_ds = get_dataset(store, dataset or (previous.dataset_id if previous else None))
    with store.session() as s:
        audit.record(s, "retrain.start", scope, {"previous": previous.id if previous else None,
                                                 "dataset": base_ds.id, "policy": policy})
    status("building the corrections' rows")
    corrections = _build_corrections(store, base_ds, since, anonymize, include_unmatched)
    merged, summary = _merge(store, base_ds, corrections, replay_share, replay_source)
    status(f"training on {merged.counts.get('train', {})}")
    rec = recipe or (Recipe.model_validate(previous.recipe) if previous else Recipe())
    if base_model:
        rec = rec.model_copy(update={"base_model": base_model})
    from lextune.train.jobs import run_training

    candidate = run_training(store, merged, rec, name, on_step=on_step, on_status=on_status)
    status(f"comparing {previous.name if previous else 'stock'} and {candidate.name}")
    report = _compare(store, previous, candidate, gate_path, base_model, limit, sample, n_resamples, task_options)
    verdict = report["verdict"]
    passed = bool(verdict["passed"])
    scope_opt = "" if scope == "default" else f" --scope {scope}"
    activated = False
    if policy == "auto" and passed:
        from lextune.registry.versions import activate

        activate(store, candidate.id, scope=scope, action="retrain")
        activated = True
    result = {
        "scope": scope, "policy": policy, "previous": _card(previous), "candidate": _card(candidate),
        "dataset": merged.id, "base_dataset": base_ds.id, "corrections_dataset": corrections.id,
        "rows": summary, "comparison": report["id"], "passed": passed,
        "checks": [{k: c.get(k) for k in ("name", "passed", "detail")} for c in verdict.get("checks", [])],
        "activated": activated,
        "command": None if activated else f"lextune models activate {candidate.name}{scope_opt}",
        "canary_command": None if activated else f"lextune models canary {candidate.name} --share 0.1{scope_opt}",
    }
    from lextune.registry.versions import update_metrics

    update_metrics(store, candidate.id, {"retrain": {k: result[k] for k in (
        "scope", "policy", "base_dataset", "corrections_dataset", "rows", "comparison", "passed", "activated")}})
    with store.session() as s:
        audit.record(s, "retrain.finish", candidate.id, {
            "scope": scope, "previous": previous.id if previous else None, "dataset": merged.id,
            "corrections_dataset": corrections.id, "correction_rows": summary["corrections"],
            "new_correction_rows": summary["new_corrections"], "comparison": report["id"], "passed": passed,
            "policy": policy, "activated": activated})
    return result


def _card(v: ModelVersion | None) -> dict[str, Any] | None:
    return {"id": v.id, "name": v.name, "dataset": v.dataset_id} if v else None


def _build_corrections(store: Store, base_ds: DatasetInfo, since: Any, anonymize: bool | None,
                       include_unmatched: bool = False) -> DatasetInfo:
    """The corrections' own dataset, built with the base dataset's split and anonymization settings."""
    from lextune.data.builders.corrections import CURRENT_STORE
    from lextune.data.dataset import BuildConfig, build_dataset, read_manifest

    try:
        base_cfg = read_manifest(base_ds, store.keyring).get("config") or {}
    except DatasetError:
        base_cfg = {}
    cfg = {k: base_cfg[k] for k in _INHERITED if k in base_cfg}
    if anonymize is not None:
        cfg["anonymize"] = anonymize
    options: dict[str, Any] = {"since": since} if since is not None else {}
    if include_unmatched:
        options["include_unmatched"] = True
    config = BuildConfig(name=f"{base_ds.name}-corrections", builders=["corrections"],
                         options={"corrections": options}, exports=[], **cfg)
    token = CURRENT_STORE.set(store)
    try:
        info = build_dataset(store, config)
    finally:
        CURRENT_STORE.reset(token)
    if not any(sum(c.values()) for c in info.counts.values()):
        raise DatasetError("no accepted or corrected review items" + (f" since {since}" if since else "")
                           + " to learn from (lawyers review model outputs in the review queue)")
    return info


def _rows(store: Store, info: DatasetInfo) -> dict[str, list[DatasetRow]]:
    from lextune.data.dataset import SPLITS, read_rows, split_path

    return {sp: read_rows(split_path(info, sp), store.keyring) if split_path(info, sp).is_file() else []
            for sp in SPLITS}


def _merge(store: Store, base_ds: DatasetInfo, corrections: DatasetInfo, replay_share: float | None,
           replay_source: Path | None) -> tuple[DatasetInfo, dict[str, Any]]:
    """Base rows (without their replay rows) + correction rows (which win on the same id) + fresh replay."""
    from lextune.data.builders.base import BuildContext
    from lextune.data.builders.replay import ReplayBuilder, ReplayOptions
    from lextune.data.dataset import SPLITS, BuildConfig, _write, read_manifest

    try:
        manifest = read_manifest(base_ds, store.keyring)
    except DatasetError:
        manifest = {}
    base_cfg = manifest.get("config") or {}
    base_rows, corr_rows = _rows(store, base_ds), _rows(store, corrections)
    known = {r.id for rs in base_rows.values() for r in rs}
    rows: dict[str, list[DatasetRow]] = {}
    for sp in SPLITS:
        corr_ids = {r.id for r in corr_rows[sp]}
        rows[sp] = [r for r in base_rows[sp] if r.builder != "replay" and r.id not in corr_ids] + corr_rows[sp]
    n_corr = sum(len(v) for v in corr_rows.values())
    new = sum(1 for rs in corr_rows.values() for r in rs if r.id not in known)
    if new == 0:
        raise DatasetError(f"every correction row is already in {base_ds.id}: nothing new to learn from")
    prev_replay = (manifest.get("builders") or {}).get("replay") or {}
    prev_opts = prev_replay.get("options") or {}
    share = replay_share if replay_share is not None else float(prev_opts.get("share") or 0.0)
    source = replay_source or (Path(prev_opts["source"]) if prev_opts.get("source") else None)
    seed = int(base_cfg.get("seed", 0))
    replay = ReplayBuilder()
    warnings: list[str] = []
    ctx = BuildContext(seed=seed, clause_types=base_ds.clause_types,
                       options=ReplayOptions(share=share, source=source), warnings=warnings)
    rows["train"] += list(replay.corpus_rows(ctx, {"train": len(rows["train"])}))
    builders = list(dict.fromkeys([*(base_cfg.get("builders") or []), "corrections", "replay"]))
    config_fields = {k: base_cfg[k] for k in _INHERITED if k in base_cfg}
    config = BuildConfig(name=base_ds.name, builders=builders, exports=["openai"], **config_fields)
    summary = {"base": sum(len(v) for v in base_rows.values()), "corrections": n_corr, "new_corrections": new,
               "replay": len([r for r in rows["train"] if r.builder == "replay"]),
               "by_split": {sp: len(rows[sp]) for sp in SPLITS}}
    builder_info = dict(manifest.get("builders") or {})
    try:
        corr_manifest = read_manifest(corrections, store.keyring)
        builder_info["corrections"] = (corr_manifest.get("builders") or {}).get("corrections", {})
        warnings += corr_manifest.get("warnings") or []
    except DatasetError:
        pass
    builder_info["replay"] = {"rows": summary["replay"], "options": ctx.options.model_dump(mode="json"),
                              **replay.describe()}
    out_manifest = {
        "builders": builder_info, "clause_types": base_ds.clause_types, "warnings": warnings,
        "splits": manifest.get("splits"), "anonymization": manifest.get("anonymization"),
        "dedup": manifest.get("dedup"), "leakage_check": manifest.get("leakage_check"),
        "retrain": {"base_dataset": base_ds.id, "corrections_dataset": corrections.id, **summary},
    }
    return _write(store, config, rows, out_manifest, {}, {}), summary


def _compare(store: Store, previous: ModelVersion | None, candidate: ModelVersion, gate_path: Path | None,
             base_model: str | None, limit: int | None, sample: int | None, n_resamples: int,
             task_options: dict[str, Any] | None = None) -> dict:
    """`eval compare PREVIOUS CANDIDATE` on the candidate's dataset (test split), stored for `models activate`.

    `task_options` go to every task (as `eval compare --option` does; each task ignores keys it lacks)."""
    from lextune.evals.promotion import save_comparison
    from lextune.evals.session import compare_models, load_model, tasks_from

    tasks, ds_id = tasks_from(store, None, candidate, None, "test")
    if task_options:
        tasks = [type(t)(t.source, **{**t.options, **task_options}) for t in tasks]
    a = load_model(store, previous.id if previous else "stock", base_model)
    b = load_model(store, candidate.id, base_model)
    report = compare_models(store, a, b, tasks, limit=limit, sample=sample, gate_path=gate_path,
                            dataset_id=ds_id, n_resamples=n_resamples)
    save_comparison(store, report)
    return report
