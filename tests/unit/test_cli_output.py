"""The CLI's output for people and pipes (issue #23 item 7): tables hold every value whole
when stdout is not a terminal, `--json` puts the JSON document alone on stdout, `backup list`
prints its table, and `establishment add` says why it refuses."""

import contextlib
import datetime
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml

from preau_ops import commands
from preau_ops.errors import OpsError
from preau_ops.paths import ROOT
from preau_ops.procedures import AppCommandError, backups, establishments

LONG_NAME = "Collège " + "Jean-Baptiste-Poquelin-dit-Molière-" * 4 + "de-Montauban"
LONG_LABEL = "20261205-060000F_20261205-070000D-" + "x" * 90


@pytest.fixture
def pipe(monkeypatch, capsys):
    """stdout is not a terminal (pytest's capture), and rich would say 80 columns."""
    monkeypatch.setenv("COLUMNS", "80")
    return capsys


def run_cli(*args: str) -> int:
    return commands.main(list(args))


def one_line_holds(out: str, value: str) -> bool:
    return any(value in line for line in out.splitlines())


ESTABLISHMENTS = [
    {
        "uai": "0820021C",
        "name": LONG_NAME,
        "town": "Montauban",
        "status": "active",
        "users_by_profile": {"ELV": 120, "TUT": 200, "ENS": 20, "DIR": 2},
        "classes": 4,
        "last_import": "2026-12-05 06:00:00+00:00",
        "aliases": ["0820010R"],
        "merged_into": None,
        "archived_at": None,
    },
    {
        "uai": "0820010R",
        "name": "Collège Absorbé",
        "town": "Moissac",
        "status": "merged",
        "users_by_profile": {},
        "classes": 0,
        "last_import": None,
        "aliases": [],
        "merged_into": "0820021C",
        "archived_at": "2026-11-30 10:42:00.123456+00:00",
    },
    {
        "uai": "0820899G",
        "name": "Collège Fermé",
        "town": "",
        "status": "archived",
        "users_by_profile": {},
        "classes": 0,
        "last_import": None,
        "aliases": [],
        "merged_into": None,
        "archived_at": "2026-09-01 08:00:00+00:00",
    },
]


def test_establishment_list_through_a_pipe_keeps_a_long_name_whole(prod, monkeypatch, pipe):
    monkeypatch.setattr(establishments, "listing", lambda inv: ESTABLISHMENTS)
    assert run_cli("establishment", "list", "-i", str(prod)) == 0
    out = pipe.readouterr().out
    assert one_line_holds(out, LONG_NAME), out
    assert "…" not in out


