"""Operational management commands and configuration."""

import datetime as dt
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from preau import config
from preau.core.models import ClassGroup, Establishment, Membership, ParentLink, Platform, User
from preau.core.uai import check_letter, is_valid_uai
from tests.helpers import enrol_through_pages, make_establishment, snapshot


def test_uai_check_letter():
    assert check_letter("0820021") == "C"
    assert is_valid_uai("0820021C") and not is_valid_uai("0820021D")
    assert not is_valid_uai("082002C") and not is_valid_uai("0820021I")


def test_config_file_and_env(tmp_path):
    path = tmp_path / "preau.toml"
    path.write_text(
        '[django]\nsecret_key = "s"\nallowed_hosts = ["ent.example.fr"]\n'
        '[database]\nhost = "db"\nport = 5433\n[retention]\ndisable_after_days = 20\n'
    )
    conf = config.load(
        str(path),
        environ={
            "PREAU_DATABASE_HOST": "db2",
            "PREAU_DJANGO_DEBUG": "true",
            "PREAU_DJANGO_ALLOWED_HOSTS": "a.fr,b.fr",
        },
    )
    assert conf["database"] == {**config.DEFAULTS["database"], "host": "db2", "port": 5433}
    assert conf["django"]["debug"] is True and conf["django"]["allowed_hosts"] == ["a.fr", "b.fr"]
    assert conf["retention"] == {
        "disable_after_days": 20,
        "delete_after_days": 60,
        "messages_days": 365,
        "closed_purge_after_days": 30,
        "usage_raw_days": 7,
        "usage_stats_months": 13,
        "timetable_imports_days": 30,
    }


