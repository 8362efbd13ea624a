"""Debian 12 to 13 and PostgreSQL 15 to 17 on a running lab (issue #27, items 5 and 6).

A drill (`./deploy.py test lab --drills`; ~15 minutes of packages, reboots and converges, so
never in the default run CI times): the database and backup hosts move to Debian 13 in one
window, PostgreSQL 15 still serving; the inventory then says 17 and `db upgrade` moves the
data (pg_upgradecluster --link) with every table's rows intact; the app hosts move one at a
time under load with no failed request; the audit passes on the moved platform. It leaves the
lab on Debian 13 and takes it down at the end (its inventory goes back to 15: the next lab is
built on Debian 12).

What the lab cannot prove: a real reboot (a lab "reboot" restarts the host's container, whose
kernel is the machine's: the new release's kernel and its modules are not booted), and the
firmware or disk-layout surprises of real hosts. On a real host: `uname -r` after the move
names trixie's kernel, and `deploy.py audit` passes.
"""

import json

import pytest

from preau_ops import procedures, runner
from preau_ops.paths import ROOT, STATE_DIR

from .conftest import deploy, psql, run_audit
from .loadgen import Load

pytestmark = [pytest.mark.lab, pytest.mark.drill, pytest.mark.usefixtures("platform", "released")]
CA = str(STATE_DIR / "ca" / "ca.crt")
GROUP_VARS = ROOT / "inventories" / "lab" / "group_vars"
# Where a site on 17 declares it (docs/upgrades.md): the db and backup groups, not `all`.
ON_17 = [GROUP_VARS / group / "postgresql-major.yml" for group in ("db", "backup")]
FINGERPRINT = (
    "SELECT string_agg(format('%s:%s', c.relname, "
    "(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) || md5(coalesce("
    "string_agg(t::text, chr(10) ORDER BY t::text), %L)) AS n FROM %I.%I t', '', "
    "n.nspname, c.relname), false, true, '')))[1]::text), ' ' ORDER BY c.relname) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname !~ '^(core_platform|"
    "core_operationlog|core_loginattempt|console_|django_session|jobs_|procrastinate_)'"
)
# Left out: what changes while the platform runs, whatever the database's major (the
# maintenance switch `db upgrade` turns on and off, the app's own operations log, the job
# queue and the timers' statistics, sessions). Every table of the school's data is compared.


def _codenames(lab, hosts):
    with runner.session(lab, hosts) as sessions:
        return {
            h.name: sessions.run(h, ". /etc/os-release; echo $VERSION_CODENAME").stdout.strip()
            for h in hosts
        }


def _clusters(lab) -> set[tuple[str, ...]]:
    """(version, name, port, status) of each cluster of the db host."""
    db = lab.hosts_in("db")[0]
    with runner.FabricSession(db, lab) as session:
        out = session.run(db, "pg_lsclusters --no-header").stdout
    return {tuple(line.split()[:4]) for line in out.splitlines()}


def _database(lab):
    return str(lab.hosts_in("db")[0].vars.get("postgresql_app_database", "preau"))


@pytest.fixture(scope="module")
def released(platform):
    """This tree's app serving: a moved app host gets the release it serves installed again
    from the controller's source, which must be that release's."""
    deploy("release", timeout=1200)
    procedures.app_manage(platform, "seed_demo")  # rows for the fingerprint to compare


@pytest.fixture(scope="module")
def seventeen(lab):
    """Says PostgreSQL 17 in the lab inventory when called; at the end the lab goes down (it
    is on Debian 13) and the inventory says 15 again."""

    def declare():
        for path in ON_17:
            path.parent.mkdir(exist_ok=True)
            path.write_text("---\npostgresql_version: 17\n")

    yield declare
    for path in ON_17:
        path.unlink(missing_ok=True)
        if path.parent.exists() and not any(path.parent.iterdir()):
            path.parent.rmdir()
    deploy("down", timeout=600)


