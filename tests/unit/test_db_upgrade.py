"""`db upgrade` and `patch --to`'s decisions without hosts: which cluster moves, what is
refused before anything changes, the commands a host's move runs. The same flows run on real
hosts in tests/lab/test_75_upgrades.py (a drill: `test lab --drills`)."""

import subprocess

import pytest

from preau_ops.errors import OpsError
from preau_ops.procedures.database import Cluster, parse_clusters, to_upgrade
from preau_ops.release.patch import NEXT_RELEASE, move_commands

LSCLUSTERS = """\
15  main    5433 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log
17  main    5432 online postgres /var/lib/postgresql/17/main /var/log/postgresql/postgresql-17-main.log
"""


def test_pg_lsclusters_lines_are_read():
    assert parse_clusters(LSCLUSTERS) == [
        Cluster("15", "main", 5433, "down"),
        Cluster("17", "main", 5432, "online"),
    ]
    assert parse_clusters("") == []


def test_the_online_main_cluster_moves_and_one_on_the_target_is_left_alone():
    serving = [Cluster("15", "main", 5432, "online")]
    assert to_upgrade(serving, "17", "db") == serving[0]
    assert to_upgrade(parse_clusters(LSCLUSTERS), "17", "db") is None  # already upgraded


@pytest.mark.parametrize(
    ("clusters", "refusal"),
    [
        ([], "no single online cluster"),
        ([Cluster("15", "main", 5432, "down")], "no single online cluster"),
        ([Cluster("17", "main", 5432, "online")], None),
        ([Cluster("17", "main", 5432, "online")], "newer than"),
        (
            [Cluster("15", "main", 5432, "online"), Cluster("17", "main", 5433, "down")],
            "already has a PostgreSQL 17 cluster",
        ),
    ],
)
def test_what_cannot_be_upgraded_is_refused_before_any_change(clusters, refusal):
    target = "15" if refusal == "newer than" else "17"
    if refusal is None:
        assert to_upgrade(clusters, target, "db") is None
        return
    with pytest.raises(OpsError, match=refusal) as caught:
        to_upgrade(clusters, target, "db")
    assert "nothing was changed" in (caught.value.hint or "")


def test_a_move_rewrites_the_sources_of_both_formats_and_nothing_else(tmp_path):
    """The sources command, run by a real shell on files of both formats (one-line and
    deb822): every bookworm suite becomes trixie's; other words are kept."""
    sources = tmp_path / "sources.list"
    sources.write_text(
        "deb http://deb.debian.org/debian bookworm main\n"
        "deb http://deb.debian.org/debian-security bookworm-security main\n"
        "# bookwormish stays\n"
    )
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nSuites: bookworm bookworm-updates\nComponents: main\n")
    command = move_commands("bookworm", "trixie")[0]
    command = command.replace("/etc/apt/sources.list.d/*.sources", str(deb822))
    command = command.replace("/etc/apt/sources.list.d/*.list", str(tmp_path / "none*.list"))
    command = command.replace("/etc/apt/sources.list", str(sources))
    subprocess.run(["sh", "-c", command], check=True)
    assert sources.read_text() == (
        "deb http://deb.debian.org/debian trixie main\n"
        "deb http://deb.debian.org/debian-security trixie-security main\n"
        "# bookwormish stays\n"
    )
    assert "Suites: trixie trixie-updates\n" in deb822.read_text()


def test_a_move_upgrades_minimally_first_then_fully():
    _, update, minimal, full = move_commands("bookworm", "trixie")
    assert " update >" in update
    assert " upgrade --without-new-pkgs >" in minimal and " full-upgrade >" in full
    assert NEXT_RELEASE == {"bookworm": "trixie"}


def _platform():
    from pathlib import Path

    from preau_ops.inventory import Host, Inventory

    groups = {"db": ["db"], "backup": ["ops"], "app": ["app1"]}
    hosts = {
        name: Host(name, [g for g, members in groups.items() if name in members], {})
        for name in ("db", "ops", "app1")
    }
    return Inventory(path=Path("/x"), hosts=hosts, groups=groups)


def test_the_db_and_backup_hosts_move_together_the_db_first():
    """pgBackRest's peers run one version: the backup host's converge failed while the db host
    was still on Debian 12 ("option 'lock-path' cannot be set multiple times"); the move now
    takes the db host first, and refuses to move one of them without the other."""
    from preau_ops.release.patch import _backup_peers_together

    inv = _platform()
    old = {"db": "bookworm", "ops": "bookworm", "app1": "bookworm"}
    both = [inv.hosts["ops"], inv.hosts["db"]]  # the patch order: the ops host first
    assert [h.name for h in _backup_peers_together(inv, both, old, "bookworm")] == ["db", "ops"]
    for alone in ("ops", "db"):
        with pytest.raises(OpsError, match="move together") as caught:
            _backup_peers_together(inv, [inv.hosts[alone]], old, "bookworm")
        assert "nothing was changed" in (caught.value.hint or "")
    # the other one already moved (an earlier run): this one goes alone
    moved = dict(old, ops="trixie")
    assert _backup_peers_together(inv, [inv.hosts["db"]], moved, "bookworm") == [inv.hosts["db"]]
    assert _backup_peers_together(inv, [inv.hosts["app1"]], old, "bookworm") == [inv.hosts["app1"]]
