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
TRAIN_FORMAT = (
    "JSONL or JSONL.gz, one object per line, the shipped sample's format: required id (unique), label "
    "(privileged | partially_privileged | not_privileged) and body; optional subject, author, recipients, cc, "
    "date, doc_type, split (train | validation | test; unmarked: 3 in 4 train, 1 in 4 validation, by a hash of "
    "the id), privileged_spans ([[start, end]] offsets into subject + blank line + body). Bad lines are reported "
    "as FILE:LINE and skipped; each category needs >= 10 train and >= 5 validation examples (stage 1's "
    "threshold is chosen on validation). Test records are not trained on.")
TrainOpt = Annotated[Path | None, typer.Option(
    "--train", help="Train on this labelled set instead of the shipped SYNTHETIC sample. " + TRAIN_FORMAT)]


def _report_problems(training: dict) -> None:
    problems, skipped = training.get("problems") or [], training.get("skipped_lines") or 0
    for line in problems[:10]:
        console.print(f"[yellow]skipped[/yellow] {line}", markup=True, highlight=False)
    if skipped > min(len(problems), 10):
        console.print(f"[yellow]skipped[/yellow] {skipped - min(len(problems), 10)} more bad line(s) of "
                      f"{training.get('path')}")


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
    resume: Annotated[str | None, typer.Option(help="Continue this run where it stopped (with its own model; "
                                                    "give the same --model).")] = None,
    train: TrainOpt = None,
    engine: Annotated[str, typer.Option(help="Where stage-2 LLM scoring runs: local or vllm.")] = "local",
    vllm_url: Annotated[str | None, typer.Option(help="vLLM server (…/v1) for --engine vllm.")] = None,
    vllm_model: Annotated[str | None, typer.Option(help="vLLM's model name (default: its first).")] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
):
    """Call every document privileged / partially / not, queue uncertain ones for review (sealed run folder).

    Partially privileged calls carry `redact`: the paragraph(s) to redact as offsets into subject + blank line +
    body; the first is highlighted in the review queue. The run's manifest records the training set (path, sha256).
    """
    from lextune.core.errors import LextuneError
    from lextune.privilege.features import load_lexicon
    from lextune.privilege.pipeline import run

    if input_path is None and resume is None:
        raise LextuneError("give INPUT.jsonl or --resume RUN")
    store = _store()
    try:
        res = run(store, input_path, matter=matter, lexicon=load_lexicon(attorneys, firm_domains), batch=batch,
                  resume=resume, llm=_llm(store, engine, model, vllm_url, vllm_model), train=train)
    finally:
        store.close()
    out = res.as_dict()
    if not resume:
        _report_problems(res.training)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    console.print(f"run {res.run_id}: {res.total_done} documents ({res.docs} now, {out['docs_per_hour']:,} docs/hour); "
                  f"privileged {res.privileged}, partially {res.partially_privileged}; "
                  f"{res.review_queued} queued for review (task privilege)")
    t = res.training
    if t:
        console.print(f"trained on {t.get('path')} (sha256 {str(t.get('sha256'))[:12]}…"
                      f"{', SYNTHETIC' if t.get('synthetic') else ''})", highlight=False)
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
                                                     "(default: the shipped SYNTHETIC sample); with --train, "
                                                     "only its test split is used.")] = None,
    train: Annotated[Path | None, typer.Option(
        "--train", help="Measure the model `privilege run --train FILE` would use: trained on FILE, tested on its "
                        "test records (or --sample's test split). " + TRAIN_FORMAT)] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
):
    """SYNTHETIC benchmark: recall/precision per stage on the test split, review-queue size, vs TAR's 75%."""
    from lextune.privilege.evaluate import evaluate

    store = _store() if model else None
    try:
        r = evaluate(sample, llm=_llm(store, "local", model, None, None) if model else None, train=train)
    finally:
        if store:
            store.close()
    _report_problems(r["training"])
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    console.print(f"{'SYNTHETIC benchmark' if r['synthetic_benchmark'] else 'benchmark'} ({r['sizes']}): "
                  f"threshold {r['threshold']} "
                  f"(validation recall {r['validation']['recall']})")
    for stage in ("stage1_test", "stage2_test"):
        console.print(f"  {stage}: recall {r[stage]['recall']:.3f}, precision {r[stage]['precision']:.3f}, "
                      f"flagged {r[stage]['flagged']}")
    console.print(f"  categories right {r['category_accuracy']:.3f}; partial detected {r['partial_detected']}; "
                  f"hard negatives cleared {r['hard_negatives_cleared']}; review queue {r['review_queue']} docs")
    if r["redaction"]:
        red = r["redaction"]
        console.print(f"  redaction: first located span is the marked passage in {red['first_span_is_marked']:.3f} "
                      f"of {red['documents']} partially privileged docs; {red['spans_per_document']} spans/doc, "
                      f"{red['unmarked_spans']} outside the marked passages")
    if r["llm"]:
        console.print(f"  LLM member {r['llm']}: {r['test_docs_per_hour']:,} test docs/hour")
    console.print(f"  reference: courts have accepted {r['tar_reference_recall']:.0%} recall in TAR protocols; "
                  + ("these are synthetic figures, not a validation on real documents" if r["synthetic_benchmark"]
                     else "measured on the labelled test records given"))


def register(app: typer.Typer) -> None:
    app.add_typer(privilege_app, name="privilege")
