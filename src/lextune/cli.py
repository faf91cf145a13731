"""The `lextune` command line: each command a thin call into one package."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lextune.cli_analyze import register as register_analyze
from lextune.cli_audit import audit_app
from lextune.cli_eval import eval_app
from lextune.cli_keys import keys_app
from lextune.cli_monitor import register as register_monitor
from lextune.cli_privilege import register as register_privilege
from lextune.cli_rag import register as register_ask
from lextune.cli_retrain import register as register_retrain
from lextune.cli_serve import serve
from lextune.cli_tenants import register as register_tenants
from lextune.cli_train import jobs_app, train
from lextune.cli_vault import register as register_vault
from lextune.core.errors import LextuneError
from lextune.progress import console, quiet_libraries, ticker
from lextune.security.cli_guard import guard

app = typer.Typer(help="Fine-tune open language models on your legal documents, privately.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Build training data from the vault.", no_args_is_help=True)
models_app = typer.Typer(help="Model versions: list, activate, export, go back to stock.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")  # score, compare, tasks, runs: lextune/cli_eval.py
app.command()(train)  # train and jobs: lextune/cli_train.py
app.add_typer(jobs_app, name="jobs")
app.command()(serve)  # serve and audit served: lextune/cli_serve.py
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")  # rotate, status: lextune/cli_keys.py
register_analyze(app)  # lextune analyze: lextune/cli_analyze.py
register_ask(app)  # lextune ask: lextune/cli_rag.py
register_vault(app)  # lextune vault forget: lextune/cli_vault.py
register_tenants(app)  # lextune tenants|users|api-keys: lextune/cli_tenants.py
register_retrain(app)  # lextune retrain, models canary|promote|rollback: lextune/cli_retrain.py
register_privilege(app)  # lextune privilege run|log|eval: lextune/cli_privilege.py
register_monitor(app)  # lextune monitor drift: lextune/cli_monitor.py
pii_app = typer.Typer(help="The PII mapping: what anonymization replaced, for authorized users.", no_args_is_help=True)
app.add_typer(pii_app, name="pii")
out = console  # progress, warnings and tables go to stderr; results and JSON to stdout
stdout = Console()


@app.callback()
def main(home: Annotated[Path | None, typer.Option(help="State folder (default $LEXTUNE_HOME or ~/.lextune).")] = None):
    """lextune: vault -> dataset -> LoRA fine-tune -> evaluate -> registry -> answers with citations."""
    if home:
        os.environ["LEXTUNE_HOME"] = str(home.expanduser().resolve())
    quiet_libraries()


def _store():
    from lextune.core.store import Store

    return Store()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders: .txt .md .html .eml .pdf (OCR for scans) .docx, JSONL, CUAD/ContractNLI JSON.")],
    client: Annotated[str | None, typer.Option(help="Client the documents belong to.")] = None,
    matter: Annotated[str | None, typer.Option(help="Matter (case/deal) id.")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="Jurisdiction, e.g. 'US-NY' or 'EU'.")] = None,
    practice_area: Annotated[str | None, typer.Option(help="Practice area, e.g. 'employment'.")] = None,
    document_type: Annotated[str | None, typer.Option(help="Document type: contract, memo, opinion, statute, email...")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Other metadata as key=value (repeatable).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
):
    """Ingest documents into the vault: structure-aware chunks with spans, defined terms, metadata.

    Metadata can also sit in `lextune.meta.yaml` in a folder or in `FILE.meta.yaml` beside a file
    (the most specific wins). Exits 3 when any file, line, page or attachment was skipped.
    """
    from lextune.vault.metadata import check_metadata, parse_pairs
    from lextune.vault.vault import Vault, iter_files

    given = {"client": client, "matter": matter, "jurisdiction": jurisdiction,
             "practice_area": practice_area, "document_type": document_type}
    base = {**check_metadata({k: v for k, v in given.items() if v is not None}, "options"),
            **parse_pairs(meta or [])}
    store = _store()
    # A counting pass for the progress bar: names only, nothing is held.
    total = sum(1 for _ in iter_files(paths, exclude=[store.settings.home]))
    with ticker("ingesting", total=total) as t:
        report = Vault(store, workers=workers).ingest(paths, on_file=lambda p: t.advance(), metadata=base)
    # One line per problem (soft_wrap), so a log can be grepped by file name.
    for e in report.errors:
        out.print(f"[red]skipped[/red] {escape(e)}", highlight=False, soft_wrap=True)
    for w in report.warnings:
        out.print(f"[yellow]warning[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    for v in report.new_versions:
        out.print(f"new version: {escape(v)}", highlight=False, soft_wrap=True)
    stdout.print(f"ingested {len(report.added)} documents ({report.n_chunks} chunks) from {report.n_files} files; "
                 f"{len(report.new_versions)} new versions; {len(report.duplicates)} already in the vault; "
                 f"{len(report.errors)} files skipped; {len(report.warnings)} warnings", soft_wrap=True)
    if report.errors:
        stdout.print("skipped files by reason: " + escape("; ".join(f"{n} x {r}" for r, n in report.skip_summary())),
                     soft_wrap=True, highlight=False)
    if report.anything_skipped:
        raise typer.Exit(3)


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got '{v}'", param_hint=what)
        out[key.strip()] = val.strip()
    return out


@data_app.command("build")
def data_build(
    name: Annotated[str | None, typer.Option(help="Dataset name.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML build config (every key of BuildConfig; see README).")] = None,
    builder: Annotated[list[str] | None, typer.Option("--builder", help="Builder to run (repeatable; default: all shipped).")] = None,
    clause_type: Annotated[list[str] | None, typer.Option("--clause-type", help="Clause type to include (repeatable; default: all in the vault).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of new split assignments and sampling.")] = None,
    split_by: Annotated[str | None, typer.Option(help="Keep together in one split: family (default), matter or client.")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="Only documents with this metadata, KEY=VALUE (repeatable).")] = None,
    no_anonymize: Annotated[bool, typer.Option("--no-anonymize", help="Opt out of PII masking (recorded in the audit trail).")] = False,
    pii: Annotated[list[str] | None, typer.Option("--pii", help="Per entity type: ENTITY=mask|pseudonym|keep (repeatable).")] = None,
    export: Annotated[list[str] | None, typer.Option("--export", help="Export formats: openai, alpaca, sharegpt (repeatable).")] = None,
    cross_split_duplicates: Annotated[str | None, typer.Option(help="Train rows whose passage recurs in dev/test: drop (default) or fail.")] = None,
    teacher_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible teacher endpoint (or LEXTUNE_TEACHER_BASE_URL).")] = None,
    teacher_model: Annotated[str | None, typer.Option(help="Teacher model name (or LEXTUNE_TEACHER_MODEL).")] = None,
):
    """Build training data from the vault: anonymized, deduplicated, split by document group, leak-checked."""
    from lextune.data.build_config import load_build_config
    from lextune.data.dataset import build_dataset
    from lextune.data.teacher import teacher_from

    overrides = {"name": name, "builders": builder, "clause_types": clause_type, "seed": seed,
                 "split_by": split_by, "where": _pairs(where, "--where") or None,
                 "anonymize": False if no_anonymize else None, "pii_actions": _pairs(pii, "--pii") or None,
                 "exports": export, "cross_split_duplicates": cross_split_duplicates}
    cfg = load_build_config(config, {k: v for k, v in overrides.items() if v is not None})
    teacher = teacher_from(teacher_base_url, teacher_model)
    if teacher is not None:
        out.print(f"teacher: {teacher.describe()} (document text is sent to this endpoint)", highlight=False)
    with ticker("building") as t:
        def on_progress(stage: str, done: int, total: int) -> None:
            t.info(stage)
            t.total(total)
            t.set(done)

        info = build_dataset(_store(), cfg, teacher=teacher, on_progress=on_progress)
    from lextune.data.dataset import read_manifest

    manifest = read_manifest(info)
    tasks = sorted({t for c in info.counts.values() for t in c})
    table = Table("task", *info.counts, title=f"dataset {info.id}")
    for t in tasks:
        table.add_row(t, *[str(c.get(t, 0)) for c in info.counts.values()])
    out.print(table)
    for w in manifest.get("warnings", []):
        out.print(f"[yellow]warning[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    dd = manifest.get("dedup", {})
    anon = manifest.get("anonymization", {})
    out.print(f"anonymization: {'on ' + str(anon.get('redactions', {})) if anon.get('enabled') else 'OFF'}; "
              f"dedup: {dd.get('cross_split_dropped', 0) + sum(dd.get('cross_split_rows_dropped', {}).values())} "
              "train rows dropped (passage or row repeated in dev/test), "
              f"{sum(dd.get('near_duplicate_rows_dropped', {}).values())} near-duplicate rows dropped; "
              f"leakage check: passed", highlight=False)
    stdout.print(f"dataset {info.id} ({info.name}) at {info.path}")


@data_app.command("export")
def data_export(
    dataset: Annotated[str, typer.Argument(help="Dataset id or name.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the plaintext copy (it must not exist).")],
    what: Annotated[str, typer.Option("--what", help="exports (the --export formats built), splits (train/dev/test "
                                      "JSONL), or all.")] = "exports",
):
    """Write a plaintext copy of a dataset's files for use outside lextune (a provider upload, a review).

    The dataset folder itself stays sealed at rest; this copy is not, so it is audited and goes where you say.
    """
    from lextune.core import audit
    from lextune.core.errors import ConfigError
    from lextune.data.dataset import get_dataset
    from lextune.security.sealed_files import DATASET, read_sealed_bytes, write_bytes_atomic

    if what not in ("exports", "splits", "all"):
        raise ConfigError(f"--what must be exports, splits or all, not {what!r}")
    if out_dir.exists():
        raise ConfigError(f"{out_dir}: exists already; give a new folder")
    store = _store()
    info = get_dataset(store, dataset)
    src = Path(info.path)
    files = []
    if what in ("exports", "all") and (src / "exports").is_dir():
        files += sorted(p for p in (src / "exports").rglob("*.jsonl") if p.is_file())
    if what in ("splits", "all"):
        files += sorted(p for p in src.glob("*.jsonl") if p.is_file())
    if not files:
        raise ConfigError(f"dataset {info.id} has no {what} to export"
                          + (" (build it with --export openai|alpaca|sharegpt)" if what == "exports" else ""))
    for f in files:
        write_bytes_atomic(out_dir / f.relative_to(src), read_sealed_bytes(f, store.keyring, DATASET))
    with store.session() as s:
        audit.record(s, "dataset.export_plaintext", info.id, {"files": len(files), "what": what})
    stdout.print(f"{len(files)} plaintext files of dataset {info.id} in {out_dir}")


@data_app.command("audit")
def data_audit(
    dataset: Annotated[str | None, typer.Option(help="Dataset id or name (default: newest).")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML page here (default: DATASET/audit.html).")] = None,
    base_model: Annotated[str | None, typer.Option(help="Count tokens with this model's tokenizer (default: the bundled model's).")] = None,
    words: Annotated[bool, typer.Option("--words", help="Estimate tokens from words instead of loading a tokenizer.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
):
    """Audit a dataset: counts, lengths, balance, duplicates and PII left, diversity over metadata."""
    from lextune.data.audit_run import audit_dataset

    count_tokens = None
    if not words:
        from lextune.models.loading import base_model_dir, load_tokenizer

        tokenizer = load_tokenizer(base_model_dir(base_model)[1])
        count_tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
    report, page = audit_dataset(_store(), dataset, html=html, count_tokens=count_tokens)
    if json_out:
        stdout.print_json(report.model_dump_json())
        return
    from lextune.data.audit_text import render_text

    out.print(render_text(report))
    stdout.print(f"audit page: {page}")


@data_app.command("replay-answers")
def data_replay_answers(
    out_file: Annotated[Path, typer.Option("--out", help="Replay JSONL to write ({prompt, response} per line).")],
    prompts: Annotated[Path | None, typer.Option(help="Prompts: .txt (one per line) or JSONL {prompt}; default: the 40 shipped.")] = None,
    base_model: Annotated[str | None, typer.Option(help="The model that answers (default: the bundled base model).")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
):
    """Have the base model answer general prompts itself: replay data against forgetting (builder `replay`)."""
    from lextune.data.builders.replay import load_prompts, write_self_answers
    from lextune.models.generation import generate
    from lextune.models.loading import load_base_model

    todo = load_prompts(prompts)
    model, tokenizer, _ = load_base_model(base_model)
    with ticker("answering", total=len(todo)) as t:
        def answer(batch: list[str]) -> list[str]:
            texts = generate(model, tokenizer, [[{"role": "user", "content": q}] for q in batch],
                             max_new_tokens=max_new_tokens, batch_size=len(batch))
            t.advance(len(batch))
            return texts

        n = write_self_answers(todo, answer, out_file)
    stdout.print(f"wrote {n} replay rows to {out_file}; use them with: "
                 f"options: {{replay: {{share: 0.1, source: {out_file}}}}}", soft_wrap=True, highlight=False)


@data_app.command("builders")
def data_builders():
    """List the dataset builders, their tasks and options."""
    from lextune.data import builders  # noqa: F401  (registers every shipped builder)
    from lextune.data.builders import base

    table = Table("builder", "tasks", "options")
    for name, cls in sorted(base.BUILDERS.items()):
        opts = ", ".join(f"{k}={f.default!r}" for k, f in cls.Options.model_fields.items())
        table.add_row(name, ", ".join(cls.tasks), opts)
    stdout.print(table)


@pii_app.command("mapping")
def pii_mapping(document: Annotated[str, typer.Argument(help="Document id (see the rows' document_id).")]):
    """Show which original text each pseudonym or mask replaced in one document (the access is audited)."""
    from lextune.core import audit
    from lextune.data.redactions import mapping

    store = _store()
    found = mapping(store, document)
    with store.session() as s:
        audit.record(s, "pii.reveal", document, {"redactions": len(found)})
    table = Table("replacement", "entity type", "original", "chars", title=f"PII mapping of {document}")
    for r in found:
        table.add_row(escape(r.replacement), r.entity_type, escape(r.original), f"{r.start}-{r.end}")
    stdout.print(table)
    if not found:
        stdout.print("no redactions stored for this document (not anonymized yet, or nothing found)")


@models_app.command("list")
def models_list():
    """List model versions with their headline metrics (latest run per task); the active one is marked."""
    from lextune.evals.run import list_runs
    from lextune.registry.versions import active_version, list_versions

    store = _store()
    active = active_version(store)
    latest: dict[str, dict[str, str]] = {}
    for r in list_runs(store):  # oldest first, so the newest run of a task wins
        v = r.headline_value()
        if r.model_version_id and v is not None:
            latest.setdefault(r.model_version_id, {})[r.task] = f"{r.task} {r.headline} {v:.3f}"
    table = Table("", "name", "id", "base model", "dataset", "created", "headline metrics (latest eval)")
    for v in list_versions(store):
        table.add_row("*" if active and active.id == v.id else "", v.name, v.id, v.base_model, v.dataset_id,
                      v.created_at.strftime("%Y-%m-%d %H:%M"), "\n".join(latest.get(v.id, {}).values()) or "-")
    stdout.print(table)
    stdout.print(f"active: {active.name if active else 'stock base model'}")


@models_app.command("export")
def models_export(
    version: Annotated[str, typer.Argument(help="Version name or id.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write (new or empty).")],
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: adapter, merged, gguf.")] = "adapter,merged,gguf",
    dtype: Annotated[str, typer.Option(help="Merged model dtype: bfloat16 or float16.")] = "bfloat16",
    gguf_quant: Annotated[str, typer.Option("--gguf-quant", help="base (like the base GGUF, tensor by tensor) "
                                            "or F16, BF16, Q8_0, Q5_1, Q5_0, Q4_1, Q4_0.")] = "base",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out folder.")] = False,
):
    """Export a version: PEFT adapter (vLLM multi-LoRA), merged 16-bit model, GGUF (llama.cpp/Ollama), model card."""
    from lextune.core import audit
    from lextune.registry.versions import get_version
    from lextune.train.export import export_version

    store = _store()
    v = get_version(store, version)
    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    with ticker(f"exporting {v.name}") as t:
        paths = export_version(v, out_dir, wanted, settings=store.settings, dtype=dtype, gguf_quant=gguf_quant,
                               overwrite=overwrite, on_status=t.info)
    with store.session() as s:  # a model leaving the system is on the record
        audit.record(s, "model.export", v.id, {"out": str(out_dir.resolve()), "formats": wanted,
                                               "gguf_quant": gguf_quant})
    for key, path in paths.items():
        stdout.print(f"{key}: {path}")


@models_app.command("activate")
def models_activate(
    version: Annotated[str, typer.Argument(help="Version name or id.")],
    force: Annotated[bool, typer.Option("--force", help="Activate even when the promotion gate fails or no "
                                        "comparison exists (logged in the audit trail).")] = False,
    scope: Annotated[str, typer.Option(help="The scope it answers for (a practice area or client, e.g. "
                                       "immigration/spousal; requests name it as their model).")] = "default",
):
    """Make a version the one that answers (one transaction), if its latest comparison passes the gate."""
    from lextune.core import audit
    from lextune.evals.promotion import latest_comparison
    from lextune.registry.versions import activate, get_version

    store = _store()
    v = get_version(store, version)
    report = latest_comparison(store, v.id)
    if report is None:
        verdict_ok, why = False, f"no comparison for {v.name}: run `lextune eval compare stock {v.name}` first"
    else:
        verdict = report["verdict"]
        verdict_ok = bool(verdict["passed"])
        for c in verdict.get("checks", []):
            mark = "[green]pass[/green]" if c.get("passed") else "[red]FAIL[/red]"
            out.print(f"gate {mark} {escape(str(c.get('name')))}: {escape(str(c.get('detail', '')))}", soft_wrap=True)
        why = f"gate {'passed' if verdict_ok else 'failed'} on comparison {report.get('id')} ({report['a']['label']} vs {v.name})"
    out.print(why, soft_wrap=True)
    if not verdict_ok and not force:
        raise LextuneError(f"not activated: {why}; pass --force to activate anyway (it is logged)")
    if not verdict_ok:
        with store.session() as s:
            audit.record(s, "model.activate.forced", v.id, {"reason": why, "scope": scope})
    v = activate(store, version, scope=scope)
    stdout.print(f"active: {v.name} ({v.id})" + ("" if scope == "default" else f" for scope {scope}"))


@models_app.command("stock")
def models_stock(
    scope: Annotated[str, typer.Option(help="The scope that goes back to the stock model.")] = "default",
):
    """Go back to the stock base model; nothing is deleted."""
    from lextune.registry.versions import use_stock

    use_stock(_store(), scope=scope)
    stdout.print("active: stock base model" + ("" if scope == "default" else f" for scope {scope}"))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.json, report.html and the demo's state.")] = Path("lextune-demo"),
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe overriding the demo's.")] = None,
):
    """Run the whole flow on the bundled CUAD sample and compare stock vs tuned."""
    from lextune.demo import run_demo
    from lextune.train.recipe import load_recipe

    run_demo(out_dir, recipe=load_recipe(recipe) if recipe else None)


guard(app)  # every command checks the caller's role (lextune/security/cli_guard.py); keep it last


def run() -> None:
    """Console-script entry point: one-line errors, exit codes, Ctrl-C without a traceback."""
    try:
        # Without standalone mode, click returns (not raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except LextuneError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("cancelled")
        sys.exit(130)
    except Exception as e:  # click usage errors carry their own exit code and message
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise
