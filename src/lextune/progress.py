"""Rich progress bars shared by the CLI and the demo (the library itself takes plain callbacks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def quiet_libraries() -> None:
    """Silence library progress bars and deprecation chatter; lextune shows its own progress."""
    import os
    import warnings

    # Read by tqdm when first imported (before transformers): GGUF conversion and loading bars.
    os.environ.setdefault("TQDM_DISABLE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")


def _bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


@contextmanager
def ticker(description: str, total: int | None = None) -> Iterator:
    """Yield (advance(n), set_total(n)) callbacks bound to one progress bar."""
    with _bar() as bar:
        task = bar.add_task(description, total=total, info="")

        class Tick:
            def advance(self, n: int = 1) -> None:
                bar.advance(task, n)

            def total(self, n: int) -> None:
                bar.update(task, total=n)

            def set(self, n: int) -> None:
                bar.update(task, completed=n)

            def info(self, text: str) -> None:
                bar.update(task, info=text)

            def step(self, step: int, total: int, loss: float) -> None:
                bar.update(task, completed=step, total=total, info=f"loss {loss:.3f}")

        yield Tick()