def test_a_summary_through_a_real_pipe_keeps_its_detail_whole():
    script = (
        "from preau_ops import console as ui\n"
        "s = ui.Summary('x')\n"
        f"s.add('step', 'ok', {LONG_LABEL!r})\n"
        "s.show()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no COLUMNS: rich's 80
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert one_line_holds(out, LONG_LABEL), out


LISTING = {
    "command": "list",
    "ok": True,
    "database": [
        {
            "label": LONG_LABEL,
            "type": "diff",
            "start": 1764914400,
            "stop": 1764914460,
            "stopped_at": "2026-12-05T06:01:00+00:00",
            "age_seconds": 7380,
            "age_hours": 2.1,
            "size_bytes": 52_428_800,
            "repository_bytes": 1_048_576,
        }
    ],
    "wal": {"min": "000000010000000000000001", "max": "000000010000000000000009"},
    "status": "ok",
    "pitr_window": {
        "from": "2026-12-05T06:01:00+00:00",
        "to": "latest archived WAL (000000010000000000000009)",
    },
}


def test_backup_list_prints_its_table_and_window_only(prod, monkeypatch, pipe):
    monkeypatch.setattr(backups, "listing", lambda inv: LISTING)
    assert run_cli("backup", "list", "-i", str(prod)) == 0
    captured = pipe.readouterr()
    out = captured.out
    assert one_line_holds(out, LONG_LABEL), out
    assert not out.lstrip().startswith("{") and '"database"' not in out, "no raw JSON"
    for shown in ("diff", "2026-12-05T06:01:00+00:00", "2.0 h", "50.0 MiB", "1.0 MiB"):
        assert shown in out, (shown, out)
    assert (
        "Recovery window: from 2026-12-05T06:01:00+00:00 to the latest archived WAL "
        "(000000010000000000000009)" in out
    )
    assert "backup list" not in out, "progress and step lines go to stderr"


@pytest.mark.parametrize(
    ("verb", "answer"),
    [
        ("list", LISTING),
        ("verify", {"command": "verify", "ok": True, "checks": {"pgbackrest check": True}}),
        (
            "drill",
            {
                "command": "drill",
                "ok": True,
                "backup": LONG_LABEL,
                "checks": [{"name": "users exist", "ok": True, "value": 42.0}],
                "rto_seconds": 12.3,
                "duration_seconds": 20.1,
            },
        ),
    ],
)
def test_backup_json_is_the_document_alone_on_stdout(prod, monkeypatch, pipe, verb, answer):
    monkeypatch.setattr(backups, {"list": "listing"}.get(verb, verb), lambda inv: answer)
    assert run_cli("backup", verb, "-i", str(prod), "--json") == 0
    captured = pipe.readouterr()
    assert json.loads(captured.out) == answer  # `| jq` works
    if verb != "list":
        assert f"backup {verb}" in captured.err  # the progress and summary are on stderr


def test_backup_drill_for_people_names_each_check_and_the_rto(prod, monkeypatch, pipe):
    answer = {
        "command": "drill",
        "ok": True,
        "backup": "20261205-060000F",
        "checks": [{"name": "users exist", "ok": True, "value": 42.0}],
        "rto_seconds": 12.3,
        "duration_seconds": 20.1,
    }
    monkeypatch.setattr(backups, "drill", lambda inv: answer)
    assert run_cli("backup", "drill", "-i", str(prod)) == 0
    out = pipe.readouterr().out
    assert "backup 20261205-060000F restored, RTO 12.3 s (whole drill 20.1 s)" in out
    assert one_line_holds(out, "check users exist") and "value 42.0" in out
    assert not out.lstrip().startswith("{")


# --- establishment add: every refusal says why ------------------------------------------------


class FakeApp:
    """The first app host as `add` sees it: a session that records the commands run, and
    `preau-manage` answering from the establishments it holds."""

    def __init__(self, known, add_answer=None):
        self.known, self.add_answer, self.ran = known, add_answer, []
        self.session = SimpleNamespace(
            run=self.run,
            connection=SimpleNamespace(
                put=lambda src, dst: self.ran.append(dst),
                get=self.get,
            ),
        )

    def get(self, src, dst):
        self.ran.append(f"get {src} {dst if isinstance(dst, str) else 'into an open file'}")
        if hasattr(dst, "write"):
            dst.write(b"%PDF-1.4 lettres")

    def run(self, host, command, **kwargs):
        self.ran.append(command)
        return SimpleNamespace(stdout="/tmp/preau-aaf.test\n", ok=True, rc=0)

    def manage(self, session, host, args, check=True):
        self.ran.append(f"preau-manage {args}")
        if args == "establishment list":
            return {"ok": True, "establishments": self.known}
        if args.startswith("activation_codes"):
            return {"ok": True, "codes": []}
        if isinstance(self.add_answer, AppCommandError):
            raise self.add_answer
        return self.add_answer or {"ok": True, "created": True, "establishment": {}}

    @contextlib.contextmanager
    def operation(self, inv, what):
        yield SimpleNamespace(name="app1"), self.session, SimpleNamespace(detail="", backup=None)


@pytest.fixture
def app(monkeypatch):
    def install(known, add_answer=None):
        fake = FakeApp(known, add_answer)
        monkeypatch.setattr(establishments, "operation", fake.operation)
        monkeypatch.setattr(establishments, "manage", fake.manage)
        return fake

    return install


def refused(uai: str, files=()) -> OpsError:
    with pytest.raises(OpsError) as caught:
        establishments.add(SimpleNamespace(name="lab"), uai, "Nouveau", "Moissac", list(files))
    return caught.value


def the_old_apps_refusal(uai: str, status: str) -> AppCommandError:
    error = f"établissement {uai} : statut {status}, opération refusée"
    return AppCommandError({"ok": False, "error": error, "errors": []}, f"preau-manage: {error}")


def test_adding_a_merged_uai_names_it_its_state_and_what_to_do(app):
    fake = app(ESTABLISHMENTS, the_old_apps_refusal("0820010R", "merged"))
    error = refused("0820010R")
    assert error.message == (
        "0820010R is taken: 0820010R (Collège Absorbé, Moissac) is merged into "
        f"0820021C ({LONG_NAME}, Montauban) on 2026-11-30; "
        "nothing was uploaded, created or imported"
    )
    assert error.hint and "`deploy.py establishment list`" in error.hint
    assert "import the files into 0820021C" in error.hint
    assert not any("mktemp" in c or "establishment add" in c for c in fake.ran), fake.ran


def test_adding_an_archived_uai_says_since_when(app):
    app(ESTABLISHMENTS, the_old_apps_refusal("0820899G", "archived"))
    error = refused("0820899G")
    assert "0820899G (Collège Fermé) is archived on 2026-09-01" in error.message
    assert error.hint and "choose another UAI" in error.hint


def test_adding_an_alias_left_by_a_merge_is_refused(app):
    known = [e for e in ESTABLISHMENTS if e["uai"] != "0820010R"]  # only the alias is left
    app(known, the_old_apps_refusal("0820010R", "merged"))
    error = refused("0820010R")
    assert f"0820010R is an alias of 0820021C ({LONG_NAME}, Montauban)" in error.message


def test_a_refusal_of_the_app_without_defects_keeps_its_reason(app, tmp_path):
    aaf = tmp_path / "ENT_Eleve_0000.xml"
    aaf.write_text("<x/>")
    reason = "établissement 0820022D : statut merged, opération refusée"
    app([], AppCommandError({"ok": False, "error": reason, "errors": []}, reason))
    error = refused("0820021C", [aaf])
    assert reason in error.message and "nothing was created or imported" in error.message


def test_defects_of_the_files_are_listed_and_nothing_is_left(app, tmp_path):
    aaf = tmp_path / "ENT_Eleve_0000.xml"
    aaf.write_text("<x/>")
    defect = {"file": "/tmp/x/ENT_Eleve_0000.xml", "record": "12", "attribute": "ENTPersonJointure"}
    answer = {"ok": False, "error": "import refusé", "errors": [{**defect, "message": "absent"}]}
    fake = app([], AppCommandError(answer, "import refusé"))
    error = refused("0820021C", [aaf])
    assert "ENT_Eleve_0000.xml, record 12, ENTPersonJointure: absent" in error.message
    assert "nothing was created or imported" in error.message
    assert error.hint == "fix the files and run the same command again"
    adds = [c for c in fake.ran if c.startswith("preau-manage establishment add")]
    assert len(adds) == 1 and " --aaf /tmp/preau-aaf.test/ENT_Eleve_0000.xml" in adds[0]
    assert "rm -rf /tmp/preau-aaf.test" in fake.ran


def test_an_active_uai_is_added_again(app):
    fake = app(ESTABLISHMENTS, {"ok": True, "created": False, "import": {"notices": []}})
    report = establishments.add(SimpleNamespace(name="lab"), "0820021C", "X", "Y", [])
    assert report["created"] is False and report["establishment"]["name"] == LONG_NAME
    assert "preau-manage establishment add 0820021C --name X --town Y" in fake.ran


# --- status: the screen and --json -----------------------------------------------------------


JOBS = {
    "ok": True,
    "queues": {"emails": {"todo": 2, "doing": 1, "failed": 0, "oldest_todo_seconds": 4}},
    "todo": 2,
    "failed": 1,
    "oldest_todo_seconds": 4,
    "workers": 2,
    "stalled_jobs": 0,
}


class FakeHosts:
    """The runner's Sessions faked at its boundary: each host answers status's commands as a
    Debian host of the platform would (probe, Alertmanager, the ops host's lock and log)."""

    def __init__(
        self,
        unreachable=(),
        alerts=None,
        lock=None,
        log=(),
        reboot=None,
        maintenance="off",
        jobs=JOBS,
    ):
        self.unreachable = list(unreachable)
        self.alerts, self.lock, self.log, self.reboot = alerts, lock, list(log), reboot
        self.maintenance, self.jobs = maintenance, jobs
        self.jobs_asked_of = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, host, command, check=True):
        from preau_ops.runner import Result

        if "api/v2/alerts" in command:  # Alertmanager, on the monitoring host
            answer = self.alerts
            return Result(
                host.name, command, 0 if answer is not None else 7, json.dumps(answer), ""
            )
        if "preau-manage jobs status --json" in command:  # the app, as its runtime user
            self.jobs_asked_of.append(host.name)
            assert "sudo -u preau " in command
            return Result(
                host.name, command, 0 if self.jobs.get("ok") else 1, json.dumps(self.jobs), ""
            )
        if "owner.json" in command:
            owner = json.dumps(self.lock) if self.lock else ""
            out = owner + "\n---\n" + "".join(json.dumps(e) + "\n" for e in self.log)
            return Result(host.name, command, 0, out, "")
        return Result(host.name, command, 0, self.probe(host), "")

    def probe(self, host):
        from preau_ops import platform

        services = platform.services(host.groups, host.vars)
        states = ["active"] * len(services)
        release = "/srv/preau/releases/20261205-0800-abc1234\n" if "app" in host.groups else ""
        metrics = ""
        if "backup" in host.groups:
            metrics += f'preau_backup_last_success_timestamp_seconds{{kind="full"}} {NOW - 7200}\n'
        if host.name == self.reboot:
            metrics += "node_reboot_required 1\n"
        end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=200, minutes=30)
        return (
            "0.52 0.40 0.31\n 42%\n"
            + "".join(s + "\n" for s in states)
            + "---\n"
            + release
            + "---\n"
            + metrics
            + "---\n"
            + end.strftime("notAfter=%b %d %H:%M:%S %Y GMT\n")
            + (f"---\n{self.maintenance}\n" if "app" in host.groups else "")
        )


