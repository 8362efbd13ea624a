"""The CLI's output for people and pipes (issue #23 item 7): tables hold every value whole
when stdout is not a terminal, `--json` puts the JSON document alone on stdout, `backup list`
prints its table, and `establishment add` says why it refuses."""

import contextlib
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

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
            run=self.run, connection=SimpleNamespace(put=lambda src, dst: self.ran.append(dst))
        )

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