@pytest.mark.parametrize(
    "text, env, message",
    [
        ("[retention]\ndisable_after_days = 40\ndelete_after_days = 60\n", {}, "legal limit"),
        (
            '[django]\nsecret_key = "s"\n',
            {"PREAU_RETENTION_DELETE_AFTER_DAYS": "100"},
            "legal limit",
        ),
        (
            '[django]\nsecret_key = "s"\n[retention]\nmessages_days = 0\n',
            {},
            "messages_days must be at least 1",
        ),
        (
            '[django]\nsecret_key = "s"\n[aaf]\nmax_removal_percent = 120\n',
            {},
            "max_removal_percent must be between 0 and 100",
        ),
        (
            '[django]\nsecret_key = "s"\n[retention]\nclosed_purge_after_days = 91\n',
            {},
            "closed_purge_after_days must be between 0 and 90",
        ),
        (
            '[django]\nsecret_key = "s"\n[retention]\nusage_raw_days = 0\n',
            {},
            "usage_raw_days must be between 1 and 31",
        ),
        (
            '[django]\nsecret_key = "s"\n[retention]\ntimetable_imports_days = 0\n',
            {},
            "timetable_imports_days must be between 1 and 365",
        ),
        (
            '[django]\nsecret_key = "s"\n[retention]\nusage_stats_months = 26\n',
            {},
            "usage_stats_months must be between 1 and 25",
        ),
        (
            '[django]\nsecret_key = "s"\n[jobs]\nstalled_after_seconds = 10\n',
            {},
            "stalled_after_seconds must be between 20 and 3600",
        ),
        (
            '[django]\nsecret_key = "s"\n[jobs]\nheavy_memory_mb = 16\n',
            {},
            "heavy_memory_mb must be between 64 and 65536",
        ),
        (
            '[django]\nsecret_key = "s"\n[jobs]\nheavy_timeout_seconds = 0\n',
            {},
            "heavy_timeout_seconds must be between 60 and 86400",
        ),
        (
            '[django]\nsecret_key = "s"\n[jobs]\nheavy_timeout_seconds = -30\n',
            {},
            "heavy_timeout_seconds must be between 60 and 86400",
        ),
        (
            '[django]\nsecret_key = "s"\n[jobs]\nheavy_timeout_seconds = "900"\n',
            {},
            r"\[jobs\] heavy_timeout_seconds must be int, got str",
        ),
        (
            '[django]\nsecret_key = "s"\n',
            {"PREAU_JOBS_HEAVY_TIMEOUT_SECONDS": "quinze minutes"},
            "PREAU_JOBS_HEAVY_TIMEOUT_SECONDS: expected an integer",
        ),
        ('[databse]\nhost = "x"\n', {}, "unknown section"),
        ('[database]\nhots = "x"\n', {}, "unknown key"),
        ('[database]\nport = "5432"\n', {}, "must be int"),
        ('[django]\nsecret_key = ""\n', {}, "secret_key is required"),
        ("not toml [", {}, "invalid TOML"),
        ('[django]\nsecret_key = "s"\n', {"PREAU_DATABASE_PORT": "abc"}, "expected an integer"),
    ],
)
def test_config_errors(tmp_path, text, env, message):
    path = tmp_path / "preau.toml"
    path.write_text(text)
    if "secret_key" not in text:
        env = {**env, "PREAU_DJANGO_SECRET_KEY": "s"}
    with pytest.raises(config.ConfigError, match=message):
        config.load(str(path), environ=env)


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(environ={"PREAU_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.django_db
def test_establishment_create_list_archive(call_json):
    created = call_json(
        "establishment",
        "create",
        "0820021c",
        "--name",
        "Collège Jean Moulin",
        "--town",
        "Montauban",
    )
    assert created["establishment"]["uai"] == "0820021C"
    with pytest.raises(CommandError, match="lettre de contrôle"):
        call_command("establishment", "create", "0820021D", "--name", "X")
    with pytest.raises(CommandError, match="déjà existant"):
        call_command("establishment", "create", "0820021C", "--name", "X")
    dry = call_json("establishment", "create", "0820010R", "--name", "Y", "--dry-run")
    assert dry["dry_run"] and not Establishment.objects.filter(uai="0820010R").exists()
    user = User.objects.create_user("u1")
    est = Establishment.objects.get(uai="0820021C")
    Membership.objects.create(user=user, establishment=est, profile="ENS")
    ClassGroup.objects.create(
        establishment=est, name="6A", school_year=Platform.current_school_year()
    )
    listing = call_json("establishment", "list")
    row = listing["establishments"][0]
    assert (
        row["users_by_profile"]["ENS"] == 1 and row["classes"] == 1 and row["last_import"] is None
    )
    assert (
        call_json("establishment", "archive", "0820021C")["establishment"]["status"] == "archived"
    )
    with pytest.raises(CommandError, match="archived"):
        call_command("establishment", "archive", "0820021C")


@pytest.mark.django_db
def test_establishment_list_human_output():
    make_establishment()
    out = __import__("io").StringIO()
    call_command("establishment", "list", stdout=out)
    assert "0820021C" in out.getvalue() and "ELV=0" in out.getvalue()


@pytest.mark.django_db
def test_purge_gone_retention(call_json):
    est = make_establishment()
    today = timezone.localdate()
    old = User.objects.create_user("old")
    Membership.objects.create(
        user=old,
        establishment=est,
        profile="ELV",
        source="aaf",
        gone_since=today - dt.timedelta(days=31),
    )
    recent = User.objects.create_user("recent")
    Membership.objects.create(
        user=recent,
        establishment=est,
        profile="ELV",
        source="aaf",
        gone_since=today - dt.timedelta(days=3),
    )
    elsewhere = User.objects.create_user("elsewhere")  # gone here, still present in another collège
    other = make_establishment("0820010R")
    Membership.objects.create(
        user=elsewhere,
        establishment=est,
        profile="ENS",
        source="aaf",
        gone_since=today - dt.timedelta(days=50),
    )
    Membership.objects.create(user=elsewhere, establishment=other, profile="ENS")
    expired = User.objects.create_user("expired", is_active=False)
    User.objects.filter(pk=expired.pk).update(disabled_at=timezone.now() - dt.timedelta(days=61))
    before = snapshot()
    dry = call_json("purge_gone", "--dry-run")
    assert dry["disabled"] == ["old"] and dry["deleted"] == ["expired"]
    assert snapshot() == before
    report = call_json("purge_gone")
    assert report["disabled"] == ["old"] and report["deleted"] == ["expired"]
    assert not User.objects.get(username="old").is_active
    assert (
        User.objects.get(username="recent").is_active
        and User.objects.get(username="elsewhere").is_active
    )
    assert not User.objects.filter(username="expired").exists()


@pytest.mark.django_db
def test_purge_gone_deletes_the_messages_older_than_the_limit(call_json, settings):
    """[retention] messages_days (365 by default): older messages go, and a conversation left
    with none; a conversation with a recent message keeps it. Before, messages were kept
    forever (issue #25 item 5)."""
    from preau.messaging.models import Broadcast, Conversation, Message, Participant

    settings.RETENTION = {**settings.RETENTION, "messages_days": 365}
    est = make_establishment()
    author = User.objects.create_user("author")
    now = timezone.now()
    old_only = Conversation.objects.create(
        establishment=est, subject="Ancienne", created_at=now - dt.timedelta(days=400)
    )
    Participant.objects.create(conversation=old_only, user=author)
    mixed = Conversation.objects.create(
        establishment=est, subject="Suivie", created_at=now - dt.timedelta(days=400)
    )
    for conversation, days in ((old_only, 400), (old_only, 366), (mixed, 380), (mixed, 10)):
        Message.objects.create(
            conversation=conversation,
            author=author,
            body=f"il y a {days} jours",
            sent_at=now - dt.timedelta(days=days),
        )
    # A group message's text (messaging.groups) goes with its copies.
    for days in (400, 10):
        Broadcast.objects.create(
            establishment=est,
            subject=f"Groupe {days}",
            body="…",
            label="Les enseignants",
            sent_at=now - dt.timedelta(days=days),
        )
    messages = Message._base_manager
    before = snapshot()
    assert call_json("purge_gone", "--dry-run")["messages_deleted"] == 3
    assert snapshot() == before and messages.count() == 4
    report = call_json("purge_gone")
    assert report["messages_deleted"] == 3 and report["messages_days"] == 365
    assert list(messages.values_list("body", flat=True)) == ["il y a 10 jours"]
    assert list(Conversation._base_manager.values_list("subject", flat=True)) == ["Suivie"]
    assert not Participant._base_manager.filter(user=author).exists()  # with its conversation
    assert list(Broadcast._base_manager.values_list("subject", flat=True)) == ["Groupe 10"]


@pytest.mark.django_db
def test_year_change(call_json):
    est = make_establishment()
    year = Platform.current_school_year()
    ClassGroup.objects.create(establishment=est, name="6A", school_year=year)
    assert call_json("year_change", "--dry-run")["classes_made_read_only"] == 1
    assert Platform.current_school_year() == year
    report = call_json("year_change")
    assert report["school_year"] == year + 1 and report["classes_made_read_only"] == 1
    assert ClassGroup.objects.get(name="6A").read_only
    assert Platform.current_school_year() == year + 1
    with pytest.raises(CommandError, match="pas postérieure"):
        call_command("year_change", "--year", str(year))


@pytest.mark.django_db
def test_seed_demo_and_login(call_json, client):
    report = call_json("seed_demo", "--students", "20")  # 15 hold no pair of siblings
    assert {e["uai"] for e in report["establishments"]} == {"0820021C", "0820010R"}
    profiles = {login["profile"] for login in report["logins"]}
    assert profiles == {"ELV", "TUT", "ENS", "DIR", "EVS", "ETA", "ADMC"}
    assert all(
        is_valid_uai(e["uai"]) and e["uai"].startswith("082") for e in report["establishments"]
    )
    assert report["content"]["created"]
    # Generated accounts the lab's IdPs log in, by the feed's identifiers: the parent is the
    # legal guardian of both children, the pupil one of them, the teacher teaches there.
    federation = report["federation"]
    parent = User.objects.get(username=federation["parent"]["username"])
    assert parent.join_key == federation["parent"]["join_key"]
    children = federation["parent"]["children"]
    assert len(children) == 2 and federation["pupil"] == children[0]
    for child in children:
        assert User.objects.get(username=child["username"]).ine == child["ine"]
        assert ParentLink.objects.filter(
            parent=parent, child__username=child["username"], legal_guardian=True
        ).exists()
    teacher = User.objects.get(username=federation["teacher"]["username"])
    assert teacher.join_key == federation["teacher"]["join_key"]
    assert teacher.memberships.filter(establishment__uai="0820021C", profile="ENS").exists()
    again = call_json("seed_demo", "--students", "20")  # idempotent
    assert not again["content"]["created"]
    assert User.objects.filter(username__startswith="demo.").count() == 8
    response = client.post("/connexion/", {"username": "demo.adml", "password": report["password"]})
    assert response.status_code == 302
    assert client.get("/e/0820010R/annuaire/").status_code == 302  # the second factor first
    assert enrol_through_pages(client)[0].status_code == 200
    assert client.get("/e/0820010R/annuaire/").status_code == 200
    # The demo logins see realistic content on their dashboards and pages.
    for username, path, expected in [
        ("demo.eleve", "/e/0820021C/", "Exercices 12 à 15"),
        ("demo.eleve", "/e/0820021C/notes/", "Fractions"),
        ("demo.parent", "/e/0820021C/", "Justifier"),
        ("demo.parent", "/e/0820021C/messagerie/", "Sortie au musée"),
        ("demo.prof", "/e/0820021C/emploi-du-temps/", "B12"),
        ("demo.prof", "/e/0820021C/documents/", "proportionnalité"),
        ("demo.viescolaire", "/e/0820021C/messagerie/", "Certificat médical"),
        ("demo.direction", "/e/0820021C/actualites/", "Réunion parents-professeurs"),
    ]:
        client.force_login(User.objects.get(username=username))
        assert expected in client.get(path).content.decode(), (username, path)


def test_generate_aaf(tmp_path, call_json):
    report = call_json(
        "generate_aaf", "--students", "50", "--out", str(tmp_path), "--uai", "0820010R"
    )
    assert report["counts"]["students"] == 50 and len(report["files"]) == 4
    text = Path(report["files"][1]).read_text(encoding="utf-8")
    assert text.count("<addRequest>") == 50 and "0820010R" in text
    with pytest.raises(CommandError, match="lettre"):
        call_command("generate_aaf", "--students", "5", "--out", str(tmp_path), "--uai", "0820010A")


def test_json_log_lines(capsys):
    import logging

    from preau.logs import JsonFormatter

    record = logging.makeLogRecord(
        {
            "msg": "import %s",
            "args": ("ok",),
            "name": "preau",
            "levelname": "INFO",
            "uai": "0820021C",
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "import ok" and line["uai"] == "0820021C" and line["level"] == "info"


@pytest.mark.django_db
def test_name_local_admin_and_hand_out_codes(call_json, client):
    est = make_establishment()
    user = User.objects.create_user("anne.delpech", None, last_name="DELPECH")
    assert call_json("establishment", "admin", est.uai, "anne.delpech")["local_admin"] is True
    assert Membership.objects.get(user=user, establishment=est).is_local_admin
    with pytest.raises(CommandError, match="inconnu"):
        call_command("establishment", "admin", est.uai, "nobody")
    for n in range(3):
        u = User.objects.create_user(f"eleve{n}", None, last_name=f"ELEVE{n}")
        Membership.objects.create(user=u, establishment=est, profile="ELV")
    active = User.objects.create_user("active.user", "un-mot-de-passe-solide")
    Membership.objects.create(user=active, establishment=est, profile="ENS")
    assert call_json("activation_codes", est.uai, "--dry-run")["codes"][0]["code"] is None
    report = call_json("activation_codes", est.uai, "--profile", "ELV")
    assert report["count"] == 3 and all(len(r["code"]) == 10 for r in report["codes"])
    # Codes already handed out are kept unless --renew; activated accounts are left alone.
    assert call_json("activation_codes", est.uai)["count"] == 1  # anne.delpech only
    assert call_json("activation_codes", est.uai, "--renew")["count"] == 4
    code = call_json("activation_codes", est.uai, "--user", "eleve0")["codes"][0]["code"]
    response = client.post(
        "/activation/",
        {
            "username": "eleve0",
            "code": code,
            "password1": "Un-nouveau-mot-de-passe-7",
            "password2": "Un-nouveau-mot-de-passe-7",
        },
    )
    assert response.status_code == 302
    with pytest.raises(CommandError, match="absent"):
        call_command("activation_codes", est.uai, "--user", "ghost")
    assert (
        call_json("establishment", "admin", est.uai, "anne.delpech", "--remove")["local_admin"]
        is False
    )


@pytest.mark.django_db
def test_database_error_is_a_clear_command_error(monkeypatch):
    from django.db import OperationalError

    from preau.core.management.commands import maintenance

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(maintenance.Platform, "get", down)
    with pytest.raises(CommandError, match="erreur de base de données.*connection refused"):
        call_command("maintenance", "on")


@pytest.mark.django_db
def test_bench_data_set_follows_the_password_hasher():
    """seed_bench's shared password hash is made again when the hashing parameters change (the
    benchmark's logins must not re-hash it), and left alone otherwise."""
    from django.contrib.auth.hashers import Argon2PasswordHasher, make_password

    from preau.ent.management.commands.seed_bench import bench_uai, refresh_bench_password

    est = make_establishment(uai=bench_uai(0), name="Collège Bench 1")
    old = Argon2PasswordHasher().encode("bench-preau-2026", Argon2PasswordHasher().salt())
    for name in ("a.bench", "b.bench"):
        user = User.objects.create(username=name, password=old)
        Membership.objects.create(user=user, establishment=est, profile="ELV")
    bench = User.objects.filter(memberships__establishment=est)
    current = make_password("bench-preau-2026")
    assert refresh_bench_password(bench, current) == 2
    assert set(bench.values_list("password", flat=True)) == {current}
    assert refresh_bench_password(bench, make_password("bench-preau-2026")) == 0
    assert set(bench.values_list("password", flat=True)) == {current}


@pytest.mark.django_db
def test_purge_gone_removes_old_timetable_import_files(call_json, settings):
    """[retention] timetable_imports_days (30 by default): the file of an import that ran
    longer ago leaves it (its report stays) and is deleted as an orphan; a recent import's and
    one not run yet keep theirs."""
    from preau.ent import files
    from preau.ent.models import StoredFile
    from preau.timetable.models import TimetableImport

    settings.RETENTION = {**settings.RETENTION, "timetable_imports_days": 30}
    est = make_establishment()
    now = timezone.now()
    made = {}
    for name, ran in (("vieux", now - dt.timedelta(days=31)), ("recent", now), ("attente", None)):
        made[name] = TimetableImport.objects.create(
            establishment=est,
            requested_by="admin",
            made_at=ran,
            report={"refused": []},
            source=files.store_generated(est, f"{name}.csv", b"classe;jour\n"),
        )
    StoredFile._base_manager.update(uploaded_at=now - dt.timedelta(days=40))  # past any grace
    assert call_json("purge_gone", "--dry-run")["timetable_files_expired"] == 1
    assert TimetableImport.objects.filter(source__isnull=True).count() == 0
    report = call_json("purge_gone")
    assert report["timetable_files_expired"] == 1 and report["timetable_imports_days"] == 30
    old = TimetableImport.objects.get(pk=made["vieux"].pk)
    assert old.source is None and old.report == {"refused": []}
    assert sorted(StoredFile._base_manager.values_list("name", flat=True)) == [
        "attente.csv",
        "recent.csv",
    ]