NOW = 1_764_921_600.0  # 2025-12-05T08:00:00Z: the controller's clock (time.time)
LOCK = {
    "operator": "alice",
    "command": "patch",
    "since": "2026-12-05T08:40:00+00:00",
    "controller": "laptop-alice",
    "token": "0123456789abcdef",
}
LOG = [
    {"seq": 1, "prev": "0" * 64, "chain": "c", "command": "bootstrap", "operator": "root",
     "controller": "vm", "inventory": "production", "revision": "41b3d7236752",
     "start": "2026-12-05T08:00:00+00:00", "end": "2026-12-05T08:01:00+00:00", "seconds": 60.2,
     "outcome": "ok", "detail": "6 bootstrapped", "backup": None, "within": []},
    {"seq": 2, "prev": "ab" * 32, "chain": "c", "command": "backup restore --to X",
     "operator": "bob", "controller": "vm", "inventory": "production", "revision": "41b3d7236752",
     "start": "2026-12-05T08:10:00+00:00", "end": "2026-12-05T08:20:00+00:00", "seconds": 600.0,
     "outcome": "failed", "detail": "the app stays in maintenance", "backup": "20261205-081900F",
     "within": []},
]  # fmt: skip
FIRING = [
    {"labels": {"alertname": "Watchdog", "severity": "none"}, "startsAt": "2026-12-05T07:00:00Z"},
    {
        "labels": {"alertname": "PostgresDown", "severity": "critical", "instance": "db1:9187"},
        "annotations": {"summary": "PostgreSQL ne répond plus"},
        "startsAt": "2026-12-05T08:15:00.123Z",
    },
]


