"""preau-backup, the backup role's command (roles/backup/files/preau_backup.py): its settings as
the role renders them, its arguments, and the pure parts of its runs (summaries, metrics, the
drill's checks). The runs themselves are tested on real hosts: molecule (roles/backup) and
tests/lab/test_40_backups.py."""

import fcntl
import importlib.util
import json
import sys

import pytest

from preau_ops.paths import ROLES

BACKUP_ROLE = ROLES / "backup"


def _import_script():
    spec = importlib.util.spec_from_file_location(
        "preau_backup", BACKUP_ROLE / "files" / "preau_backup.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["preau_backup"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


pb = _import_script()

# The backup role's variables for the repository host of the lab's `scaled` topology.
ROLE_VARS = {
    "ansible_managed": "Ansible managed",
    "backup_stanza": "preau",
    "backup__repo_owner": "pgbackrest",
    "backup__pg_bin": "/usr/lib/postgresql/15/bin",
    "backup_textfile_dir": "/var/lib/prometheus/node-exporter",
    "backup_borgmatic_source_directories": ["/etc", "/srv/preau/shared/media"],
    "backup__drill_config": "/etc/pgbackrest/drill.conf",
    "backup__is_repo": "True",
    "backup__is_borg_client": "False",
    "backup__is_borg_repos": "True",
    "backup_borg_repo_root": "/var/lib/borg",
    "backup__borg_clients": ["app1", "app2"],
    "backup__borg_state_dir": "/var/lib/preau-backup/borg",
    "backup__borg_passphrase_file": "/etc/preau-backup.borg-passphrase",
    "backup_borg_keep_daily": 7,
    "backup_borg_keep_weekly": 4,
    "backup_borg_keep_monthly": "6",
    "backup_drill_dir": "/var/lib/preau-restore-drill",
    "backup_drill_port": "54329",
    "backup_drill_recovery_type": "default",
    "backup_drill_timeout": 3600,
    "backup_drill_database": "preau",
    "backup_drill_nonempty_tables": ["django_migrations"],
    "backup_drill_extra_checks": [],
}


def render(**overrides) -> str:
    """The role's settings template, rendered by Ansible as the template task does."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    source = (BACKUP_ROLE / "templates" / "preau-backup.toml.j2").read_text()
    templar = Templar(loader=DataLoader(), variables={**ROLE_VARS, **overrides})
    return templar.template(trust_as_template(source))


def settings_error(text: str) -> str:
    with pytest.raises(pb.SettingsError) as caught:
        pb.parse_settings(text)
    return str(caught.value)


# --- settings --------------------------------------------------------------------------------


def test_the_rendered_template_gives_the_role_variables_typed():
    settings = pb.parse_settings(render())
    assert settings.stanza == "preau" and settings.repo_owner == "pgbackrest"
    assert settings.repo is True and settings.borg_client is False
    assert settings.borg_sources == ("/etc", "/srv/preau/shared/media")
    assert settings.drill.port == 54329 and settings.drill.timeout == 3600
    assert settings.drill.nonempty_tables == ("django_migrations",)
    assert settings.drill.extra_checks == ()


def test_extra_checks_render_as_tables_and_default_to_the_drill_database():
    checks = [
        {"name": "établissements", "sql": 'SELECT count(*) FROM "t"', "min": 2},
        {"name": "roles", "sql": "SELECT 1", "database": "postgres"},
    ]
    settings = pb.parse_settings(render(backup_drill_extra_checks=checks))
    assert settings.drill.extra_checks == (
        pb.Check("établissements", "preau", 'SELECT count(*) FROM "t"', 2),
        pb.Check("roles", "postgres", "SELECT 1", 1),
    )


def test_a_missing_setting_is_named():
    text = render().replace('stanza = "preau"\n', "")
    assert settings_error(text) == "stanza: missing"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("port = 54329", 'port = "54329"', "drill.port: expected an integer, got a string"),
        ("timeout = 3600", "timeout = true", "drill.timeout: expected an integer, got a boolean"),
        ("repo = true", 'repo = "yes"', "roles.repo: expected a boolean, got a string"),
        ('borg_sources = ["/etc"', "borg_sources = [1", "borg_sources: expected a list of strings"),
        ('stanza = "preau"', 'stanza = ""', "stanza: must not be empty"),
    ],
)
def test_a_mistyped_setting_is_named(old, new, message):
    text = render()
    assert old in text
    assert settings_error(text.replace(old, new)) == message


def test_an_unknown_setting_is_refused():
    text = render().replace("[drill]\n", "[drill]\nprot = 5432\n")
    assert settings_error(text) == "drill.prot: unknown setting"


def test_a_recovery_type_outside_the_choices_is_refused():
    message = settings_error(render(backup_drill_recovery_type="latest"))
    assert message == "drill.recovery_type: 'latest' is not one of default, immediate"


def test_an_extra_check_without_sql_is_refused():
    message = settings_error(render(backup_drill_extra_checks=[{"name": "x"}]))
    assert message == "drill.extra_checks[0].sql: missing"


def test_text_that_is_not_toml_is_refused():
    assert settings_error("stanza = ").startswith("not valid TOML")


def test_load_settings_names_the_file(tmp_path):
    with pytest.raises(pb.SettingsError, match=r"cannot read .*absent\.toml"):
        pb.load_settings(str(tmp_path / "absent.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text(render().replace("port = 54329", "port = 'x'"))
    with pytest.raises(pb.SettingsError, match=r"broken\.toml: drill\.port: expected an integer"):
        pb.load_settings(str(broken))


# --- command line ----------------------------------------------------------------------------


def test_arguments_command_and_settings_file():
    args = pb.parse_args(["diff"], "/usr/local/sbin/preau-backup")
    assert (args.command, args.config) == ("diff", "/etc/preau-backup.toml")
    args = pb.parse_args(["--config", "/tmp/x.toml", "verify"], "preau-backup")
    assert (args.command, args.config) == ("verify", "/tmp/x.toml")


def test_preau_restore_drill_is_the_drill_command():
    args = pb.parse_args(["--config", "/tmp/x.toml"], "/usr/local/sbin/preau-restore-drill")
    assert (args.command, args.config) == ("drill", "/tmp/x.toml")


def test_unknown_command_is_a_usage_error(capsys):
    assert pb.main(["nonsense"], "preau-backup") == pb.EXIT_USAGE
    assert pb.main([], "preau-backup") == pb.EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


def last_summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_only_root_runs_it(capsys, monkeypatch):
    monkeypatch.setattr(pb.os, "geteuid", lambda: 1000)
    assert pb.main(["list"], "preau-backup") == pb.EXIT_USAGE
    assert last_summary(capsys) == {"command": "list", "ok": False, "error": "run as root"}


def test_settings_command_checks_the_file(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(render())
    bad.write_text(render().replace("[roles]\n", "[roles]\nrepos = true\n"))
    assert pb.main(["settings", "--config", str(good)], "preau-backup") == pb.EXIT_OK
    assert last_summary(capsys) == {"command": "settings", "ok": True}
    assert pb.main(["settings", "--config", str(bad)], "preau-backup") == pb.EXIT_USAGE
    summary = last_summary(capsys)
    assert summary["ok"] is False and summary["error"].endswith("roles.repos: unknown setting")


def test_a_host_without_the_role_is_refused_before_anything_runs(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    config = tmp_path / "client.toml"
    config.write_text(render(backup__is_repo="False"))
    assert pb.main(["full", "--config", str(config)], "preau-backup") == pb.EXIT_USAGE
    assert last_summary(capsys) == {"ok": False, "error": "this host is not a repo host"}


def test_files_backup_without_any_source_fails(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    config = tmp_path / "client.toml"
    absent = [str(tmp_path / "none")]
    config.write_text(
        render(backup__is_borg_client="True", backup_borgmatic_source_directories=absent)
    )
    assert pb.main(["files", "--config", str(config)], "preau-backup") == pb.EXIT_FAILED
    assert last_summary(capsys) == {
        "command": "files",
        "ok": False,
        "error": f"none of {absent[0]} exists",
    }


def test_a_second_run_while_the_lock_is_held_exits_75(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(pb, "LOCK_DIR", str(tmp_path))
    with open(tmp_path / "drill.lock", "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(pb.Stop) as caught, pb.lock("drill"):
            pass
    assert caught.value.code == pb.EXIT_LOCKED == 75
    assert caught.value.data == {
        "command": "drill",
        "ok": False,
        "error": "another run holds the lock",
    }
    with pb.lock("drill"):  # free again
        pass


# --- summaries and metrics -------------------------------------------------------------------

INFO = {
    "backup": [
        {
            "label": "20261204-013000F",
            "type": "full",
            "timestamp": {"start": 1, "stop": 2},
            "info": {"size": 5000, "repository": {"delta": 700}},
        },
        {
            "label": "20261204-013000F_20261205-013000D",
            "type": "diff",
            "timestamp": {"start": 3, "stop": 4},
            "info": {"size": 5100, "repository": {"delta": 90}},
        },
    ],
    "archive": [{"min": "000000010000000000000001", "max": "000000010000000000000009"}],
    "status": {"code": 0, "message": "ok"},
}


def test_the_last_database_backup_and_the_listing_come_from_pgbackrest_info():
    assert pb.last_database_backup(INFO) == {
        "label": "20261204-013000F_20261205-013000D",
        "size_bytes": 90,
        "database_bytes": 5100,
    }
    listing = pb.database_listing(INFO)
    assert [b["label"] for b in listing["database"]] == [
        "20261204-013000F",
        "20261204-013000F_20261205-013000D",
    ]
    assert listing["database"][0] == {
        "label": "20261204-013000F",
        "type": "full",
        "start": 1,
        "stop": 2,
        "size_bytes": 5000,
        "repository_bytes": 700,
    }
    assert listing["wal"] == {"min": "000000010000000000000001", "max": "000000010000000000000009"}
    assert listing["status"] == "ok"
    empty = pb.database_listing({})
    assert empty == {"database": [], "wal": {"min": None, "max": None}, "status": None}


def test_the_files_archive_comes_from_borgmatic_json_or_none():
    stdout = json.dumps(
        [
            {
                "archive": {
                    "name": "app1-2026",
                    "stats": {"deduplicated_size": 12, "original_size": 99},
                }
            }
        ]
    )
    assert pb.files_archive(stdout) == {
        "archive": "app1-2026",
        "size_bytes": 12,
        "original_bytes": 99,
    }
    assert pb.files_archive("not json") is None
    assert pb.files_archive("[]") is None


def test_last_error_is_the_cause_in_the_summary():
    out = "P00 INFO: start\nP00 ERROR: [047]: unable to create path"
    err = "WARN: something\nP00 ERROR: [039]: No space left on device"
    assert pb.last_error(out, err) == ": P00 ERROR: [039]: No space left on device"
    assert pb.last_error("all fine", None) == ""


def test_metrics_text_is_prometheus_gauges_without_the_unknown_ones():
    text = pb.metrics_text(
        {"a_seconds": (1.5, "A."), "b_bytes": (None, "B."), "c": (0, "C.")},
        {"type": "database", "kind": "full"},
    )
    assert text == (
        "# HELP a_seconds A.\n# TYPE a_seconds gauge\n"
        'a_seconds{kind="full",type="database"} 1.500\n'
        "# HELP c C.\n# TYPE c gauge\n"
        'c{kind="full",type="database"} 0.000\n'
    )


def test_a_failed_backup_keeps_the_last_success_of_the_textfile(tmp_path):
    labels = {"type": "database", "kind": "diff"}
    prom = pb.backup_prom_file(labels)
    assert prom == "preau_backup_database_diff.prom"
    assert pb.backup_prom_file({"type": "files", "kind": "files"}) == "preau_backup_files.prom"
    ok = pb.backup_metrics(finished=200.0, started=100.0, status=0, size=90, previous_success=None)
    pb.write_metrics(str(tmp_path), prom, ok, labels)
    success = "preau_backup_last_success_timestamp_seconds"
    previous = pb.read_metric(str(tmp_path / prom), success)
    assert previous == 200.0
    failed = pb.backup_metrics(300.0, 250.0, 1, None, previous)
    assert failed[success][0] == 200.0
    assert failed["preau_backup_last_exit_status"][0] == 1
    assert failed["preau_backup_last_duration_seconds"][0] == 50.0
    pb.write_metrics(str(tmp_path), prom, failed, labels)
    assert pb.read_metric(str(tmp_path / prom), success) == 200.0
    assert pb.read_metric(str(tmp_path / prom), "preau_backup_last_size_bytes") is None
    assert pb.read_metric(str(tmp_path / "absent.prom"), success) is None
    assert oct((tmp_path / prom).stat().st_mode & 0o777) == "0o644"


def test_drill_metrics_count_failed_checks_and_keep_the_last_success():
    result = {"ok": False, "checks": [{"ok": True}, {"ok": False}, {"ok": False}]}
    metrics = pb.drill_metrics(result, finished=500.0, rto=None, previous_success=400.0)
    assert metrics["preau_restore_drill_success"][0] == 0
    assert metrics["preau_restore_drill_checks_failed"][0] == 2
    assert metrics["preau_restore_drill_last_success_timestamp_seconds"][0] == 400.0
    assert metrics["preau_restore_drill_duration_seconds"][0] is None
    passed = pb.drill_metrics({"ok": True, "checks": [{"ok": True}]}, 500.0, 12.5, 400.0)
    assert passed["preau_restore_drill_success"][0] == 1
    assert passed["preau_restore_drill_last_success_timestamp_seconds"][0] == 500.0


# --- the drill's decisions -------------------------------------------------------------------


def test_drill_checks_are_the_invariants_then_the_site_ones():
    extra = pb.Check("rows", "preau", "SELECT count(*) FROM x", 5)
    drill = pb.parse_settings(render(backup_drill_nonempty_tables=["a", "public.b"])).drill
    drill = pb.Drill(**{**drill.__dict__, "extra_checks": (extra,)})
    checks = pb.drill_checks(drill)
    assert [c.name for c in checks] == [
        "server answers",
        "database preau present",
        "tables present",
        "rows in a",
        "rows in public.b",
        "rows",
    ]
    assert checks[1].database == "postgres" and "datname = 'preau'" in checks[1].sql
    assert checks[4].sql == "SELECT count(*) FROM (SELECT 1 FROM public.b LIMIT 1) AS t"
    assert checks[-1].min == 5


@pytest.mark.parametrize(
    ("returncode", "stdout", "value"),
    [(0, "3\n", 3.0), (0, "notice\n1\n", 1.0), (1, "3\n", None), (0, "", None), (0, "x", None)],
)
def test_check_value_is_the_last_number_printed(returncode, stdout, value):
    assert pb.check_value(returncode, stdout) == value


def test_restore_arguments_promote_only_when_stopping_early():
    drill = pb.parse_settings(render()).drill
    assert pb.restore_arguments(drill, "/d/data") == [
        "restore",
        "--pg1-path=/d/data",
        "--type=default",
        "--archive-mode=off",
    ]
    immediate = pb.parse_settings(render(backup_drill_recovery_type="immediate")).drill
    assert pb.restore_arguments(immediate, "/d/data")[-2:] == [
        "--archive-mode=off",
        "--target-action=promote",
    ]


def test_a_copy_restores_the_backup_it_names_to_its_end_whatever_the_drill_does():
    drill = pb.parse_settings(render()).drill  # the drill replays all the WAL (default)
    assert pb.restore_arguments(drill, "/d/data", "20261206-101500F") == [
        "restore",
        "--pg1-path=/d/data",
        "--type=immediate",
        "--archive-mode=off",
        "--set=20261206-101500F",
        "--target-action=promote",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["copy"],  # which backup?
        ["drill", "--label", "20261206-101500F"],  # only copy takes one
        ["copy", "--label", "latest; rm -rf /"],  # not a label
        ["copy", "--label", "20261206-101500"],  # no type letter
    ],
)
def test_copy_takes_exactly_one_real_label(argv):
    with pytest.raises(SystemExit):
        pb.parse_args(argv, "preau-backup")


def test_copy_accepts_full_and_differential_labels():
    for label in ("20261206-101500F", "20261206-101500F_20261207-020000D"):
        assert pb.parse_args(["copy", "--label", label], "preau-backup").label == label


# --- the expiry of the borg repositories -----------------------------------------------------


def test_the_rendered_template_gives_the_borg_repositories():
    settings = pb.parse_settings(render())
    assert settings.borg_repos is True
    repos = settings.repos
    assert repos.clients == ("app1", "app2") and repos.repository("app1") == "/var/lib/borg/app1"
    assert repos.passphrase_file == "/etc/preau-backup.borg-passphrase"
    assert repos.keep_arguments() == ["--keep-daily=7", "--keep-weekly=4", "--keep-monthly=6"]
    assert "passphrase =" not in render()  # the file's path only, never the secret


def test_accept_vanished_goes_with_expire_only():
    args = pb.parse_args(["expire", "--accept-vanished", "app1"], "preau-backup")
    assert (args.command, args.accept_vanished) == ("expire", "app1")
    assert pb.parse_args(["expire"], "preau-backup").accept_vanished is None
    with pytest.raises(SystemExit):
        pb.parse_args(["files", "--accept-vanished", "app1"], "preau-backup")


@pytest.mark.parametrize(
    ("saved", "current", "vanished"),
    [
        (None, ["a"], []),  # first run: nothing to compare
        (["a", "b"], ["a", "b", "c"], []),  # new archives only
        (["a", "b", "c"], ["c", "a"], ["b"]),  # one deleted by the client
        (["b", "a"], [], ["a", "b"]),  # all of them
        ([], ["a"], []),
    ],
)
def test_vanished_archives_are_those_the_last_expiry_left_and_are_gone(saved, current, vanished):
    assert pb.vanished_archives(saved, current) == vanished


def test_the_expire_summary_names_the_tampered_and_failed_clients():
    results = {
        "app1": {"ok": True, "archives": 3, "pruned": ["app1-1"]},
        "app2": {"ok": False, "vanished": ["app2-1"], "error": "archives vanished: not expired"},
        "db1": {"ok": False, "error": "borg list exited with 2"},
    }
    data = pb.expire_summary(results)
    assert data["ok"] is False and data["command"] == "expire"
    assert (data["tampered"], data["failed"]) == (["app2"], ["app2", "db1"])
    assert pb.expire_summary({"app1": results["app1"]})["ok"] is True
    vanished = pb.expire_metrics(2, 500.0, False, 400.0)
    assert vanished["preau_borg_archives_vanished"][0] == 2
    assert vanished["preau_borg_expire_last_success_timestamp_seconds"][0] == 400.0
    assert (
        pb.expire_metrics(0, 500.0, True, 400.0)[
            "preau_borg_expire_last_success_timestamp_seconds"
        ][0]
        == 500.0
    )


# A borg on PATH that keeps a repository's archives in a JSON file: `list --short`, `prune`
# (keeps the newest), `compact` (counted); it refuses a passphrase on its command line.
FAKE_BORG = """#!/usr/bin/python3
import json, os, sys
args, repo = sys.argv[1:-1], sys.argv[-1]
assert os.environ["BORG_PASSPHRASE"] == "pass-phrase", "no passphrase"
assert not any("pass-phrase" in a for a in sys.argv)
assert os.environ["BORG_RELOCATED_REPO_ACCESS_IS_OK"] == "no"
path = os.path.join(repo, "archives.json")
archives = json.load(open(path))
with open(os.path.join(repo, "calls"), "a") as calls:
    calls.write(args[0] + "\\n")
if args[0] == "list":
    print("\\n".join(archives))
elif args[0] == "prune":
    json.dump(archives[-1:], open(path, "w"))
"""


@pytest.fixture
def repos_host(tmp_path, monkeypatch):
    """A borg repositories host in tmp_path: settings, passphrase, repositories app1 and app2."""
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pb, "LOCK_DIR", str(tmp_path / "lock"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "borg").write_text(FAKE_BORG)
    (tmp_path / "bin" / "borg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{pb.os.environ['PATH']}")
    (tmp_path / "passphrase").write_text("pass-phrase\n")
    for client in ("app1", "app2"):
        (tmp_path / "borg" / client).mkdir(parents=True)
        (tmp_path / "borg" / client / "config").write_text("[repository]\n")
        write_archives(tmp_path, client, [f"{client}-1", f"{client}-2"])
    config = tmp_path / "settings.toml"
    config.write_text(
        render(
            backup_borg_repo_root=str(tmp_path / "borg"),
            backup__borg_state_dir=str(tmp_path / "state"),
            backup__borg_passphrase_file=str(tmp_path / "passphrase"),
            backup_textfile_dir=str(tmp_path / "textfile"),
        )
    )
    return tmp_path, ["expire", "--config", str(config)]


def write_archives(root, client, archives):
    (root / "borg" / client / "archives.json").write_text(json.dumps(archives))


def test_expire_prunes_and_compacts_then_refuses_a_repository_whose_archives_vanished(
    repos_host, capsys
):
    root, args = repos_host
    assert pb.main(args, "preau-backup") == pb.EXIT_OK
    first = last_summary(capsys)
    assert first["clients"]["app1"] == {"ok": True, "archives": 1, "pruned": ["app1-1"]}
    state = json.loads((root / "state" / "app1.json").read_text())
    assert state["archives"] == ["app1-2"]
    assert oct((root / "state" / "app1.json").stat().st_mode & 0o777) == "0o600"
    # app1 appends one archive and deletes the one the expiry left: app1 is not expired
    write_archives(root, "app1", ["app1-3"])
    write_archives(root, "app2", ["app2-2", "app2-3"])
    (root / "borg" / "app1" / "calls").unlink()
    assert pb.main(args, "preau-backup") == pb.EXIT_FAILED
    data = last_summary(capsys)
    assert (data["ok"], data["tampered"], data["failed"]) == (False, ["app1"], ["app1"])
    assert data["clients"]["app1"]["vanished"] == ["app1-2"]
    assert data["clients"]["app2"]["ok"] is True  # the others are expired all the same
    assert (root / "borg" / "app1" / "calls").read_text() == "list\n"  # no prune, no compact
    prom = str(root / "textfile" / "preau_borg_expire_app1.prom")
    assert pb.read_metric(prom, "preau_borg_archives_vanished") == 1
    assert pb.read_metric(prom, "preau_borg_expire_last_success_timestamp_seconds") > 0
    # the operator accepts the deletion: app1 is expired again
    assert pb.main([*args, "--accept-vanished", "app1"], "preau-backup") == pb.EXIT_OK
    assert last_summary(capsys)["clients"]["app1"]["ok"] is True
    assert pb.read_metric(prom, "preau_borg_archives_vanished") == 0
    assert pb.main([*args, "--accept-vanished", "app9"], "preau-backup") == pb.EXIT_USAGE


def test_expire_on_a_host_without_borg_repositories_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    config = tmp_path / "client.toml"
    config.write_text(render(backup__is_borg_repos="False"))
    assert pb.main(["expire", "--config", str(config)], "preau-backup") == pb.EXIT_USAGE
    assert last_summary(capsys) == {"ok": False, "error": "this host is not a borg repos host"}


def test_the_last_transaction_is_the_number_of_the_index_file():
    files = ["README", "config", "data", "hints.13", "index.13", "integrity.13", "index.tmp"]
    assert pb.last_transaction(files) == 13
    assert pb.last_transaction(["config", "data"]) is None


# --- archive-check: the repository's side of WAL archiving ------------------------------------


def test_archive_check_metrics_keep_the_last_success_when_the_check_fails():
    ok = pb.archive_check_metrics(500.0, True, 400.0)
    assert ok["preau_wal_archive_check_success"][0] == 1
    assert ok["preau_wal_archive_check_last_success_timestamp_seconds"][0] == 500.0
    failed = pb.archive_check_metrics(900.0, False, 500.0)
    assert failed["preau_wal_archive_check_success"][0] == 0
    assert failed["preau_wal_archive_check_last_success_timestamp_seconds"][0] == 500.0


def test_archive_check_runs_pgbackrest_check_as_the_repository_owner_and_writes_metrics(
    tmp_path, capsys, monkeypatch
):
    """pgBackRest itself is the boundary faked here (the lab runs the real one:
    tests/lab/test_40_backups.py); what it answered decides the summary and the metrics."""
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pb, "LOCK_DIR", str(tmp_path / "lock"))
    answers = [
        pb.subprocess.CompletedProcess([], 0, "", ""),
        pb.subprocess.CompletedProcess(
            [], 82, "", "ERROR: [082]: WAL segment 000000010000000000000042 was not archived"
        ),
    ]
    calls = []

    def fake_run(cmd, user=None, check=True, **kwargs):
        calls.append((cmd, user))
        return answers.pop(0)

    monkeypatch.setattr(pb, "run", fake_run)
    config = tmp_path / "repo.toml"
    config.write_text(render(backup_textfile_dir=str(tmp_path / "textfile")))
    args = ["archive-check", "--config", str(config)]
    prom = str(tmp_path / "textfile" / "preau_wal_archive.prom")

    assert pb.main(args, "preau-backup") == pb.EXIT_OK
    assert calls == [(["pgbackrest", "--stanza=preau", "check"], "pgbackrest")]
    assert last_summary(capsys)["ok"] is True
    success = pb.read_metric(prom, "preau_wal_archive_check_last_success_timestamp_seconds")
    assert pb.read_metric(prom, "preau_wal_archive_check_success") == 1 and success > 0

    assert pb.main(args, "preau-backup") == pb.EXIT_FAILED
    data = last_summary(capsys)
    assert data["ok"] is False
    assert data["error"] == (
        "pgbackrest check exited with 82: "
        "ERROR: [082]: WAL segment 000000010000000000000042 was not archived"
    )
    assert pb.read_metric(prom, "preau_wal_archive_check_success") == 0
    assert pb.read_metric(prom, "preau_wal_archive_check_last_success_timestamp_seconds") == success


def test_archive_check_only_on_the_repository_host(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pb.os, "geteuid", lambda: 0)
    config = tmp_path / "client.toml"
    config.write_text(render(backup__is_repo="False"))
    assert pb.main(["archive-check", "--config", str(config)], "preau-backup") == pb.EXIT_USAGE
    assert last_summary(capsys) == {"ok": False, "error": "this host is not a repo host"}
