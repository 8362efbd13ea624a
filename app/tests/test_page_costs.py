"""What keeps a page cheap without changing what it shows: the session and its user in one
query (preau.core.sessions), the navigation's unread count riding along with the membership
query, and the dashboard's panels cached 30 s per user, session and establishment
(preau.ent.cache) with the user's own writes seen at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from preau.attendance.models import Absence
from preau.core.models import Membership, UserSession
from preau.documents.models import Document
from preau.ent import cache as user_cache
from preau.ent.models import Notification
from preau.grades.models import Assessment, Grade
from preau.messaging.models import Conversation, Participant
from preau.timetable.models import TimetableSlot
from tests.school import make_school


@pytest.fixture
def school(db):
    return make_school()


def page(s, name="establishment_home", **kwargs):
    return reverse(name, kwargs={"uai": s["est"].uai, **kwargs})


def test_session_user_and_membership_come_in_one_query(client, school):
    s = school
    client.force_login(s["student"])
    assert UserSession.objects.get().user_id == s["student"].pk
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(page(s, "news"))
    assert response.status_code == 200 and response.wsgi_request.user == s["student"]
    sql = [q["sql"] for q in ctx.captured_queries]
    sessions = [q for q in sql if '"django_session"' in q]
    assert len(sessions) == 1
    assert all(f'JOIN "{table}"' in sessions[0] for table in ("core_user", "core_establishment"))
    assert sessions[0].startswith('SELECT "core_membership"."id"')
    assert not [q for q in sql if q.startswith("SELECT") and 'FROM "core_user" WHERE' in q]
    assert not [q for q in sql if 'FROM "ent_notification"' in q and "core_membership" not in q]
    # session+user+membership+unread count, platform (uncached in tests), news count, news page,
    # and the pupil's classes (news for classes, issue #19) with the platform again (its year)
    assert len(sql) == 6


def test_outside_an_establishment_the_session_and_user_come_in_one_query(client, school):
    s = school
    client.force_login(s["student"])
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("home")).status_code in (200, 302)
    sessions = [q["sql"] for q in ctx.captured_queries if '"django_session"' in q["sql"]]
    assert len(sessions) == 1 and 'JOIN "core_user"' in sessions[0]


def test_a_session_row_naming_another_user_gives_that_user_nothing(client, school):
    """The row's user_id column only saves a query: the page's user is the one the session's
    signed data names (get_user), and the membership read along must be that user's."""
    s = school
    client.force_login(s["student"])
    UserSession.objects.update(user=s["teacher"])
    response = client.get(page(s))
    assert response.status_code == 200
    assert response.wsgi_request.user == s["student"]
    assert response.wsgi_request.membership.user_id == s["student"].pk
    assert s["student"].last_name in response.content.decode()


def test_a_member_of_another_establishment_is_refused_with_the_one_query_path(client, school):
    s = school
    b = make_school("B", "0820010R")
    client.force_login(b["student"])
    assert client.get(page(s)).status_code == 404
    assert client.get(page(b)).status_code == 200


def test_the_nav_counts_unread_notifications_without_its_own_query(client, school):
    s = school
    Notification.objects.create(
        establishment=s["est"], user=s["student"], text="Deux", delivered_at="2026-01-05T10:00Z"
    )
    Notification.objects.create(
        establishment=s["est"], user=s["student"], text="Pas encore"
    )  # held
    client.force_login(s["student"])
    body = client.get(page(s, "news")).content.decode()
    assert '<span class="badge">2<span class="sr-only"> non lues</span>' in body
    client.post(page(s, "notifications"))
    assert 'class="badge"' not in client.get(page(s, "news")).content.decode()


def test_a_changed_password_or_a_disabled_account_still_ends_the_session(client, school):
    s = school
    client.force_login(s["teacher"])
    assert client.get(page(s)).status_code == 200
    s["teacher"].set_password("un-tout-nouveau-mot-de-passe")
    s["teacher"].save()
    response = client.get(page(s))
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")
    client.force_login(s["evs"])
    s["evs"].is_active = False
    s["evs"].save()
    assert client.get(page(s)).status_code == 302


def test_sessions_of_the_previous_release_still_work(client, school):
    """Sessions written without user_id (previous release, rolling upgrade) take Django's path."""
    s = school
    client.force_login(s["parent"])
    UserSession.objects.update(user=None)
    assert client.get(page(s)).status_code == 200
    assert "Sophie" in client.get(page(s)).content.decode()