@pytest.fixture
def hosts(monkeypatch, tmp_path):
    """Install fake hosts for status; this controller's pending entries in tmp."""
    import time

    from preau_ops import operations, status

    monkeypatch.setattr(operations, "PENDING", tmp_path / "operations.pending")
    monkeypatch.setattr(time, "time", lambda: NOW)

    def install(*, pending=0, **facts):
        fake = FakeHosts(**facts)
        monkeypatch.setattr(status, "session", lambda inv, allow_unreachable=False: fake)
        entry = {"ops_host": "mon1.ent.example.fr", "command": "converge", "outcome": "ok"}
        for _ in range(pending):
            operations._keep_pending(entry)
        return fake

    return install


def test_status_json_is_one_document_with_every_fact(prod, hosts, pipe):
    hosts(
        unreachable=["backup1.ent.example.fr"],
        alerts=FIRING,
        lock=LOCK,
        log=LOG,
        reboot="app1.ent.example.fr",
        pending=1,
    )
    assert run_cli("status", "-i", str(prod), "--json") == 1  # unreachable host, alert firing
    doc = json.loads(pipe.readouterr().out)  # the document alone on stdout
    assert list(doc) == [
        "inventory", "generated_at", "attention", "hosts", "alerts", "watchdog", "operations",
        "jobs", "problems",
    ]  # fmt: skip
    assert doc["inventory"] == "production" and doc["attention"] is True
    assert doc["generated_at"] == "2025-12-05T08:00:00+00:00"
    by_name = {h["name"]: h for h in doc["hosts"]}
    app1 = by_name["app1.ent.example.fr"]
    assert app1["groups"] == ["app"] and app1["reachable"] is True
    assert app1["load"] == {"1m": 0.52, "5m": 0.40, "15m": 0.31}
    assert app1["disk_used_percent"] == 42
    assert app1["services"]["preau.service"] == "active" and app1["services_not_active"] == []
    assert app1["release"] == "20261205-0800-abc1234"
    assert 199 < app1["certificate_days_left"] <= 200 and app1["certificate_attention"] is False
    assert app1["reboot_required"] is True and app1["maintenance"] is False
    assert by_name["db1.ent.example.fr"]["maintenance"] is None  # asked of app hosts only
    assert by_name["lb1.ent.example.fr"]["reboot_required"] is None  # no apt collector answer
    down = by_name["backup1.ent.example.fr"]
    assert down["reachable"] is False and down["load"] is None and down["services"] == {}
    assert doc["alerts"] == [
        {
            "name": "PostgresDown",
            "severity": "critical",
            "instance": "db1:9187",
            "summary": "PostgreSQL ne répond plus",
            "starts_at": "2026-12-05T08:15:00.123Z",
            "labels": FIRING[1]["labels"],
        }
    ]
    assert doc["watchdog"] == "firing"
    ops = doc["operations"]
    assert ops["ops_host"] == "mon1.ent.example.fr"
    assert ops["lock"] == {k: LOCK[k] for k in ("operator", "command", "since", "controller")}
    assert [e["seq"] for e in ops["last_operations"]] == [1, 2]
    last = ops["last_operations"][-1]
    assert last["outcome"] == "failed" and last["backup"] == "20261205-081900F"
    assert last["seconds"] == 600.0 and "prev" not in last and "chain" not in last
    assert ops["pending_on_this_controller"] == 1
    assert doc["jobs"] == {key: value for key, value in JOBS.items() if key != "ok"}
    assert doc["problems"] == ["backup1.ent.example.fr: unreachable over SSH"]


def test_status_json_times_are_iso_utc_and_backup_ages_numbers(prod, hosts, pipe):
    hosts(alerts=FIRING[:1], log=LOG)
    assert run_cli("status", "-i", str(prod), "--json") == 0  # nothing needs attention
    doc = json.loads(pipe.readouterr().out)
    assert doc["attention"] is False and doc["problems"] == [] and doc["alerts"] == []
    host = {h["name"]: h for h in doc["hosts"]}["backup1.ent.example.fr"]
    key = 'preau_backup_last_success_timestamp_seconds{kind="full"}'
    assert host["last_success"] == {key: {"at": "2025-12-05T06:00:00+00:00", "age_hours": 2.0}}
    assert host["metrics"][key] == NOW - 7200
    assert (
        doc["operations"]["lock"] is None and doc["operations"]["pending_on_this_controller"] == 0
    )


