"""Merging establishments: conservation, duplicates, class clashes, dry-run, atomicity."""

import pytest
from django.core.management import CommandError

from preau.core import importer
from preau.core.merge import Merger
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    EstablishmentAlias,
    Membership,
    OperationLog,
    Platform,
    User,
)
from tests.helpers import make_establishment, small_feed, snapshot

pytestmark = pytest.mark.django_db

SRC, DST = "0820010R", "0820021C"


@pytest.fixture
def pair(tmp_path):
    """Two imported establishments; both have a class 6A (clash) and one shared teacher."""
    dst = make_establishment(DST)
    src = make_establishment(SRC, name="Collège Olympe de Gouges", town="Castelsarrasin")
    importer.import_aaf(dst, small_feed(tmp_path / "dst", students=30, uai=DST)["files"])
    importer.import_aaf(src, small_feed(tmp_path / "src", students=25, uai=SRC)["files"])
    # The same teacher (same join key) works in both collèges.
    teacher = Membership.objects.of(dst).filter(profile="ENS").first().user
    Membership.objects.create(user=teacher, establishment=src, profile="ENS", is_local_admin=True)
    # The same student under two accounts (two join keys, same INE): one must remain.
    dup_src = Membership.objects.of(src).filter(profile="ELV").first().user
    dup_dst = Membership.objects.of(dst).filter(profile="ELV").first().user
    dup_src.ine = dup_dst.ine
    dup_src.save()
    return src, dst, teacher, dup_src, dup_dst


def test_merge_conserves_counts(pair, call_json):
    src, dst, teacher, dup_src, dup_dst = pair
    users_before = User.objects.filter(is_active=True).count()
    n_src = Membership.objects.of(src).count()
    n_dst = Membership.objects.of(dst).count()
    classes = ClassGroup.objects.filter(establishment__in=[src, dst]).count()
    placements = ClassMembership.objects.filter(class_group__establishment__in=[src, dst]).count()
    report = call_json("establishment", "merge", SRC, DST)
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    # Two duplicates (shared teacher, same-INE student) become one membership each.
    assert report["merged_memberships"] == 2
    assert Membership.objects.of(dst).count() == n_src + n_dst - 2
    assert ClassGroup.objects.of(dst).count() == classes
    assert ClassMembership.objects.of(dst).count() == placements
    assert Membership.objects.of(src).count() == 0
    # Every account survives except the duplicate, folded into the kept one.
    assert User.objects.filter(is_active=True).count() == users_before - 1
    dup_src.refresh_from_db()
    assert dup_src.merged_into == dup_dst and not dup_src.is_active
    assert Membership.objects.get(user=teacher, establishment=dst).is_local_admin  # rights kept
    src.refresh_from_db()
    assert src.status == "merged" and src.merged_into == dst
    assert EstablishmentAlias.objects.get(uai=SRC).establishment == dst
    from django.test import Client

    assert 'preau_merges_total{result="ok"}' in Client().get("/metrics").content.decode()
    # History kept: the import logs of SRC are now DST's.
    assert OperationLog.objects.of(dst).filter(kind="import_aaf").count() == 2


def test_class_name_clash_is_renamed(pair, call_json):
    src, dst, _, dup_src, dup_dst = pair
    src_6a = ClassGroup.objects.of(src).get(kind="class", name="6A")
    members = set(
        ClassMembership.objects.filter(class_group=src_6a).values_list("user_id", flat=True)
    )
    dst_6a_members = set(
        ClassMembership.objects.filter(
            class_group__establishment=dst, class_group__name="6A"
        ).values_list("user_id", flat=True)
    )
    report = call_json("establishment", "merge", SRC, DST)
    renamed_6a = [
        r for r in report["renamed_classes"] if r["from"] == "6A" and r["kind"] == "class"
    ]
    assert renamed_6a and renamed_6a[0]["to"] == f"6A ({SRC})"
    renamed = ClassGroup.objects.of(dst).get(name=f"6A ({SRC})")
    assert renamed.pk == src_6a.pk
    # Not mixed: each class keeps exactly its own students.
    expected = {dup_dst.pk if u == dup_src.pk else u for u in members}  # the folded duplicate
    assert (
        set(ClassMembership.objects.filter(class_group=renamed).values_list("user_id", flat=True))
        == expected
    )
    assert (
        set(
            ClassMembership.objects.filter(
                class_group__establishment=dst, class_group__name="6A"
            ).values_list("user_id", flat=True)
        )
        == dst_6a_members
    )


def test_dry_run_changes_nothing(pair, call_json):
    before = snapshot()
    report = call_json("establishment", "merge", SRC, DST, "--dry-run")
    assert report["dry_run"] is True and all(c["ok"] for c in report["checks"])
    assert snapshot() == before


