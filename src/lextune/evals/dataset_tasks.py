"""Which evaluation task scores each kind of row of a dataset built by `lextune data build`.

Every row task must have a scorer: a dataset with rows of a task nothing scores is an error naming that
task, never silently dropped (a builder added later registers its tasks with the reference scorer by
default, since every row has a reference answer).
"""

from __future__ import annotations

from pathlib import Path

from lextune.core.errors import DatasetError
from lextune.evals.tasks.base import EvalTask

# Row task -> evaluation task. Rows not listed are free-form answers with a reference (instructions,
# statute Q&A, replay): scored by the "reference" task.
SCORED_BY = {
    "clause_type": "clause_type",
    "clause_quote": "clause_quote",
    "clause_question": "clause_question",
    "cited_qa": "cited_qa",
    "nli_evidence": "cited_qa",
}


def builder_row_tasks() -> set[str]:
    import lextune.data.builders  # noqa: F401  (imports every builder, which registers itself)
    from lextune.data.builders.base import BUILDERS

    return {t for b in BUILDERS.values() for t in getattr(b, "tasks", ())}


def reference_row_tasks() -> list[str]:
    return sorted(builder_row_tasks() - set(SCORED_BY))


def eval_task_of(row_task: str, path: Path) -> str:
    if row_task in SCORED_BY:
        return SCORED_BY[row_task]
    if row_task in builder_row_tasks():
        return "reference"
    raise DatasetError(f"{path}: rows of task {row_task!r} have no evaluation task; known row tasks: "
                       f"{', '.join(sorted(builder_row_tasks() | set(SCORED_BY)))}")


def tasks_for_file(path: Path, only: list[str] | None = None) -> list[EvalTask]:
    """The evaluation tasks covering every row of a dataset file (in a stable order)."""
    from lextune.data.dataset import read_rows
    from lextune.evals.tasks import make_task

    row_tasks = sorted({r.task for r in read_rows(path)})
    if only:
        unknown = set(only) - set(row_tasks)
        if unknown:
            raise DatasetError(f"{path}: no rows of task(s) {', '.join(sorted(unknown))}; it has "
                               f"{', '.join(row_tasks)}")
        row_tasks = [t for t in row_tasks if t in only]
    by_eval: dict[str, list[str]] = {}
    for t in row_tasks:
        by_eval.setdefault(eval_task_of(t, path), []).append(t)
    out = []
    for name, rts in by_eval.items():
        if name == "reference":
            out.append(make_task(f"reference:{path}", tasks=rts))
        else:
            out.append(make_task(f"{name}:{path}", row_tasks=rts))
    return out