def test_status_for_people_shows_the_lock_the_last_operation_reboots_and_pending(prod, hosts, pipe):
    hosts(alerts=FIRING, lock=LOCK, log=LOG, reboot="app1.ent.example.fr", pending=2)
    assert run_cli("status", "-i", str(prod)) == 1  # an alert is firing
    out = " ".join(pipe.readouterr().out.split())
    assert "Hosts of production" in out and "all active" in out
    assert "Platform lock (mon1.ent.example.fr): alice is running `patch` since " in out
    assert "Last operation: #2 `backup restore --to X` failed at 2026-12-05T08:20:00+00:00" in out
    assert "app1.ent.example.fr: waits for a reboot" in out
    assert "2 operations log entries wait on this controller for mon1.ent.example.fr" in out
    assert "1 alert(s) firing: • critical: PostgresDown db1:9187" in out
    assert "Watchdog" not in out  # firing as it should: not listed, not counted
    assert "Job queue: 2 waiting (oldest due 4 s), 1 failed, 2 worker(s) alive" in out
    assert '"seq"' not in out  # no raw JSON


@pytest.mark.parametrize(
    ("jobs", "said"),
    [
        ({**JOBS, "workers": 0}, "no job worker alive (preau-worker.service on the app hosts)"),
        ({**JOBS, "stalled_jobs": 3}, "3 job(s) stalled: their worker stopped beating"),
    ],
)
def test_status_needs_attention_when_no_worker_runs_the_jobs(prod, hosts, pipe, jobs, said):
    """The queue is asked of one app host (the platform's queue), and a queue no worker runs
    is a reason for exit code 1 (failed jobs are the JobsFailed alert's, not status's)."""
    fake = hosts(alerts=FIRING[:1], log=LOG, jobs=jobs)
    assert run_cli("status", "-i", str(prod)) == 1
    assert fake.jobs_asked_of == ["app1.ent.example.fr"]
    assert said in " ".join(pipe.readouterr().out.split())


def test_status_says_when_the_job_queue_cannot_be_read(prod, hosts, pipe):
    hosts(
        alerts=FIRING[:1],
        log=LOG,
        jobs={"ok": False, "error": "relation procrastinate_jobs does not exist"},
    )
    assert run_cli("status", "-i", str(prod), "--json") == 1
    doc = json.loads(pipe.readouterr().out)
    assert doc["jobs"] is None
    assert doc["problems"] == [
        "app1.ent.example.fr: the job queue's state cannot be read: "
        "relation procrastinate_jobs does not exist"
    ]


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_status_says_the_app_is_in_maintenance(prod, hosts, pipe, json_flag):
    hosts(alerts=FIRING[:1], log=LOG, maintenance="on")  # left on by a failed restore
    assert run_cli("status", "-i", str(prod), *json_flag) == 1  # users get the maintenance page
    out = pipe.readouterr().out
    if json_flag:
        doc = json.loads(out)
        assert doc["attention"] is True and doc["problems"] == []
        assert [h["maintenance"] for h in doc["hosts"] if "app" in h["groups"]] == [True, True]
    else:
        said = " ".join(out.split())
        assert (
            "The app is in maintenance mode (its page on app1.ent.example.fr, app2.ent.example.fr)"
            in said
        )
        assert "`preau-manage maintenance off` on an app host" in said


@pytest.mark.parametrize(
    ("page", "code", "said"),
    [
        ("<title>Préau est en maintenance</title>", "503", "on"),
        ("<title>Connexion – Préau</title>", "200", "off"),
        ("<title>Base de données indisponible</title>", "503", "unknown"),
        ("", "000", "unknown"),  # the app does not answer
    ],
)
def test_the_maintenance_probe_reads_the_apps_answer(tmp_path, page, code, said):
    """status's shell snippet, run by a real shell, curl answering as the app would."""
    from preau_ops import status
    from preau_ops.inventory import Host

    curl = tmp_path / "curl"
    curl.write_text(f"#!/bin/sh\nprintf '%s' '{page}{code}'\n")
    curl.chmod(0o755)
    host = Host("app1", ["app"], {"preau_domain": "ent.example.fr"})
    script = status._maintenance_probe(host)
    assert "Host: ent.example.fr" in script and "/connexion/" in script
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    answer = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == said


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_status_says_when_the_watchdog_is_silent(prod, hosts, pipe, json_flag):
    hosts(alerts=[], log=LOG)
    assert run_cli("status", "-i", str(prod), *json_flag) == 1
    out = pipe.readouterr().out
    silent = (
        "mon1.ent.example.fr: the Watchdog alert is not firing: Prometheus or its rules are "
        "not evaluating, or do not reach Alertmanager"
    )
    if json_flag:
        doc = json.loads(out)
        assert doc["watchdog"] == "not firing" and doc["problems"] == [silent]
    else:
        assert silent in " ".join(out.split())


def test_status_json_when_alertmanager_and_the_lock_owner_are_unreadable(prod, hosts, pipe):
    fake = hosts(alerts=None)
    fake.lock = "not json"  # held, its owner file unreadable
    assert run_cli("status", "-i", str(prod), "--json") == 1
    doc = json.loads(pipe.readouterr().out)
    assert doc["watchdog"] == "unknown"
    assert doc["problems"] == ["mon1.ent.example.fr: Alertmanager does not answer"]
    assert doc["operations"]["lock"] == dict.fromkeys(
        ("operator", "command", "since", "controller")
    )
    assert doc["operations"]["last_operations"] == []


# --- inventory, lab status, audit: --json ------------------------------------------------------