def test_dashboard_panels_are_cached_per_user_and_refreshed_by_own_writes(client, school, settings):
    s = school
    settings.PREAU_USER_CACHE_SECONDS = 30
    from django.core.cache import cache

    cache.clear()
    client.force_login(s["parent"])
    first = client.get(page(s)).content.decode()
    assert "Fractions" in first and "Justifier" in first
    # Someone else's write: the panels may be up to 30 s old (bounded staleness).
    assessment = Assessment.objects.create(
        establishment=s["est"],
        class_group=s["class"],
        subject=s["subject"],
        teacher=s["teacher"],
        title="Puissances",
        date="2026-01-05",
    )
    Grade.objects.create(assessment=assessment, student=s["student"], value=12)
    with CaptureQueriesContext(connection) as ctx:
        assert "Puissances" not in client.get(page(s)).content.decode()
    assert len(ctx.captured_queries) <= 4  # session, platform, membership, nothing for the panels
    # The parent's own write (justifying the absence) refreshes the panels at once.
    response = client.post(
        page(s, "absence_justify", absence_id=s["absence"].pk), {"reason": "Rendez-vous médical"}
    )
    assert response.status_code == 302
    assert Absence.objects.get(pk=s["absence"].pk).status == "submitted"
    fresh = client.get(page(s)).content.decode()
    assert "Puissances" in fresh and "Justifier" not in fresh


def test_cached_panels_never_cross_users_or_establishments(client, school, settings):
    s = school
    settings.PREAU_USER_CACHE_SECONDS = 30
    b = make_school("B", "0820010R")
    Membership.objects.create(user=s["teacher"], establishment=b["est"], profile="ENS")
    client.force_login(s["student"])
    assert "Exercices 1 à 4" in client.get(page(s)).content.decode()
    client.force_login(s["other_teacher"])  # same establishment, other person
    assert "Exercices 1 à 4" not in client.get(page(s)).content.decode()
    client.force_login(s["teacher"])  # one person, two establishments
    in_a = client.get(page(s)).content.decode()
    in_b = client.get(page(b)).content.decode()
    assert f"en {s['class'].name}" in in_a and f"en {s['class'].name}" not in in_b
    request = type(
        "R",
        (),
        {
            "establishment": s["est"],
            "user": s["teacher"],
            "session": {"_preau_cache_version": 3},
            "membership": None,
        },
    )()
    request.session = type("S", (dict,), {"session_key": "abcdefghijklmnopqrstuvwxyz"})(
        request.session
    )
    key = user_cache.user_key(request, "dashboard")
    assert key == f"preau:dashboard:{s['est'].pk}:{s['teacher'].pk}:DIR:abcdefghijklmnop:3"


def test_prepared_queries_mean_what_their_querysets_say(school):
    from django.core.exceptions import ImproperlyConfigured

    from preau.core.prepared import PreparedQuery
    from preau.core.tenancy import MEMBER_OF_ACTIVE

    s = school
    Notification.objects.create(
        establishment=s["est"], user=s["student"], text="Deux", delivered_at="2026-01-05T10:00Z"
    )
    member = MEMBER_OF_ACTIVE.first(est=s["est"].uai, user_id=s["student"].pk)
    expected = Membership.objects.get(user=s["student"], establishment=s["est"])
    assert (
        member == expected and member.establishment == s["est"] and member.unread_notifications == 2
    )
    assert member.establishment.settings == s["est"].settings  # converters applied (JSON)
    assert MEMBER_OF_ACTIVE.first(est="0820010R", user_id=s["student"].pk) is None
    Membership.objects.filter(pk=expected.pk).update(disabled=True)
    assert MEMBER_OF_ACTIVE.first(est=s["est"].uai, user_id=s["student"].pk) is None
    unused = PreparedQuery(
        lambda est, uai: Membership.objects.filter(establishment_id=est), uai=str
    )
    with pytest.raises(ImproperlyConfigured, match="'uai' found 0 times"):
        unused.first(est=s["est"].pk, uai="x")


def members_prepared_and_by_the_orm(est):
    """The members of `est` with their establishment and user: (prepared rows, ORM's list)."""
    from preau.core.prepared import PreparedQuery

    def members(est):
        return (
            Membership.objects.filter(establishment_id=est)
            .select_related("establishment", "user")
            .order_by("pk")
        )

    return PreparedQuery(members).rows(est=est.pk), list(members(est.pk))