def test_the_database_and_backup_hosts_move_to_debian_13_with_15_serving(lab, seventeen):
    db, backup = lab.hosts_in("db")[0], lab.hosts_in("backup")[0]
    refused = deploy("patch", "--to", "trixie", "--limit", db.name, check=False)
    assert refused.returncode == 1
    assert "would stop the ENT" in " ".join(refused.stdout.split())
    limit = f"{backup.name},{db.name}"
    out = deploy("patch", "--to", "trixie", "--limit", limit, "--allow-downtime", timeout=3000)
    assert _codenames(lab, [db, backup]) == {db.name: "trixie", backup.name: "trixie"}
    assert _clusters(lab) == {("15", "main", "5432", "online")}
    text = " ".join(out.stdout.split())
    assert text.count("moved to trixie in") == 2, text[-2000:]  # a summary row per host
    again = deploy("patch", "--to", "trixie", "--limit", limit, "--allow-downtime")
    assert "already on trixie" in again.stdout


def test_a_converge_for_17_before_the_upgrade_is_refused_by_the_role(lab, seventeen):
    seventeen()
    db = lab.hosts_in("db")[0]
    result = deploy("converge", "--limit", db.name, check=False)
    assert result.returncode != 0
    assert "move its data with `deploy.py db upgrade`" in " ".join(result.stdout.split())
    assert _clusters(lab) == {("15", "main", "5432", "online")}  # nothing was changed


def test_db_upgrade_moves_every_row_to_17_in_a_short_window(lab, seventeen):
    seventeen()
    database = _database(lab)
    before = psql(lab, FINGERPRINT, database)
    assert before.count(":") > 10, before  # the app's tables, each with rows counted
    assert "core_user:0" not in before  # the demo data is there
    out = deploy("db", "upgrade", "--yes", "--json", timeout=3000).stdout
    answer = json.loads(out)
    assert answer["upgraded"] and (answer["from"], answer["version"]) == ("15", "17")
    assert answer["maintenance_seconds"] < 300  # the goal with pg_upgrade
    assert psql(lab, "SHOW server_version_num").startswith("17")
    assert psql(lab, FINGERPRINT, database) == before
    clusters = {(version, name, status) for version, name, _, status in _clusters(lab)}
    assert clusters == {("17", "main", "online"), ("15", "main", "down")}  # 15: the way back
    db = lab.hosts_in("db")[0]
    with runner.FabricSession(db, lab) as session:  # and it never starts by itself
        assert session.run(db, "cat /etc/postgresql/15/main/start.conf").stdout.strip() == "manual"
    again = json.loads(deploy("db", "upgrade", "--yes", "--json").stdout)
    assert again["upgraded"] is False
    listing = json.loads(deploy("backup", "list", "--json").stdout)
    assert answer["backup_after"] in [b["label"] for b in listing["database"]]


def test_the_app_hosts_move_one_at_a_time_under_load(lab, seventeen):
    apps, lb = lab.hosts_in("app"), lab.hosts_in("lb")[0]
    limit = ",".join(h.name for h in apps)
    with Load(lb.address, lb.vars["preau_domain"], CA) as load:
        out = deploy("patch", "--to", "trixie", "--limit", limit, timeout=3000).stdout
    assert load.total > 100
    assert load.failed == 0, dict(load.counts)
    assert set(_codenames(lab, apps).values()) == {"trixie"}
    text = " ".join(out.split())
    assert text.count("out of the load balancer meanwhile") == len(apps), text[-2000:]


def test_the_moved_platform_passes_the_audit_and_finish_drops_15(lab, seventeen):
    lb = lab.hosts_in("lb")[0]
    deploy("patch", "--to", "trixie", "--limit", lb.name, "--allow-downtime", timeout=3000)
    code, data = run_audit("upgraded", "--skip", "BKP-04")  # no restore drill on 17 yet
    failed = [r for r in data["results"] if r["status"] == "failed"]
    assert code == 0 and not failed, failed[:5]
    deploy("db", "upgrade", "--finish", "--yes")
    assert {(v, n, s) for v, n, _, s in _clusters(lab)} == {("17", "main", "online")}