def vault_values(inventory) -> list[str]:
    """Every value the inventory's vault holds (the prod fixture's, in clear)."""
    from preau_ops import vault

    from .conftest import VAULT_PASSWORD

    password = inventory.parent / "the-password"
    password.write_text(VAULT_PASSWORD + "\n")
    text = vault.decrypt(inventory / "group_vars/all/vault.yml", password)
    values = [str(v) for v in (yaml.safe_load(text) or {}).values()]
    assert values and all(len(v) > 12 for v in values)
    return values


@pytest.mark.parametrize("action", ["show", "check"])
def test_inventory_json_lists_hosts_and_groups_and_no_secret(prod, pipe, action):
    assert run_cli("inventory", action, "-i", str(prod), "--json") == 0
    captured = pipe.readouterr()
    doc = json.loads(captured.out)
    assert doc["inventory"] == "production" and doc["valid"] is True
    assert doc["path"] == str(prod)
    app1 = {h["name"]: h for h in doc["hosts"]}["app1.ent.example.fr"]
    assert app1 == {
        "name": "app1.ent.example.fr",
        "address": "203.0.113.21",
        "private_address": "203.0.113.21",
        "port": 22,
        "user": "deploy",
        "groups": ["app"],
    }
    assert doc["groups"]["app"] == ["app1.ent.example.fr", "app2.ent.example.fr"]
    assert list(doc["groups"]) == sorted(doc["groups"])
    for value in vault_values(prod):
        assert value not in captured.out + captured.err


def test_inventory_show_for_people_is_still_a_table(prod, pipe):
    assert run_cli("inventory", "show", "-i", str(prod)) == 0
    out = pipe.readouterr().out
    assert "Inventory production" in out and one_line_holds(out, "app1.ent.example.fr")
    assert '"hosts"' not in out


def lab_hosts_of(states):
    from preau_ops.lab.hosts import LabHost

    return [
        LabHost("lb", ("lb",), "172.30.82.12", "172.30.83.12", state=states[0]),
        LabHost("ops", ("backup", "monitoring"), "172.30.82.41", None, state=states[1]),
    ]


@pytest.mark.parametrize(
    ("answers", "states", "up"),
    [(True, ("running", "exited"), True), (True, ("exited", "exited"), False), (False, (), False)],
)
def test_lab_status_json_is_one_document(monkeypatch, pipe, answers, states, up):
    from preau_ops.lab import engine
    from preau_ops.lab import hosts as lab_hosts

    monkeypatch.setattr(engine, "answers", lambda: answers)
    monkeypatch.setattr(lab_hosts, "status", lambda: lab_hosts_of(states))
    assert run_cli("lab", "status", "--json") == 0
    doc = json.loads(pipe.readouterr().out)
    assert doc["engine"] is answers and doc["up"] is up
    if not answers:
        assert doc["hosts"] == []
        return
    assert doc["hosts"] == [
        {
            "name": "lb",
            "groups": ["lb"],
            "address": "172.30.82.12",
            "private_address": "172.30.83.12",
            "state": states[0],
        },
        {
            "name": "ops",
            "groups": ["backup", "monitoring"],
            "address": "172.30.82.41",
            "private_address": None,
            "state": states[1],
        },
    ]


def test_lab_status_for_people_is_still_the_table(monkeypatch, pipe):
    from preau_ops.lab import engine
    from preau_ops.lab import hosts as lab_hosts

    monkeypatch.setattr(engine, "answers", lambda: True)
    monkeypatch.setattr(lab_hosts, "status", lambda: lab_hosts_of(("running", "exited")))
    assert run_cli("lab", "status") == 0
    out = pipe.readouterr().out
    assert "Lab hosts" in out and one_line_holds(out, "backup, monitoring")
    assert "{" not in out


AUDIT_RESULTS = [
    {
        "control": "SSH-01",
        "title": "Root login is refused",
        "requirement": "ANSSI-BP-028 R30",
        "host": "lb1.ent.example.fr",
        "status": "passed",
        "evidence": ["PermitRootLogin no"],
        "message": "",
        "duration": 0.4,
    },
    {
        "control": "DECL-03",
        "title": "Only the declared ports listen",
        "requirement": "Issue #23 item 3",
        "host": "app1.ent.example.fr",
        "status": "failed",
        "evidence": ["0.0.0.0:80 nginx"],
        "message": "port 80 open, not declared",
        "duration": 0.2,
    },
    {
        "control": "DECL-03",
        "title": "Only the declared ports listen",
        "requirement": "Issue #23 item 3",
        "host": "app2.ent.example.fr",
        "status": "skipped",
        "evidence": [],
        "message": "unreachable",
        "duration": 0.0,
    },
]


@pytest.fixture
def audit_suite(monkeypatch, tmp_path):
    """The audit's controls faked where they reach hosts (the pytest run of controls/), and
    the operations log's reading (an empty log): the rest is real (waivers, counts, score, the
    reports written, the history in tmp, the manifest, the summary)."""
    import importlib

    from preau_ops import operations
    from preau_ops.audit import history

    audit_run = importlib.import_module("preau_ops.audit.run")  # the module, not its run()
    monkeypatch.setattr(history, "HISTORY", tmp_path / "audit-history")
    monkeypatch.setattr(operations, "read_log", lambda inv: "")

    def suite(inv, request, report_dir, workers):
        (report_dir / "audit.xml").write_text("<testsuite/>")
        return {"results": [dict(r) for r in AUDIT_RESULTS], "duration": 1.0}, 1

    monkeypatch.setattr(audit_run, "_run_suite", suite)


