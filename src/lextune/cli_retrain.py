"""Continuous learning on the command line: `lextune retrain`, and `lextune models canary|promote|rollback`.

Registered on the main app by `register(app)` (the `models` group is found by name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lextune.progress import console, ticker

out = console  # progress and warnings: stderr
stdout = Console()

ScopeOpt = Annotated[str, typer.Option(help="The scope (practice area or client alias; default: the default).")]


def _store():
    from lextune.core.store import Store

    return Store()


def _scoped(scope: str) -> str:
    return "" if scope == "default" else f" for scope {scope}"


def retrain(
    scope: ScopeOpt = "default",
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe (default: the active version's).")] = None,
    replay_share: Annotated[float | None, typer.Option(
        "--replay-share", min=0.0, max=0.5, help="Share of general replay rows in train (default: the previous "
                                                "dataset's).")] = None,
    replay_source: Annotated[Path | None, typer.Option(
        "--replay-source", help="Replay JSONL (default: the previous dataset's; see data replay-answers).")] = None,
    policy: Annotated[str, typer.Option(help="propose: print the verdict and the command; auto: activate when "
                                        "the gate passes.")] = "propose",
    gate: Annotated[Path | None, typer.Option(help="Promotion gate YAML (default: the shipped gate).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset to extend (default: the active version's, else the "
                                                "newest).")] = None,
    since: Annotated[str | None, typer.Option(help="Only corrections reviewed since this ISO time.")] = None,
    include_unmatched: Annotated[bool, typer.Option(help="Also learn from reviewed items whose document is not "
                                                    "in the dataset (e.g. a contract analysed from a file): "
                                                    "train split only, not anonymized by the vault's policy.")] = False,
    base_model: Annotated[str | None, typer.Option(help="Override the recipe's base model.")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the candidate version.")] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N examples of each task.")] = None,
    sample: Annotated[int | None, typer.Option(help="Score a stratified sample of N examples per task.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the comparison.")] = 1000,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="Evaluation task option as key=value, repeatable (e.g. max_new_tokens=64).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
):
    """Learn from the review queue: corrections + the previous data -> a candidate -> the promotion gate."""
    from lextune.cli_eval import _task_options
    from lextune.core.errors import ConfigError
    from lextune.train.recipe import load_recipe
    from lextune.train.retrain import POLICIES
    from lextune.train.retrain import retrain as run

    if policy not in POLICIES:
        raise ConfigError(f"--policy {policy}: choose propose or auto")
    with ticker("retraining") as t:
        result = run(_store(), scope, load_recipe(recipe) if recipe else None, replay_share=replay_share,
                     replay_source=replay_source, policy=policy, gate_path=gate, dataset=dataset, since=since,
                     include_unmatched=include_unmatched,
                     base_model=base_model, name=name, limit=limit, sample=sample, n_resamples=resamples,
                     task_options=_task_options(option), on_status=t.info, on_step=t.step)  # type: ignore[arg-type]
    if json_out:
        stdout.print_json(json.dumps(result, default=str))
        return
    rows = result["rows"]
    stdout.print(f"dataset {result['dataset']}: {rows['base']} earlier rows, {rows['corrections']} correction rows "
                 f"({rows['new_corrections']} new), {rows['replay']} replay rows")
    prev = result["previous"]["name"] if result["previous"] else "stock"
    stdout.print(f"candidate {result['candidate']['name']} ({result['candidate']['id']}) vs {prev}: "
                 f"gate {'passed' if result['passed'] else 'FAILED'} (comparison {result['comparison']})")
    for c in result["checks"]:
        out.print(f"gate {'pass' if c['passed'] else 'FAIL'} {escape(str(c['name']))}: "
                  f"{escape(str(c.get('detail') or ''))}", soft_wrap=True)
    if result["activated"]:
        stdout.print(f"active: {result['candidate']['name']}{_scoped(scope)} (policy auto)")
    else:
        stdout.print(f"to activate: {result['command']}" + ("" if result["passed"] else " --force"))
        stdout.print(f"or try it on a share of requests: {result['canary_command']}")


def models_canary(
    candidate: Annotated[str | None, typer.Argument(help="Version name or id (leave out with --stop).")] = None,
    share: Annotated[float, typer.Option(help="Share of the scope's requests it answers (0-1).")] = 0.1,
    scope: ScopeOpt = "default",
    stop: Annotated[bool, typer.Option("--stop", help="End the scope's canary; every request goes to the "
                                       "active version.")] = False,
):
    """Blue-green / A/B: let a candidate answer a share of the requests for `active` (or the scope alias)."""
    from lextune.core.errors import ConfigError
    from lextune.registry.rollout import end_canary, start_canary

    store = _store()
    if stop:
        ended = end_canary(store, scope)
        stdout.print(f"canary {ended} ended{_scoped(scope)}" if ended else f"no canary{_scoped(scope)}")
        return
    if not candidate:
        raise ConfigError("name the candidate version (or pass --stop)")
    c = start_canary(store, candidate, share, scope)
    stdout.print(f"canary: {c.version.name} ({c.version.id}) answers {c.share:.0%} of requests{_scoped(scope)}; "
                 "the trace's `arm` says which answered")


def models_promote(
    version: Annotated[str | None, typer.Argument(help="Version (default: the scope's canary).")] = None,
    scope: ScopeOpt = "default",
):
    """Make the canary's candidate (or VERSION) the active version; the canary ends."""
    from lextune.registry.rollout import promote

    v = promote(_store(), scope, version)
    stdout.print(f"active: {v.name} ({v.id}){_scoped(scope)}")


def models_rollback(scope: ScopeOpt = "default"):
    """Return to the version active before the current one (activation history), ending any canary."""
    from lextune.registry.rollout import rollback
    from lextune.registry.versions import get_version

    store = _store()
    before, after = rollback(store, scope)
    if before == after:
        stdout.print(f"canary ended; active unchanged{_scoped(scope)}")
        return
    label = f"{get_version(store, after).name} ({after})" if after else "stock base model"
    stdout.print(f"active: {label}{_scoped(scope)} (rolled back from {before or 'stock'})")


def register(app: typer.Typer) -> None:
    app.command()(retrain)
    models = next(g.typer_instance for g in app.registered_groups if g.name == "models")
    models.command("canary")(models_canary)
    models.command("promote")(models_promote)
    models.command("rollback")(models_rollback)