def test_failure_halfway_leaves_both_untouched(pair, monkeypatch):
    before = snapshot()

    def boom(self):
        raise RuntimeError("injected failure after classes moved")

    monkeypatch.setattr(Merger, "move_subjects", boom)
    with pytest.raises(RuntimeError, match="injected"):
        from preau.core.merge import merge

        merge(SRC, DST)
    assert snapshot() == before


def test_count_check_failure_aborts(pair, monkeypatch):
    before = snapshot()
    original = Merger.move_relations

    def lose_a_link(self):
        original(self)
        from preau.core.models import ParentLink

        ParentLink.objects.of(self.dst).first().delete()  # simulate a lost row

    monkeypatch.setattr(Merger, "move_relations", lose_a_link)
    with pytest.raises(CommandError, match="parent_links"):
        from django.core.management import call_command

        call_command("establishment", "merge", SRC, DST)
    assert snapshot() == before


def test_merge_refusals():
    make_establishment(DST)
    from django.core.management import call_command

    with pytest.raises(CommandError, match="inconnu"):
        call_command("establishment", "merge", SRC, DST)
    with pytest.raises(CommandError, match="identiques"):
        call_command("establishment", "merge", DST, DST)
    with pytest.raises(CommandError, match="lettre de contrôle"):
        call_command("establishment", "merge", "0820010S", DST)


def test_past_years_of_src_become_read_only(pair, call_json):
    src, dst, *_ = pair
    old = ClassGroup.objects.create(
        establishment=src, name="3B", school_year=Platform.current_school_year() - 1
    )
    call_json("establishment", "merge", SRC, DST)
    old.refresh_from_db()
    assert old.establishment == dst and old.read_only


def test_alias_url_redirects(pair, client, call_json):
    src, dst, teacher, *_ = pair
    call_json("establishment", "merge", SRC, DST)
    client.force_login(teacher)
    response = client.get(f"/e/{SRC}/")
    assert response.status_code == 302 and response["Location"] == f"/e/{DST}/"
    assert Establishment.objects.get(uai=SRC).status == "merged"


@pytest.mark.django_db
def test_merge_moves_service_history(call_json):
    from preau.attendance.models import Absence
    from preau.ent.models import Notification, StoredFile
    from preau.grades.models import Assessment, Bulletin, BulletinBatch, Grade, LsuExport
    from preau.messaging.models import Conversation
    from tests.school import make_school

    a, b = make_school("A", "0820021C"), make_school("B", "0820010R")
    # The same student under two accounts (same INE): their history ends on the kept account.
    User.objects.filter(pk__in=[a["student"].pk, b["student"].pk]).update(ine="123456789AB")
    report = call_json("establishment", "merge", "0820010R", "0820021C")
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    services = report["after"]["dst"]["services"]
    # Both accounts were marked absent for the same lesson time: one absence remains.
    # Both had this year's trimesters: the destination's stay (test below). Both accounts had a
    # level in the same component of the socle commun that trimester: the destination's stays.
    assert report["merged_service_rows"] == {"Absence": 1, "Period": 3, "SocleLevel": 1}
    assert services["SocleLevel"] == 1
    # Files: each school's course document, hand-in, activation letters' PDF, bulletins
    # (the class's and the student's) and LSU export.
    assert services["Absence"] == 1 and services["Assessment"] == 2 and services["StoredFile"] == 12
    assert services["LetterBatch"] == 2
    # The source's bulletins follow its appreciations to the destination's trimester.
    assert services["BulletinBatch"] == 2 and services["Bulletin"] == 2
    assert set(BulletinBatch.objects.values_list("period", flat=True)) == {a["period"].pk}
    assert set(LsuExport.objects.values_list("period", flat=True)) == {a["period"].pk}
    assert services["LsuExport"] == 2
    assert not any(report["after"]["src"]["services"].values())
    kept, absorbed = (
        (a["student"], b["student"])
        if report["merged_accounts"][0]["kept"] == a["student"].username
        else (b["student"], a["student"])
    )
    assert (
        Absence.objects.filter(student=kept).count() == 1
        and not Absence.objects.filter(student=absorbed).exists()
    )
    assert Grade.objects.filter(student=kept).count() == 2
    assert Bulletin.objects.filter(student=kept).count() == 2
    # Subjects with the same code became one; the history keeps its subject.
    assert Assessment.objects.filter(subject__isnull=True).count() == 0
    assert Assessment.objects.values("subject").distinct().count() == 1
    assert StoredFile.objects.filter(establishment=b["est"]).count() == 0
    assert Conversation.objects.filter(establishment=a["est"]).count() == 2
    assert Notification.objects.filter(establishment=a["est"]).count() == 2