def test_audit_json_is_one_summary_of_the_controls(prod, pipe, audit_suite, tmp_path):
    report = tmp_path / "audit"
    assert run_cli("audit", "-i", str(prod), "--report", str(report), "--json") == 1
    captured = pipe.readouterr()
    doc = json.loads(captured.out)
    assert doc["inventory"] == "production" and doc["account"] == "deploy"
    assert doc["as_auditor"] is False and len(doc["hosts"]) == 6
    assert doc["counts"] == {"passed": 1, "failed": 1, "waived": 0, "skipped": 1}
    assert doc["score_percent"] == 50.0 and isinstance(doc["duration_seconds"], float)
    assert doc["manifest"] == str(report / "MANIFEST") and doc["signed_by"] is None
    assert doc["since_previous"] is None  # the first audit of this inventory
    started = datetime.datetime.fromisoformat(doc["started"])
    assert started.utcoffset() == datetime.timedelta(0)
    assert doc["reports"] == {k: str(report / f"audit.{k}") for k in ("html", "json", "xml")}
    assert doc["controls"] == [
        {
            "id": "DECL-03",
            "title": "Only the declared ports listen",
            "requirement": "Issue #23 item 3",
            "host": "app1.ent.example.fr",
            "outcome": "failed",
            "message": "port 80 open, not declared",
            "waiver": None,
        },
        {
            "id": "DECL-03",
            "title": "Only the declared ports listen",
            "requirement": "Issue #23 item 3",
            "host": "app2.ent.example.fr",
            "outcome": "skipped",
            "message": "unreachable",
            "waiver": None,
        },
        {
            "id": "SSH-01",
            "title": "Root login is refused",
            "requirement": "ANSSI-BP-028 R30",
            "host": "lb1.ent.example.fr",
            "outcome": "passed",
            "message": "",
            "waiver": None,
        },
    ]
    assert "port 80 open" in captured.err  # the findings table, for people, on stderr
    saved = json.loads((report / "audit.json").read_text())  # the reports as always
    assert saved["results"][0]["evidence"] == ["PermitRootLogin no"]
    assert (report / "audit.html").exists()


def test_audit_waivers_since_last_time_and_the_manifest(prod, pipe, audit_suite, tmp_path):
    """A waiver in the inventory waives DECL-03 on app1 (exit 0); once it expired, the next
    audit fails again, says since when, and shows it as a new failure since the last audit;
    each report directory is sealed and `audit verify` checks it."""
    waiver = {"control": "DECL-03", "hosts": "app1.ent.example.fr", "expires": "2099-12-31",
              "justification": "port 80 kept for the CNIL's crawler", "accepted_by": "RSSI"}  # fmt: skip
    waivers_file = prod / "group_vars/all/audit.yml"
    waivers_file.write_text(yaml.safe_dump({"audit_waivers": [waiver]}))
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli("audit", "-i", str(prod), "--report", str(first), "--json") == 0
    doc = json.loads(pipe.readouterr().out)
    assert doc["counts"] == {"passed": 1, "failed": 0, "waived": 1, "skipped": 1}
    waived = next(c for c in doc["controls"] if c["outcome"] == "waived")
    assert waived["message"] == "port 80 open, not declared"
    assert waived["waiver"]["accepted_by"] == "RSSI" and waived["waiver"]["expires"] == "2099-12-31"
    waivers_file.write_text(
        yaml.safe_dump({"audit_waivers": [{**waiver, "expires": "2020-01-31"}]})
    )
    assert run_cli("audit", "-i", str(prod), "--report", str(second), "--json") == 1
    doc = json.loads(pipe.readouterr().out)
    failed = next(c for c in doc["controls"] if c["outcome"] == "failed")
    assert "the waiver expired on 2020-01-31" in failed["message"]
    since = doc["since_previous"]
    assert since["new_failures"] == [{"id": "DECL-03", "host": "app1.ent.example.fr"}]
    assert since["operations"] == []
    assert "waiver expired" in (second / "audit.html").read_text()
    assert run_cli("audit", "verify", str(second)) == 0
    pipe.readouterr()
    (second / "audit.json").write_text("{}")
    assert run_cli("audit", "verify", str(second)) == 1
    assert "audit.json: changed" in pipe.readouterr().out
    assert run_cli("audit", "verify", str(second), "--json") == 1
    verified = json.loads(pipe.readouterr().out)  # stdout: the document alone
    assert verified["verified"] is False and verified["signature_checked"] is False
    assert verified["problems"] == ["audit.json: changed (its SHA-256 differs from the manifest's)"]
    assert verified["manifest"]["inventory"] == prod.name