def test_rows_of_a_prepared_list_share_their_related_instances(school):
    rows, expected = members_prepared_and_by_the_orm(school["est"])
    assert len(rows) == len(expected) > 2
    assert [(m.pk, m.user.username, m.establishment.uai) for m in rows] == [
        (m.pk, m.user.username, m.establishment.uai) for m in expected
    ]
    # one establishment row, one instance; each user its own
    assert len({id(m.establishment) for m in rows}) == 1
    assert len({id(m.user) for m in rows}) == len({m.user_id for m in rows})


def test_prepared_pages_stay_in_the_establishment_of_the_url(client, school):
    """A student who is also in a class of B: A's dashboard, logbook and grades show A's rows only."""
    import datetime as dt

    from django.utils import timezone

    from preau.core.models import ClassMembership
    from preau.logbook.models import Homework, LogbookEntry

    s = school
    b = make_school("B", "0820010R")
    today = timezone.localdate()
    Membership.objects.create(user=s["student"], establishment=b["est"], profile="ELV")
    ClassMembership.objects.create(class_group=b["class"], user=s["student"])
    common = {
        "establishment": b["est"],
        "class_group": b["class"],
        "subject": b["subject"],
        "teacher": b["teacher"],
    }
    Homework.objects.create(
        assigned_on=today, due_on=today + dt.timedelta(days=1), description="Devoir-de-B", **common
    )
    LogbookEntry.objects.create(date=today, title="Séance-de-B", **common)
    b_assessment = Assessment.objects.create(title="Évaluation-de-B", date=today, **common)
    Grade.objects.create(assessment=b_assessment, student=s["student"], value=11)
    b_file = b["file"]
    Document.objects.create(
        establishment=b["est"],
        class_group=b["class"],
        subject=b["subject"],
        title="Doc-de-B",
        file=b_file,
        author=b["teacher"],
    )
    TimetableSlot.objects.create(
        weekday=1, start=dt.time(10), end=dt.time(11), room="Salle-de-B", **common
    )
    Absence.objects.create(
        establishment=b["est"],
        student=s["student"],
        date=today,
        start=dt.time(15),
        reason="Motif-de-B",
    )
    conversation = Conversation.objects.create(
        establishment=b["est"], subject="Conv-de-B", created_by=b["teacher"]
    )
    Participant.objects.create(conversation=conversation, user=s["student"])
    client.force_login(s["student"])
    for name in (
        "establishment_home",
        "logbook",
        "grades",
        "documents",
        "timetable",
        "attendance",
        "messages",
    ):
        body = client.get(page(s, name)).content.decode()
        assert "de-B" not in body, name
        assert "de-B" in client.get(page(b, name)).content.decode(), name
    assert "Exercices 1 à 4" in client.get(page(s, "logbook")).content.decode()
    assert client.get(page(s, "file_download", file_id=b_file.pk)).status_code == 404
    assert client.get(page(s, "conversation", conversation_id=conversation.pk)).status_code == 404
    assert client.get(page(b, "conversation", conversation_id=conversation.pk)).status_code == 200


def test_a_prepared_list_counts_its_rows_in_its_first_page_query(client, school):
    """PreparedPages: the first page and the list's total in one query (no count query); the
    other pages as paginate() gives them."""
    import datetime as dt

    from django.utils import timezone

    s = school
    for n in range(1, 36):
        Absence.objects.create(
            establishment=s["est"],
            student=s["other_student"],
            recorded_by=s["teacher"],
            date=timezone.localdate() - dt.timedelta(days=n),
            start=dt.time(9),
        )
    client.force_login(s["teacher"])
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(page(s, "attendance")).content.decode()
    absences = [q["sql"] for q in ctx.captured_queries if 'FROM "ent_absence"' in q["sql"]]
    assert len(absences) == 1 and "COUNT(*) OVER ()" in absences[0]
    assert "Page 1 sur 2" in body and body.count("status-unjustified") == 30
    body = client.get(page(s, "attendance") + "?page=2").content.decode()
    assert "Page 2 sur 2" in body and body.count("status-unjustified") == 6  # 35 + the school's own
    client.force_login(s["other_teacher"])
    assert "Aucune absence ni aucun retard." in client.get(page(s, "attendance")).content.decode()