def test_grade_periods_and_appreciations_follow_the_merge(call_json):
    """Both collèges have this year's trimesters; the source's pupil has an appreciation in the
    second trimester, in a subject both have (same code), and a level of the socle commun:
    afterwards the destination has its three trimesters, and the appreciation and the level are
    in its second one, the appreciation under its subject. (Before:
    the source's trimesters were added to the destination's, overlapping, and the appreciation
    was deleted with the source's subject.)"""
    import datetime as dt

    from preau.core.models import Subject
    from preau.grades.models import Appreciation, Period, SocleLevel
    from preau.grades.periods import period_of, proposal
    from tests.school import make_school

    a, b = make_school("A", "0820021C"), make_school("B", "0820010R")
    year = Platform.current_school_year()
    for est in (a["est"], b["est"]):  # make_school's: this year's proposed trimesters
        assert [(p.start, p.end) for p in Period.objects.filter(establishment=est)] == [
            (row["start"], row["end"]) for row in proposal(year)
        ]
    Appreciation.objects.all().delete()
    second = Period.objects.get(establishment=b["est"], name="2e trimestre")
    subject = Subject.objects.of(b["est"]).first()
    assert Subject.objects.of(a["est"]).filter(code=subject.code).exists()
    Appreciation.objects.create(
        period=second, student=b["student"], subject=subject, text="Des progrès."
    )
    SocleLevel.objects.all().delete()
    SocleLevel.objects.create(
        establishment=b["est"], period=second, student=b["student"], component="MET_APP", level=2
    )
    report = call_json("establishment", "merge", "0820010R", "0820021C")
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    periods = list(Period.objects.filter(establishment=a["est"], school_year=year))
    assert [p.name for p in periods] == ["1er trimestre", "2e trimestre", "3e trimestre"]
    kept = Appreciation.objects.get(student=b["student"])
    assert kept.text == "Des progrès." and kept.period == period_of(periods, dt.date(year, 12, 1))
    assert kept.subject.establishment == a["est"] and kept.subject.code == subject.code
    level = SocleLevel.objects.get()
    assert (level.period, level.establishment, level.level) == (kept.period, a["est"], 2)
    assert report["merged_service_rows"].get("Period") == 3


def test_cas_services_follow_the_merge(pair, call_json):
    """The source's partner services (CAS) open to its members are the destination's after the
    merge; one the destination already has (same URL prefix) keeps the destination's settings,
    and the report names the source's copy dropped."""
    from preau.cas.models import CasService

    src, dst, *_ = pair
    CasService.objects.create(
        establishment=src, name="Manuels", url_prefix="https://manuels.example/", attributes=["uai"]
    )
    CasService.objects.create(
        establishment=src, name="Vie sco", url_prefix="https://viesco.example/", attributes=[]
    )
    CasService.objects.create(
        establishment=dst, name="Vie scolaire", url_prefix="https://viesco.example/",
        attributes=["profile"],
    )  # fmt: skip
    report = call_json("establishment", "merge", SRC, DST)
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    kept = dict(CasService.objects.filter(establishment=dst).values_list("url_prefix", "name"))
    assert kept == {
        "https://manuels.example/": "Manuels",
        "https://viesco.example/": "Vie scolaire",
    }
    assert not CasService.objects.filter(establishment=src).exists()
    assert report["cas_services"] == {
        "moved": ["Manuels"],
        "dropped": [{"name": "Vie sco", "url_prefix": "https://viesco.example/",
                     "kept": "Vie scolaire"}],
    }  # fmt: skip


def test_gar_resources_and_settings_follow_the_merge(pair, call_json):
    """The GAR enabled at the source only is enabled at the destination; the source's
    médiacentre resources are the destination's, one both had (same address) once, shown to
    the profiles of both; the source's exports join the destination's history."""
    from preau.gar.models import GarExport, GarResource

    src, dst, *_ = pair
    src.settings = {**src.settings, "gar": True}
    src.save()
    add = GarResource.objects.create
    add(establishment=src, title="Dictionnaire", url="https://res.test/dico")
    add(establishment=src, title="Manuel", url="https://res.test/manuel", profiles=["ENS"])
    add(establishment=dst, title="Manuel 5e", url="https://res.test/manuel", profiles=["ELV"])
    add(establishment=dst, title="Atlas", url="https://res.test/atlas", profiles=["ELV"])
    add(establishment=src, title="Atlas", url="https://res.test/atlas")  # every profile
    GarExport.objects.create(establishment=src, status="made")
    report = call_json("establishment", "merge", SRC, DST)
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    dst.refresh_from_db()
    assert dst.settings.get("gar") is True
    kept = {r.url: (r.title, r.profiles) for r in GarResource.objects.filter(establishment=dst)}
    assert kept == {
        "https://res.test/dico": ("Dictionnaire", []),
        "https://res.test/manuel": ("Manuel 5e", ["ELV", "ENS"]),
        "https://res.test/atlas": ("Atlas", []),
    }
    assert not GarResource.objects.filter(establishment=src).exists()
    assert GarExport.objects.get().establishment == dst
    assert report["gar"] == {
        "enabled": True,
        "resources_moved": ["https://res.test/dico"],
        "resources_merged": ["https://res.test/atlas", "https://res.test/manuel"],
    }
