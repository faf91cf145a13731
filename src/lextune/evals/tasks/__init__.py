"""Evaluation tasks, found by name: every module in this package registers its tasks on import."""

from __future__ import annotations

import importlib
import pkgutil

from lextune.core.errors import LextuneError
from lextune.evals.tasks.base import TASKS, EvalTask, Scorer, register_task

__all__ = ["TASKS", "EvalTask", "Scorer", "make_task", "register_task", "task_names"]


class UnknownTaskError(LextuneError):
    """A task name no module registers."""


def _import_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


def task_names() -> list[str]:
    _import_all()
    return sorted(TASKS)


def make_task(spec: str, **options) -> EvalTask:
    """`legalbench:DIR` -> the legalbench task on DIR; `clause_quote` -> that task with no source."""
    _import_all()
    name, _, source = spec.partition(":")
    if name not in TASKS:
        raise UnknownTaskError(f"unknown evaluation task {name!r} (in {spec!r}); known: {', '.join(sorted(TASKS))}")
    return TASKS[name](source or None, **options)
