"""Progress display and end-of-run summaries shared by every command."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.measure import Measurement
from rich.status import Status
from rich.table import Table

UNBOUNDED = 1_000_000  # columns: room enough for any table's widest row


class PipeConsole(Console):
    """rich's Console, for people and pipes: at a terminal it prints as rich does; when its
    output is not a terminal (a pipe, a file, CI's log), a table is printed as wide as its
    widest row needs and a line of text is never broken, so that no value is folded or cut
    at 80 columns (rich's width when it finds no terminal)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.is_terminal:
            super().print(*objects, **kwargs)
            return
        tables = [o for o in objects if isinstance(o, Table)]
        if not tables:
            kwargs.setdefault("soft_wrap", True)
        needed = max((self.natural_width(table) for table in tables), default=0)
        if needed <= self.width:
            super().print(*objects, **kwargs)
            return
        kept = self._width
        self.width = needed
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = kept

    def natural_width(self, table: Table) -> int:
        """The columns `table` takes with no value folded, wrapped or cut."""
        return Measurement.get(self, self.options.update_width(UNBOUNDED), table).maximum


console = PipeConsole(highlight=False)


@contextlib.contextmanager
def progress_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While `enabled` (a command's --json), progress, step lines and summaries go to stderr,
    so that stdout carries the JSON document alone (`| jq` works): the console writes to
    whatever sys.stdout is."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


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


def print_document(document: object) -> None:
    """A command's --json answer: one JSON document on stdout, as it is (no markup, no wrap)."""
    import json

    print(json.dumps(document, indent=2, ensure_ascii=False))


def age(seconds: float) -> str:
    """A duration as people read it: 42 s, 17 min, 5.2 h, 3.1 days."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def size(count: float | None) -> str:
    """A number of bytes as people read it (binary units), or "?" when it is not known."""
    if count is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
