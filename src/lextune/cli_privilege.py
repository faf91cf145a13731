"""`lextune privilege run|log|eval`: privilege review for discovery (lextune/privilege/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lextune.progress import console

privilege_app = typer.Typer(help="Privilege review: triage, category calls, review queue, privilege log.",
                            no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="Also score with an LLM (local engine): a model version, 'active' or 'stock'.")]


def _store():
    from lextune.core.store import Store

    return Store()


def _llm(store, engine: str, model: str | None, vllm_url: str | None, vllm_model: str | None):
    from lextune.core.errors import LextuneError

    if engine == "vllm":
        if not vllm_url:
            raise LextuneError("--engine vllm needs --vllm-url URL (e.g. http://host:8000/v1)")
        from lextune.privilege.llm import VllmLLM

        return VllmLLM(vllm_url, vllm_model or model)
    if engine != "local":
        raise LextuneError(f"--engine must be local or vllm, got {engine!r}")
    if model is None:
        return None
    from lextune.evals.session import load_model
    from lextune.privilege.llm import LocalLLM

    loaded = load_model(store, model, cache=False)
    return LocalLLM(loaded.scorer, label=loaded.label)


@privilege_app.command("run")
def privilege_run(
    input_path: Annotated[Path | None, typer.Argument(help="JSONL of documents (id, date, author, recipients, "
                                                           "cc, subject, body, doc_type).")] = None,
    matter: Annotated[str | None, typer.Option(help="Matter the review items belong to.")] = None,
    attorneys: Annotated[Path | None, typer.Option(help="Known attorneys (YAML list or CSV: name or email).")] = None,
    firm_domains: Annotated[Path | None, typer.Option(help="Law-firm domains (YAML/CSV; YAML may add "
                                                           "opposing: and own: lists).")] = None,
    batch: Annotated[int, typer.Option(help="Documents per batch (progress is saved after each).")] = 64,
    resume: Annotated[str | None, typer.Option(help="Continue this run where it stopped.")] = None,
    engine: Annotated[str, typer.Option(help="Where stage-2 LLM scoring runs: local or vllm.")] = "local",
    vllm_url: Annotated[str | None, typer.Option(help="vLLM server (…/v1) for --engine vllm.")] = None,
    vllm_model: Annotated[str | None, typer.Option(help="vLLM's model name (default: its first).")] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
):
    """Call every document privileged / partially / not, queue uncertain ones for review (sealed run folder)."""
    from lextune.core.errors import LextuneError
    from lextune.privilege.features import load_lexicon
    from lextune.privilege.pipeline import run

    if input_path is None and resume is None:
        raise LextuneError("give INPUT.jsonl or --resume RUN")
    store = _store()
    try:
        res = run(store, input_path, matter=matter, lexicon=load_lexicon(attorneys, firm_domains), batch=batch,
                  resume=resume, llm=_llm(store, engine, model, vllm_url, vllm_model))
    finally:
        store.close()
    out = res.as_dict()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    console.print(f"run {res.run_id}: {res.total_done} documents ({res.docs} now, {out['docs_per_hour']:,} docs/hour); "
                  f"privileged {res.privileged}, partially {res.partially_privileged}; "
                  f"{res.review_queued} queued for review (task privilege)")
    console.print(f"privilege log: lextune privilege log {res.run_id} --csv log.csv --xlsx log.xlsx")


@privilege_app.command("log")
def privilege_log(
    run_id: Annotated[str, typer.Argument(help="The run.")],
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the log as CSV.")] = None,
    xlsx_path: Annotated[Path | None, typer.Option("--xlsx", help="Write the log as XLSX.")] = None,
    as_json: JsonOpt = False,
):
    """The privilege log of a run (FRCP 26(b)(5)(A): nature described, content not revealed)."""
    from lextune.privilege.privlog import log_rows, write_csv, write_xlsx

    store = _store()
    try:
        rows = log_rows(store, run_id)
    finally:
        store.close()
    if csv_path:
        write_csv(rows, csv_path)
    if xlsx_path:
        write_xlsx(rows, xlsx_path)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        console.print(f"{len(rows)} log entries" + "".join(f" -> {p}" for p in (csv_path, xlsx_path) if p))


@privilege_app.command("eval")
def privilege_eval(
    sample: Annotated[Path | None, typer.Option(help="Labelled JSONL(.gz) with a split field "
                                                     "(default: the shipped SYNTHETIC sample).")] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
):
    """SYNTHETIC benchmark: recall/precision per stage on the test split, review-queue size, vs TAR's 75%."""
    from lextune.privilege.evaluate import evaluate

    store = _store() if model else None
    try:
        r = evaluate(sample, llm=_llm(store, "local", model, None, None) if model else None)
    finally:
        if store:
            store.close()
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    console.print(f"SYNTHETIC benchmark ({r['sizes']}): threshold {r['threshold']} "
                  f"(validation recall {r['validation']['recall']})")
    for stage in ("stage1_test", "stage2_test"):
        console.print(f"  {stage}: recall {r[stage]['recall']:.3f}, precision {r[stage]['precision']:.3f}, "
                      f"flagged {r[stage]['flagged']}")
    console.print(f"  categories right {r['category_accuracy']:.3f}; partial detected {r['partial_detected']}; "
                  f"hard negatives cleared {r['hard_negatives_cleared']}; review queue {r['review_queue']} docs")
    console.print(f"  reference: courts have accepted {r['tar_reference_recall']:.0%} recall in TAR protocols; "
                  "these are synthetic figures, not a validation on real documents")


def register(app: typer.Typer) -> None:
    app.add_typer(privilege_app, name="privilege")
