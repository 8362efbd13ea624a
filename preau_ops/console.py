"""Progress display and end-of-run summaries shared by every command."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.status import Status
from rich.table import Table

console = Console(highlight=False)


class Progress(Protocol):
    """What a running step shows its current action to (what `step` yields)."""

    def update(self, text: str) -> None: ...


@dataclass
class Summary:
    """What a command did, printed as a table at the end of the run."""

    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, what: str, result: str, detail: str = "") -> None:
        self.rows.append((what, result, detail))

    @property
    def failed(self) -> bool:
        return any(result == "failed" for _, result, _ in self.rows)

    def show(self) -> None:
        elapsed = time.monotonic() - self.started
        table = Table(title=f"{self.title} — {elapsed:.1f} s", title_justify="left")
        table.add_column("step")
        table.add_column("result")
        table.add_column("detail", overflow="fold")
        colours = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "dim"}
        for what, result, detail in self.rows:
            table.add_row(what, f"[{colours.get(result, 'white')}]{result}[/]", detail)
        console.print(table)


@contextlib.contextmanager
def step(title: str, summary: Summary | None = None) -> Iterator[_StepProgress]:
    """Show a spinner while a step runs, then a ✓/✗ line with its duration.

    The body may set `progress.detail` (text shown in the summary) and `progress.result`
    ("ok" by default, or "changed"/"skipped").
    """
    progress = _StepProgress()
    started = time.monotonic()
    try:
        with console.status(f"{title}…", spinner="dots") as status:
            progress.status = status
            progress.title = title
            yield progress
    except BaseException:
        console.print(f"[red]✗[/] {title} [dim]({time.monotonic() - started:.1f} s)[/]")
        if summary is not None:
            summary.add(title, "failed", progress.detail)
        raise
    if progress.result == "failed":
        console.print(
            f"[red]✗[/] {title} [dim]({time.monotonic() - started:.1f} s)[/]"
            + (f" — {progress.detail}" if progress.detail else "")
        )
        if summary is not None:
            summary.add(title, "failed", progress.detail)
        return
    console.print(
        f"[green]✓[/] {title} [dim]({time.monotonic() - started:.1f} s)[/]"
        + (f" — {progress.detail}" if progress.detail else "")
    )
    if summary is not None:
        summary.add(title, progress.result, progress.detail)


class _StepProgress:
    status: Status | None = None
    title = ""
    detail = ""
    result = "ok"

    def update(self, text: str) -> None:
        """Show what the step is doing right now next to its title."""
        if self.status is not None:
            self.status.update(f"{self.title}… [dim]{text}[/]")