def test_patch_s_own_check_keeps_no_history_and_reads_no_log(
    prod, audit_suite, monkeypatch, tmp_path
):
    from preau_ops import audit, inventory, operations
    from preau_ops.audit import history

    monkeypatch.setattr(operations, "read_log", lambda inv: pytest.fail("no log to read"))
    history.store(history.HISTORY / "production", {"started": "2026-12-04T10:00:00+0000",
                                                    "results": [], "hosts": []})  # fmt: skip
    run = audit.run(inventory.load(str(prod)), report_dir=tmp_path / "r", keep_history=False)
    assert run.data["since"] == {}
    assert len(list((history.HISTORY / "production").iterdir())) == 1  # nothing added
    assert (tmp_path / "r" / "MANIFEST").exists()


def test_an_invalid_waiver_stops_the_audit_before_it_runs(prod, pipe, monkeypatch, tmp_path):
    import importlib

    audit_run = importlib.import_module("preau_ops.audit.run")
    monkeypatch.setattr(audit_run, "_run_suite", lambda *a: pytest.fail("nothing may run"))
    waiver = {"control": "SSH-77", "hosts": "all", "expires": "2099-12-31",
              "justification": "x", "accepted_by": "RSSI"}  # fmt: skip
    (prod / "group_vars/all/audit.yml").write_text(yaml.safe_dump({"audit_waivers": [waiver]}))
    assert run_cli("audit", "-i", str(prod), "--report", str(tmp_path)) == 1
    out = pipe.readouterr().out
    assert "audit.yml: audit_waivers entry 1, field 'control': unknown control id 'SSH-77'" in (
        " ".join(out.split())
    )


def test_audit_for_people_prints_the_findings_not_json(prod, pipe, audit_suite, tmp_path):
    assert run_cli("audit", "-i", str(prod), "--report", str(tmp_path)) == 1
    out = pipe.readouterr().out
    assert one_line_holds(out, "port 80 open, not declared") and '"controls"' not in out


# --- vault rekey: through the console, never a secret ---------------------------------------


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_vault_rekey_never_prints_a_vault_value_or_password(prod, tmp_path, pipe, json_flag):
    from .conftest import VAULT_PASSWORD

    secrets = vault_values(prod)
    new = tmp_path / "new-password"
    new.write_text("a-new-vault-password-for-output-tests\n")
    args = ("vault", "rekey", "-i", str(prod), "--new-password-file", str(new), *json_flag)
    assert run_cli(*args) == 0
    captured = pipe.readouterr()
    both = captured.out + captured.err
    for value in [*secrets, VAULT_PASSWORD, "a-new-vault-password-for-output-tests"]:
        assert value not in both
    assert "\x1b[" not in both  # through a pipe: plain text, no colour codes
    if json_flag:
        report = json.loads(captured.out)  # the report alone on stdout
        assert "vault_app_django_secret_key" in report["rotate_next"]  # names, not values
        assert "Rekeying 1 vault file(s)" in captured.err
    else:
        out = " ".join(captured.out.split())
        assert "rotate next" in out and "vault_app_django_secret_key" in out


def test_a_refused_vault_rekey_prints_no_password(prod, tmp_path, pipe):
    from .conftest import VAULT_PASSWORD

    same = tmp_path / "same-password"
    same.write_text(VAULT_PASSWORD + "\n")
    args = ("vault", "rekey", "-i", str(prod), "--new-password-file", str(same), "--json")
    assert run_cli(*args) == 1
    captured = pipe.readouterr()
    assert captured.out == ""  # --json: the document or nothing on stdout
    assert "error: the new password is the current one" in captured.err
    assert VAULT_PASSWORD not in captured.out + captured.err


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_a_refusal_goes_to_stderr_with_json_only(pipe, json_flag):
    assert run_cli("status", "-i", "/nonexistent/inventory", *json_flag) == 1
    captured = pipe.readouterr()
    said = captured.err if json_flag else captured.out
    assert "error:" in said and "/nonexistent/inventory" in said
    assert (captured.out if json_flag else captured.err) == ""


# --- establishment letters: the app's command, the PDF fetched, the host's copy removed -------


def test_letters_runs_the_apps_command_and_fetches_the_pdf(app, tmp_path):
    fake = app([], {"ok": True, "letters": 28, "output": "/tmp/preau-aaf.test/lettres.pdf"})
    out = tmp_path / "6A.pdf"
    out.write_bytes(b"an older, longer file, readable by all")
    out.chmod(0o644)
    answer = establishments.letters(SimpleNamespace(name="lab"), "0820021c", out, "6 A", "parents")
    # The activation codes are readable by this account only (they were 0644 before).
    assert out.stat().st_mode & 0o777 == 0o600 and out.read_bytes() == b"%PDF-1.4 lettres"
    assert answer["letters"] == 28
    remote = "/tmp/preau-aaf.test/lettres.pdf"
    assert (
        f"preau-manage letters 0820021C --class '6 A' --profile parents --output {remote}"
        in fake.ran
    )
    assert f"get {remote} into an open file" in fake.ran
    assert fake.ran[-1] == "rm -rf /tmp/preau-aaf.test"


def test_letters_without_a_selection_is_refused_before_connecting(app, tmp_path):
    fake = app([])
    with pytest.raises(OpsError, match="no selection"):
        establishments.letters(SimpleNamespace(name="lab"), "0820021C", tmp_path / "x.pdf")
    assert fake.ran == []