def test_reading_a_conversation_again_writes_nothing(client, school):
    s = school
    client.force_login(s["teacher"])
    assert (
        client.get(page(s, "conversation", conversation_id=s["conversation"].pk)).status_code == 200
    )
    read_at = Participant.objects.get(
        conversation=s["conversation"], user=s["teacher"]
    ).last_read_at
    assert read_at is not None
    with CaptureQueriesContext(connection) as ctx:
        assert (
            client.get(page(s, "conversation", conversation_id=s["conversation"].pk)).status_code
            == 200
        )
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert (
        Participant.objects.get(conversation=s["conversation"], user=s["teacher"]).last_read_at
        == read_at
    )
    assert "0</strong> conversation non lue" in client.get(page(s)).content.decode()


def test_any_lookup_is_one_array_parameter(school):
    from preau.core.models import ClassMembership

    ids = [school["student"].pk, school["other_student"].pk]
    query = ClassMembership.objects.filter(user_id__any=ids)
    sql, params = query.query.sql_with_params()
    assert '"user_id" = ANY(%s)' in sql and params == (ids,)
    assert set(query.values_list("user_id", flat=True)) == set(ids)
    assert not ClassMembership.objects.filter(user_id__any=[]).exists()


def test_a_parents_children_are_current_members_of_this_establishment(school):
    from preau.core.models import ParentLink
    from preau.ent.access import CHILDREN

    s = school
    b = make_school("B", "0820010R")
    ParentLink.objects.create(establishment=b["est"], parent=s["parent"], child=b["student"])
    assert [link.child for link in CHILDREN.rows(est=s["est"].pk, parent=s["parent"].pk)] == [
        s["student"]
    ]
    Membership.objects.filter(user=s["student"], establishment=s["est"]).update(
        gone_since="2026-01-01"
    )
    assert CHILDREN.rows(est=s["est"].pk, parent=s["parent"].pk) == []


def test_prepared_queries_are_planned_once_per_connection(client, school):
    """PreparedQuery runs as a PostgreSQL prepared statement (parsed and planned once per
    connection, generic plan); the ORM's other queries are not prepared."""
    s = school
    client.force_login(s["student"])
    for _ in range(2):
        assert client.get(page(s, "grades")).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"
    # the page's first query: its session, user and membership
    first = [
        row for row in prepared if 'FROM "django_session"' in row[0] and "core_membership" in row[0]
    ]
    assert len(first) == 1 and first[0][1] >= 2 and first[0][2] == 0
    assert any('FROM "ent_grade"' in row[0] for row in prepared)
    assert not any('FROM "core_platform"' in row[0] for row in prepared)  # an ORM query


def test_the_dashboard_reads_each_childs_five_latest_grades_only(client, school):
    import datetime as dt

    from django.utils import timezone

    from preau.core.models import ParentLink
    from preau.ent.views.dashboard import GRADES

    s = school
    ParentLink.objects.create(establishment=s["est"], parent=s["parent"], child=s["other_student"])
    Grade.objects.all().delete()
    now = timezone.now()
    for n in range(7):
        assessment = Assessment.objects.create(
            establishment=s["est"],
            class_group=s["class"],
            subject=s["subject"],
            teacher=s["teacher"],
            title=f"Contrôle {n}",
            date=timezone.localdate(),
        )
        for child in (s["student"], s["other_student"]):
            Grade.objects.filter(
                pk=Grade.objects.create(assessment=assessment, student=child, value=10 + n).pk
            ).update(updated_at=now - dt.timedelta(days=n))
    rows = GRADES.rows(
        est=s["est"].pk,
        ids=[s["student"].pk, s["other_student"].pk],
        since=now - dt.timedelta(days=30),
    )
    for child in (s["student"], s["other_student"]):
        assert [g.assessment.title for g in rows if g.student_id == child.pk] == [
            f"Contrôle {n}" for n in range(5)
        ]
    client.force_login(s["parent"])
    body = client.get(page(s)).content.decode()
    assert body.count("Contrôle 4") == 2 and "Contrôle 5" not in body


