"""Progress bars for long work: rich bars on a terminal, silent otherwise.

Library code calls `track(...)` / `progress_bar(...)`; only the CLI decides whether bars show (`configure`).
By default bars show when stderr is a TTY and neither TQDM_DISABLE nor JAMBA_EVAL_NO_PROGRESS is set.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_enabled: bool | None = None


def configure(enabled: bool | None) -> None:
    """Force bars on or off (None restores the automatic choice)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    if _enabled is not None:
        return _enabled
    if os.environ.get("TQDM_DISABLE") or os.environ.get("JAMBA_EVAL_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


class _Bar:
    def __init__(self, progress, task_id):
        self._progress, self._task_id = progress, task_id

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task_id, n)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task_id, description=description)


@contextlib.contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[_Bar]:
    """A bar to `advance()` by hand (e.g. per finished sample inside batched work)."""
    if not enabled():
        yield _Bar(None, None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, description) as bar:
        for item in items:
            yield item
            bar.advance()
