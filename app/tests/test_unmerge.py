"""Undoing one merge alone (core.unmerge, `preau-manage unmerge`): SRC and DST back as the copy
taken before the merge holds them, the other establishments' writes kept; refusals change
nothing.

The copy is what the ops side restores from the backup label taken before the merge: here a
second database made from the test database before the merge (CREATE DATABASE … TEMPLATE,
a file copy: fast), read by the command through --source-dsn. The data must be committed for
that: transactional tests."""

from __future__ import annotations

import io
import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from preau.core.models import (
    Establishment,
    Membership,
    OperationLog,
    User,
)
from preau.news.models import NewsItem
from tests.helpers import make_establishment, snapshot
from tests.school import make_school

pytestmark = pytest.mark.django_db(transaction=True)

DST, SRC, OTHER = "0820021C", "0820010R", "0820022D"


def _server(dbname: str) -> dict:
    s = connection.settings_dict
    return {
        "host": s["HOST"],
        "port": s["PORT"],
        "user": s["USER"],
        "password": s["PASSWORD"],
        "dbname": dbname,
    }


def _dsn(dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(**_server(dbname))


@pytest.fixture
def copy_of_database():
    """copy() makes a database from the test database as it is now (its DSN); dropped after."""
    made = []

    def copy() -> str:
        name = f"copy_{uuid.uuid4().hex[:8]}"
        template = connection.settings_dict["NAME"]
        connection.close()  # CREATE DATABASE … TEMPLATE wants no session on the template
        with psycopg.connect(**_server("postgres"), autocommit=True) as admin:
            # A session an earlier test of this worker left (a thread's) would make it fail.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [template],
            )
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        made.append(name)
        return name

    yield copy
    with psycopg.connect(**_server("postgres"), autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def merged(request, copy_of_database, call_json):
    """DST (A) and SRC (B) with a row of every service model, the same pupil under two
    accounts (folded by the merge); a third collège whose member is also A's parent; the copy
    taken before the merge, then the merge. Parameter True: B's pupil, the account the merge
    folds, is a member of the third collège too."""
    a, b = make_school("A", DST), make_school("B", SRC)
    User.objects.filter(pk__in=[a["student"].pk, b["student"].pk]).update(ine="123456789AB")
    other = make_establishment(OTHER, name="Collège Tiers")
    Membership.objects.create(user=a["parent"], establishment=other, profile="TUT")
    if getattr(request, "param", False):
        Membership.objects.create(user=b["student"], establishment=other, profile="ELV")
    before = snapshot()
    copy = copy_of_database()
    report = call_json("establishment", "merge", SRC, DST)
    assert report["merged_accounts"], "the merge folded no account: the test proves less"
    log = OperationLog.objects.get(kind="merge")
    assert report["operation_log"] == log.pk  # what the ops side passes to unmerge
    return {"a": a, "b": b, "other": other, "before": before, "copy": copy, "log": log}


def _without(rows: list[str], pk: int) -> list[str]:
    return [row for row in rows if not row.startswith(f"({pk}, ")]


def test_a_merge_undone_brings_both_back_and_keeps_the_other_schools_writes(merged, call_json):
    a, log = merged["a"], merged["log"]
    # After the merge, the third collège lives on: a news item, and A's parent (its member
    # too) renamed there.
    news = NewsItem.objects.create(establishment=merged["other"], title="Sortie", body="…")
    User.objects.filter(pk=a["parent"].pk).update(first_name="Renommée")
    # The account the merge folded into its duplicate, deleted since (inactive, of no
    # establishment any more): it comes back with its id.
    absorbed = User.objects.get(merged_into__isnull=False)
    User.objects.filter(pk=absorbed.pk).delete()

    merged_state = snapshot()
    out = io.StringIO()
    # The DSN the ops side gives (`deploy.py establishment unmerge`): the copy's database name
    # alone, the server, role and TLS being the live connection's.
    only_the_name = f"dbname={merged['copy']}"
    # and the merge named as the ops side knows it, by its two UAIs
    call_command(
        "unmerge", "--merge-of", SRC, DST, "--source-dsn", only_the_name, "--dry-run", stdout=out
    )
    assert f"Fusion n° {log.pk} ({SRC} → {DST}) annulée (SIMULATION" in out.getvalue()
    assert "1 recréé(s), 1 gardé(s)" in out.getvalue()
    assert snapshot() == merged_state

    report = call_json("unmerge", str(log.pk), "--source-dsn", _dsn(merged["copy"]))
    assert report["ok"] and report["accounts"]["kept_live"] == 1
    assert report["accounts"]["recreated"] == [absorbed.username]
    before, after = merged["before"], snapshot()
    # Every row of every model as before the merge, but for what happened elsewhere since and
    # the operation logs (the merge's stays in DST, the undo's in both).
    assert NewsItem.objects.filter(pk=news.pk).exists()
    after["NewsItem"] = _without(after["NewsItem"], news.pk)
    assert User.objects.get(pk=a["parent"].pk).first_name == "Renommée"
    assert _without(after["User"], a["parent"].pk) == _without(before["User"], a["parent"].pk)
    kinds = list(OperationLog.objects.order_by("pk").values_list("kind", "establishment__uai"))
    assert kinds[-3:] == [("merge", DST), ("unmerge", SRC), ("unmerge", DST)]
    for name in ("User", "OperationLog"):
        del after[name], before[name]
    assert after == before
    # The absorbed duplicate account is itself again; SRC is active, its alias gone.
    src = Establishment.objects.get(uai=SRC)
    assert src.status == "active" and src.merged_into is None
    assert User.objects.get(pk=absorbed.pk).is_active
    undo = OperationLog.objects.get(kind="unmerge", establishment=src).summary
    assert undo["merge_log"] == log.pk and undo["by"].startswith("operator:")
    # The counts the merge's report gives for before the merge, operation logs aside.
    for side in ("src", "dst"):
        for key in ("memberships", "classes", "class_memberships", "services"):
            assert report["after"][side][key] == log.summary["before"][side][key]
    assert report["files"]["restored"] > 0 and report["files"]["incomplete"] == []
    # Once undone, never twice.
    with pytest.raises(CommandError, match="déjà annulée"):
        call_command("unmerge", str(log.pk), "--source-dsn", _dsn(merged["copy"]))


def _refused(log, dsn, match):
    with pytest.raises(CommandError, match=match):
        call_command("unmerge", str(log.pk), "--source-dsn", dsn)


@pytest.mark.parametrize("merged", [True], indirect=True)
def test_unmerge_refusals_change_nothing(merged):
    a, log, copy = merged["a"], merged["log"], merged["copy"]
    state = snapshot()
    # The account the merge folded was also a member elsewhere: its membership there went to
    # the kept account, which the undo cannot tell apart.
    _refused(log, _dsn(copy), "1 compte.* fusionné.* autre établissement")
    # A copy that is not from before the merge: the live database itself (read only), a copy
    # of another version of Préau, a copy older than the merge's report.
    _refused(log, _dsn(connection.settings_dict["NAME"]), "contient déjà la fusion")
    with psycopg.connect(**_server(copy), autocommit=True) as c:
        c.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('core', 'x', now())")
        _refused(log, _dsn(copy), "schéma différent : 0 migration.* 1 seulement sur la copie")
        c.execute("DELETE FROM django_migrations WHERE name = 'x'")
        c.execute("UPDATE core_classgroup SET kind = 'group' WHERE name = '4B'")
        _refused(
            log, _dsn(copy), "pas l'état d'avant la fusion .*0820010R classes attendu 2, trouvé 1"
        )
        c.execute("UPDATE core_classgroup SET kind = 'class' WHERE name = '4B'")
    _refused(log, "dbname=nowhere host=/nonexistent", "copie injoignable")
    with pytest.raises(CommandError, match="pas une fusion"):
        call_command("unmerge", str(log.pk + 1000), "--source-dsn", _dsn(copy))
    with pytest.raises(CommandError, match=f"aucune fusion de {DST} dans {SRC}"):
        call_command("unmerge", "--merge-of", DST, SRC, "--source-dsn", _dsn(copy))
    assert snapshot() == state

    # DST written to since the merge: a news item, an absence justified, its name, a password.
    NewsItem.objects.create(establishment=a["est"], title="Après", body="…")
    type(a["absence"]).objects.filter(pk=a["absence"].pk).update(justified_at=timezone.now())
    state = snapshot()
    _refused(log, _dsn(copy), r"Absence 0 créée\(s\) 1 modifiée\(s\), NewsItem 1 créée\(s\) 0")
    Establishment.objects.filter(uai=DST).update(name="Collège renommé")
    _refused(log, _dsn(copy), r"modifié\(s\) depuis la fusion : 0820021C \(name\)")
    Establishment.objects.filter(uai=DST).update(name=a["est"].name)
    a["teacher"].set_password("changé après la fusion")
    a["teacher"].save()
    _refused(log, _dsn(copy), "compte.* modifié.* password ×1")
    # A later operation on them (an import).
    OperationLog.objects.create(establishment=a["est"], kind="import_aaf")
    _refused(log, _dsn(copy), "opération.* postérieure.*import_aaf ×1")
    state["User"] = snapshot()["User"]
    state["OperationLog"] = snapshot()["OperationLog"]
    assert snapshot() == state