def test_prepared_rows_are_the_instances_the_orm_would_make(school):
    """Rows are made by Model.from_db, as the ORM makes them: same field values,
    loaded from the database (a save updates), related objects cached, deferred loading works."""
    from django.db.models.signals import post_init

    from preau.core.prepared import PreparedQuery

    s = school
    rows, expected = members_prepared_and_by_the_orm(s["est"])

    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}

    for made, orm in zip(rows, expected, strict=True):
        assert fields(made) == fields(orm)
        assert fields(made.user) == fields(orm.user) and fields(made.establishment) == fields(
            orm.establishment
        )
        assert (made._state.adding, made._state.db) == (False, "default")
    member = rows[0]
    with CaptureQueriesContext(connection) as ctx:
        assert member.user.username and member.establishment.uai  # cached: no query
        member.is_local_admin = True
        member.save(update_fields=["is_local_admin"])
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["UPDATE"]
    assert Membership.objects.get(pk=member.pk).is_local_admin

    # A model with an init signal receiver is made by Django's own from_db.
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Membership)
    try:
        again = PreparedQuery(
            lambda est: Membership.objects.filter(establishment_id=est).order_by("pk"), est=int
        )
        made = again.rows(est=s["est"].pk)
    finally:
        post_init.disconnect(receiver, sender=Membership)
    assert made and seen == made


def test_the_socle_grid_costs_the_same_queries_whatever_the_class_size(client, school, settings):
    """The socle commun's grid of a class (grades.views.class_socle): its page in at most 10
    queries, and a POST of every cell (new levels, changed ones, emptied ones) in at most 10
    statements besides the test transaction's savepoints (now 6 and 9: 6 reads, one upsert, one
    delete, the session's message), as many for 2 pupils as for 12. The platform's row cached as in
    production (uncached: one query more for each)."""
    from preau.core.models import ClassMembership, User
    from preau.grades.models import SocleComponent, SocleLevel

    settings.PREAU_PLATFORM_CACHE_SECONDS = 3600
    s = school
    grid = page(s, "class_socle", class_id=s["class"].pk, period_id=s["period"].pk)
    client.force_login(s["teacher"])

    def costs() -> tuple[int, int]:
        pupils = ClassMembership.objects.filter(class_group=s["class"]).values_list("user_id")
        cells = [f"socle_{pupil}_{c}" for (pupil,) in pupils for c in SocleComponent]
        client.post(grid, dict.fromkeys(cells[::2], "1"))  # levels to change and to empty
        posted = {cell: str(n % 5 or "") for n, cell in enumerate(cells)}
        with CaptureQueriesContext(connection) as read:
            assert client.get(grid).status_code == 200
        with CaptureQueriesContext(connection) as written:
            assert client.post(grid, posted).status_code == 302
        statements = [q for q in written.captured_queries if "SAVEPOINT" not in q["sql"]]
        return len(read), len(statements)

    small = costs()
    for n in range(10):
        pupil = User.objects.create_user(f"eleve{n}", first_name="Élève", last_name=f"N{n}")
        Membership.objects.create(user=pupil, establishment=s["est"], profile="ELV")
        ClassMembership.objects.create(class_group=s["class"], user=pupil)
    assert costs() == small and max(small) <= 10, small
    assert SocleLevel.objects.filter(level=4).count() == len(
        [n for n in range(12 * 8) if n % 5 == 4]
    )


def test_previews_in_the_lists_cost_no_query_per_file(client, school):
    """An image's preview and JPEG are its own row's columns (StoredFile.preview, .jpeg): the
    documents list and a conversation with attachments cost the same queries with 1 or 6."""
    from preau.ent import files
    from preau.messaging.models import Message

    s = school
    conversation = Conversation.objects.create(
        establishment=s["est"], subject="Photos", created_by=s["teacher"]
    )
    Participant.objects.create(conversation=conversation, user=s["teacher"])

    def add_images(count):
        for i in range(count):
            image = files.store_generated(s["est"], f"photo-{i}.jpg", b"\xff\xd8 photo")
            image.preview = files.store_generated(s["est"], f"photo-{i}-apercu.jpg", b"\xff\xd8")
            image.renditions = "done"
            image.save()
            common = {"establishment": s["est"], "class_group": s["class"]}
            Document.objects.create(
                subject=s["subject"], title=f"Photo {i}", file=image, author=s["teacher"], **common
            )
            Message.objects.create(
                conversation=conversation, author=s["teacher"], body="vue", attachment=image
            )

    def costs():
        counts, previews = [], 0
        for url in (page(s, "documents"), page(s, "conversation", conversation_id=conversation.pk)):
            with CaptureQueriesContext(connection) as ctx:
                body = client.get(url).content.decode()
            counts.append(len(ctx.captured_queries))
            previews += body.count('class="preview"')
        return counts, previews

    client.force_login(s["teacher"])
    add_images(1)
    costs()  # the first visit marks the conversation read
    few, shown = costs()
    add_images(5)
    many, more_shown = costs()
    assert many == few and more_shown - shown == 10
