"""The recovery rows: the restore drill's RTO on the benchmark data set (backup_drill), a
point-in-time restore of the live database (restore_pitr) and the worst-case RPO: the time from a commit right after a WAL segment switch until that segment is
in the pgBackRest repository (rpo)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..paths import ROOT
from .core import DEPLOY, Bench, Measure

if TYPE_CHECKING:
    from ..inventory import Inventory

RPO_LIMIT_SECONDS = 300  # rpo: give up waiting for the archived segment
RESTORE_POINT_LEAD = 2  # restore_pitr: seconds between the point chosen and the restore

COMMIT_AFTER_SWITCH = (
    "sudo -u postgres psql -XAtq -v ON_ERROR_STOP=1"
    " -c \"select setting from pg_settings where name = 'archive_timeout'\""
    # something in the current segment, so that the switch really switches
    " -c \"select pg_logical_emit_message(false, 'preau-bench-rpo', 'switch')\""
    " -c 'select pg_walfile_name(pg_switch_wal())'"
    # the commit: a transactional WAL record, first thing in the new segment
    " -c \"select pg_logical_emit_message(true, 'preau-bench-rpo', now()::text)\""
    " -c 'select pg_walfile_name(pg_current_wal_insert_lsn())'"
)


def _drill_after_backup(tmp: Path) -> list[str]:
    """A full backup first (not timed): the drill then restores the benchmark data set."""
    subprocess.run(
        [*DEPLOY, "backup", "now", "--kind", "full"], cwd=ROOT, check=True, capture_output=True
    )
    return [*DEPLOY, "backup", "drill"]


def _restore_to_now(tmp: Path) -> list[str]:
    """A point in time just past (not timed): the restore then replays the WAL from the last
    backup (backup_drill's full one, or the nightly) up to it, on the live database."""
    from datetime import UTC, datetime

    point = datetime.now(UTC).replace(microsecond=0).isoformat()
    time.sleep(RESTORE_POINT_LEAD)
    return [*DEPLOY, "backup", "restore", "--to", point, "--yes"]


def _commit_segment(output: str) -> tuple[int, str]:
    """(archive_timeout in s, the segment holding the commit) from COMMIT_AFTER_SWITCH's
    output; an error when the switch did not leave the commit in a new segment (the worst case
    would not be measured)."""
    lines = [line.strip() for line in output.strip().splitlines()]
    if len(lines) != 5 or not lines[0].isdigit():
        raise ValueError(f"unexpected psql output: {output!r}")
    switched, committed = lines[2], lines[4]
    if committed <= switched:
        raise ValueError(f"the commit is in {committed}, not after the switched segment {switched}")
    return int(lines[0]), committed


def _archived_glob(repo_path: str, stanza: str, segment: str) -> str:
    """Where pgBackRest stores a WAL segment: archive/STANZA/PGVERSION-ID/first 16 hex digits/
    SEGMENT-checksum[.ext]."""
    if not re.fullmatch(r"[0-9A-F]{24}", segment):
        raise ValueError(f"not a WAL segment name: {segment!r}")
    return f"{repo_path}/archive/{stanza}/*/{segment[:16]}/{segment}-*"


def _rpo(bench: Bench) -> str:
    """Worst case on an idle database: a commit right after a segment switch waits for
    archive_timeout to close its segment, then for archive-push. Timed from before the commit
    is sent (SSH connections already open) until the segment is seen in the repository:
    conservative by a round trip and the 0.2 s polling. A segment archived sooner than 90 % of
    archive_timeout was closed by another switch (the checkpointer's own timer firing at the
    same instant, or anything else switching WAL): not the worst case, measured once more."""
    from ..procedures.backups import STANZA
    from ..runner import FabricSession

    db, repo = bench.inv.hosts_in("db")[0], bench.inv.hosts_in("backup")[0]
    repo_path = str(repo.vars.get("backup_repo_path", "/var/lib/pgbackrest"))
    with FabricSession(db, bench.inv) as ssh:
        ssh.run(db, "true")
        ssh.run(repo, "true")
        for attempt in (1, 2):
            bench.status(f"commit right after a WAL switch (attempt {attempt})")
            started = time.monotonic()
            archive_timeout, segment = _commit_segment(ssh.run(db, COMMIT_AFTER_SWITCH).stdout)
            bench.status(
                f"waiting for {segment} in the repository (archive_timeout {archive_timeout} s)"
            )
            found = ssh.run(
                repo,
                f"timeout {RPO_LIMIT_SECONDS} sh -c 'until ls "
                f"{_archived_glob(repo_path, STANZA, segment)} >/dev/null "
                "2>&1; do sleep 0.2; done'",
                check=False,
                timeout=RPO_LIMIT_SECONDS + 30,
            )
            elapsed = time.monotonic() - started
            if not found.ok:
                return "failed"
            if elapsed >= 0.9 * archive_timeout:
                return f"{elapsed:.1f} (archive_timeout {archive_timeout} s)"
    return (
        f"{elapsed:.1f} (archive_timeout {archive_timeout} s; segment closed early twice by "
        "another switch: not the worst case)"
    )


def measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "backup_drill",
            "restore drill into a scratch cluster: RTO of the benchmark data set, from a full "
            "backup taken just before (s)",
            "reported",
            _drill_after_backup,
        ),
        Measure(
            "restore_pitr",
            "`backup restore --to TIME` of the live database to a point seconds ago (the "
            "benchmark data set): maintenance on, restore and WAL replay, checks, a new full "
            "backup of the new timeline, maintenance off (s)",
            "reported",
            _restore_to_now,
            needs=("bench_data", "backup_drill"),
        ),
        Measure(
            "rpo",
            "RPO, worst case: a commit right after a WAL segment switch until that segment is "
            "in the pgBackRest repository (s, with the db host's archive_timeout)",
            "≤ 60",
            probe=_rpo,
        ),
    ]
