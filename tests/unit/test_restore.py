"""`backup restore` (issue #23 item 4): what refuses it before anything stops, read from
`pgbackrest info --output=json` as pgBackRest 2 prints it: backups of another PostgreSQL major
version than the cluster's, or no backup that ended before the target time."""

from datetime import UTC, datetime

from preau_ops.procedures.backups import restore_problem

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
HOUR_BEFORE = NOON.timestamp() - 3600


def info(*versions: str, stops=(HOUR_BEFORE,)) -> list[dict]:
    return [
        {
            "name": "preau",
            "db": [{"id": n, "version": v} for n, v in enumerate(versions, 1)],
            "backup": [
                {"label": f"b{n}", "timestamp": {"start": s - 60, "stop": s}}
                for n, s in enumerate(stops)
            ],
        }
    ]


def test_backups_of_the_clusters_major_version_before_the_target_pass():
    assert restore_problem(info("15"), "15", NOON) is None


def test_backups_of_another_major_version_are_refused():
    problem = restore_problem(info("13"), "15", NOON)
    assert problem and "PostgreSQL 13" in problem and "cluster is 15" in problem


def test_a_stanza_upgraded_since_holds_both_and_is_refused():
    assert restore_problem(info("15", "17"), "17", NOON) is not None


def test_a_target_before_the_oldest_backup_is_refused():
    problem = restore_problem(info("15", stops=(NOON.timestamp() + 60,)), "15", NOON)
    assert problem and "nothing to restore from" in problem and "12:01:00" in problem


def test_no_backup_is_refused():
    assert restore_problem(info("15", stops=()), "15", NOON) == (
        "the repository holds no backup of this stanza"
    )


def test_an_unreadable_repository_says_what_pgbackrest_said():
    stanza = {
        "name": "preau",
        "db": [],
        "backup": [],
        "status": {"code": 103, "message": "unable to find a valid repository"},
    }
    assert restore_problem([stanza], "15", NOON) == (
        "pgBackRest cannot read the repository: unable to find a valid repository"
    )
