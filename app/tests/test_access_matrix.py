"""Who reaches what inside one establishment (issue #16), on real PostgreSQL.

Two tables: every URL of /e/<uai>/ x every member of establishment A (the roles of
tests.school.PROFILES, a contact of a pupil who is not a legal guardian, a teacher shared by A
and B) -> allowed (200) or denied (403/404, 405 for POST-only views) on GET of A's objects; and
every kind of stored file x the same members -> download allowed or denied. A URL missing from
the first table fails the test: a new view must say who reaches it. The first table's rows again
with the members logged in through the IdPs (issue #20: a federated session gives the same
rights as a local one, no more, and meets the same second factor). Then regression tests for
the rules behind them: contacts are not guardians, grading needs the current assignment, the
AAF functions that give the vie scolaire profile.
"""

import io
import re

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from preau.attendance.models import Absence
from preau.core.authentication import MODEL_BACKEND
from preau.core.models import Membership, Platform, TeachingAssignment, User
from preau.ent.models import Notification
from preau.federation import saml
from preau.grades.models import Grade
from preau.twofactor.policy import SESSION_REQUIRED
from tests.federation.test_saml import (
    federated_client,
    federated_logins,
    idps,  # noqa: F401 (fixture)
)
from tests.helpers import edit_first_record, make_establishment, pass_second_factor, small_feed
from tests.school import PROFILES, add_access_roles, make_school, url_kwargs
from tests.test_isolation import GLOBAL_URLS, all_patterns

# x = 200 on GET, . = denied. Columns: admin (DIR, local admin), teacher (ENS of the class 5A and
# its latin group, mathematics), evs, student and other_student (pupils of 5A), parent and
# other_parent (their legal guardians), contact (the student's emergency contact: no parental
# authority), agent (ETA), other_teacher (ENS of 4A), shared (ENS of 4A and of a class of B).
# Objects: those of tests.school.url_kwargs(): the student, the class 5A, the student's absence,
# the teacher's assessment, logbook session and homework in 5A, the 5A course document, the student's
# conversation with the teacher (its first message, from the student, reported by the teacher:
# the report is resolved by POST only; the teacher's group message to 5A's parents, its page for
# its sender only), the 5A space thread, a 5A timetable slot, the direction's news item,
# a timetable import (its report: the direction and local admins), a batch of activation letters
# for 5A (its page, PDF and regeneration: local admins only), 5A's bulletins of the period (made,
# the student's among them; the period is not published, so no family downloads one:
# test_bulletin_once_published), the period's LSU export (made: its page and XML file, the
# direction and local admins only).
COLUMNS = [
    "admin",
    "teacher",
    "evs",
    "student",
    "other_student",
    "parent",
    "other_parent",
    "contact",
    "agent",
    "other_teacher",
    "shared",
]
GET_MATRIX = """
url_name                  adm tea evs stu ost par opa con agt ote sha
establishment_home         x   x   x   x   x   x   x   x   x   x   x
attendance                 x   x   x   x   x   x   x   x   .   x   x
roll_call                  x   x   x   .   .   .   .   .   .   .   .
absence_justify            .   .   .   .   .   x   .   .   .   .   .
absence_validate           .   .   .   .   .   .   .   .   .   .   .
roll_call_reminder         .   .   .   .   .   .   .   .   .   .   .
incident_new               x   x   x   .   .   .   .   .   .   .   .
incident_delete            x   x   x   .   .   .   .   .   .   .   .
student_attendance         x   x   x   x   .   x   .   .   .   .   .
grades                     x   x   x   x   x   x   x   x   .   x   x
assessment_new             .   x   .   .   .   .   .   .   .   x   x
assessment                 x   x   x   .   .   .   .   .   .   .   .
assessment_edit            .   x   .   .   .   .   .   .   .   .   .
assessment_delete          .   x   .   .   .   .   .   .   .   .   .
class_grades               x   x   x   .   .   .   .   .   .   .   .
period_settings            x   .   .   .   .   .   .   .   .   .   .
period_publish             .   .   .   .   .   .   .   .   .   .   .
period_lsu                 x   .   .   .   .   .   .   .   .   .   .
period_lsu_file            x   .   .   .   .   .   .   .   .   .   .
period_subject             x   x   x   .   .   .   .   .   .   .   .
class_council              x   x   x   .   .   .   .   .   .   .   .
class_socle                x   x   x   .   .   .   .   .   .   .   .
period_summary             .   .   .   x   x   x   x   x   .   .   .
student_period_summary     x   x   x   .   .   .   .   .   .   .   .
class_bulletins            x   .   .   .   .   .   .   .   .   .   .
class_bulletins_file       x   .   .   .   .   .   .   .   .   .   .
bulletin_file              .   .   .   .   .   .   .   .   .   .   .
logbook                    x   x   x   x   x   x   x   x   .   x   x
logbook_new                .   x   .   .   .   .   .   .   .   x   x
logbook_entry_edit         .   x   .   .   .   .   .   .   .   .   .
logbook_entry_delete       .   x   .   .   .   .   .   .   .   .   .
logbook_class              x   x   x   x   x   x   x   .   .   .   .
homework                   x   x   x   x   x   x   x   .   .   .   .
timetable                  x   x   x   x   x   x   x   x   .   x   x
timetable_class            x   x   x   x   x   x   x   .   .   .   .
timetable_feed             .   x   .   x   x   x   x   x   .   x   x
timetable_import           x   .   .   .   .   .   .   .   .   .   .
timetable_import_status    x   .   .   .   .   .   .   .   .   .   .
timetable_slot_new         x   .   .   .   .   .   .   .   .   .   .
timetable_slot_edit        x   .   .   .   .   .   .   .   .   .   .
timetable_change           x   .   .   .   .   .   .   .   .   .   .
timetable_slot_delete      x   .   .   .   .   .   .   .   .   .   .
documents                  x   x   x   x   x   x   x   x   .   x   x
document_new               .   x   .   .   .   .   .   .   .   x   x
document_edit              .   x   .   .   .   .   .   .   .   .   .
document_delete            .   x   .   .   .   .   .   .   .   .   .
file_download              x   x   x   x   x   x   x   .   .   .   .
file_preview               x   x   x   x   x   x   x   .   .   .   .
file_jpeg                  x   x   x   x   x   x   x   .   .   .   .
messages                   x   x   x   x   x   x   x   x   x   x   x
message_new                x   x   x   x   x   x   x   x   x   x   x
conversation               .   x   .   x   .   .   .   .   .   .   .
conversation_hide          .   x   .   x   .   .   .   .   .   .   .
broadcast                  .   x   .   .   .   .   .   .   .   .   .
message_report             .   x   .   .   .   .   .   .   .   .   .
moderation                 x   .   x   .   .   .   .   .   .   .   .
report_resolve             .   .   .   .   .   .   .   .   .   .   .
spaces                     x   x   x   x   x   .   .   .   .   x   x
space                      x   x   x   x   x   .   .   .   .   .   .
space_thread               x   x   x   x   x   .   .   .   .   .   .
space_post_edit            .   x   .   .   .   .   .   .   .   .   .
space_post_delete          x   x   x   .   .   .   .   .   .   .   .
news                       x   x   x   x   x   x   x   x   x   x   x
news_edit                  x   .   .   .   .   .   .   .   .   .   .
news_delete                x   .   .   .   .   .   .   .   .   .   .
links                      x   x   x   x   x   x   x   x   x   x   x
mediacentre                x   x   x   x   x   x   x   x   x   x   x
notifications              x   x   x   x   x   x   x   x   x   x   x
notification_preferences   x   x   x   x   x   x   x   x   x   x   x
quiet_hours                x   .   .   .   .   .   .   .   .   .   .
directory                  x   .   .   .   .   .   .   .   .   .   .
directory_user             x   .   .   .   .   .   .   .   .   .   .
directory_reset_code       .   .   .   .   .   .   .   .   .   .   .
directory_disable          x   .   .   .   .   .   .   .   .   .   .
directory_enable           .   .   .   .   .   .   .   .   .   .   .
class_list                 x   .   .   .   .   .   .   .   .   .   .
letters                    x   .   .   .   .   .   .   .   .   .   .
letter_batch               x   .   .   .   .   .   .   .   .   .   .
letter_batch_file          x   .   .   .   .   .   .   .   .   .   .
letter_batch_regenerate    x   .   .   .   .   .   .   .   .   .   .
class_detail               x   .   .   .   .   .   .   .   .   .   .
"""

# A file is read by its uploader and by who may read the object holding it: a course document's
# audience (who sees 5A's documents), a hand-in's homework teacher, pupil and legal guardians
# (student's, uploaded by the student), a message attachment's participants (the student's,
# to the teacher), a space file's space members (uploaded by the teacher in 5A's space).
DOWNLOAD_MATRIX = """
file                      adm tea evs stu ost par opa con agt ote sha
file                       x   x   x   x   x   x   x   .   .   .   .
submission_file            .   x   .   x   .   x   .   .   .   .   .
attachment                 .   x   .   x   .   .   .   .   .   .   .
space_file                 x   x   x   x   x   .   .   .   .   .   .
"""


def parse(table: str) -> dict[str, set[str]]:
    """{row name: the roles marked x}; every row has one mark per column."""
    header, *rows = [line.split() for line in table.strip().splitlines()]
    assert len(header) == len(COLUMNS) + 1, header
    allowed = {}
    for name, *marks in rows:
        assert len(marks) == len(COLUMNS) and set(marks) <= {"x", "."}, name
        allowed[name] = {role for role, mark in zip(COLUMNS, marks, strict=True) if mark == "x"}
    return allowed


@pytest.fixture
def world(db):
    a, b = make_school("A", "0820021C"), make_school("B", "0820010R")
    add_access_roles(a, b)
    return {"A": a, "B": b}


def establishment_urls():
    return [
        (name, converters)
        for name, route, converters in all_patterns()
        if name not in GLOBAL_URLS and route.startswith("e/<str:uai>/")
    ]


def status_of(client, url) -> str:
    status = client.get(url).status_code
    if status == 200:
        return "x"
    assert status in (403, 404, 405), f"{url} → {status}: neither an answer nor a refusal"
    return "."


def test_every_establishment_url_has_a_row():
    names = {name for name, _ in establishment_urls()}
    table = set(parse(GET_MATRIX))
    assert names - table == set(), "new URL: add a row to GET_MATRIX (who may reach it)"
    assert table - names == set(), "GET_MATRIX names URLs that no longer exist"


def urls_of(s) -> dict[str, str]:
    """{URL name: the URL of that page of the school `s`, with its objects}."""
    kwargs = url_kwargs(s)
    return {
        name: reverse(name, kwargs={k: kwargs[k] for k in converters})
        for name, converters in establishment_urls()
    }


def wrong_in_row(client, role: str, urls: dict[str, str]) -> list[str]:
    """The pages where the client logged in as `role` gets another answer than GET_MATRIX's."""
    expected = parse(GET_MATRIX)
    wrong = []
    for name, url in urls.items():
        got = status_of(client, url)
        if got != ("x" if role in expected[name] else "."):
            wrong.append(f"{role} {name}: {'allowed' if got == 'x' else 'denied'}")
    return wrong


def test_get_matrix(client, world):
    a = world["A"]
    urls = urls_of(a)
    wrong = []
    for role in COLUMNS:
        client.force_login(a[role])
        wrong += wrong_in_row(client, role, urls)
    assert not wrong


def test_get_matrix_through_the_idps(idps, world):  # noqa: F811
    """The rows of GET_MATRIX again, each member whom an IdP serves logged in through it: a real
    signed assertion of the test IdP at the ACS (ÉduConnect: the pupil by INE, the parent and
    the contact by AAF identifier; the agents' IdP: direction, teacher, vie scolaire, agent).
    A federated session must give the same rights as a local one, no more: so every URL of
    the row, not a sample (a row costs ~0.3 s; a URL left out is one the proof says nothing
    of). The columns left out add no profile or way in: a second pupil, parent or teacher of
    A, and the teacher shared with B, whose federated login would go the same way. The local
    admin meets the second factor first (test_a_federated_session_has_no_right_a_local_one_lacks)."""
    a = world["A"]
    logins = federated_logins(a)
    profiles = Membership.objects.filter(establishment=a["est"], user__in=[a[r] for r in logins])
    assert set(profiles.values_list("profile", flat=True)) == set(PROFILES.values())
    urls = urls_of(a)
    wrong = []
    for role in logins:
        client = federated_client(idps, a, role, logins)
        if role == "admin":
            pass_second_factor(client, a[role])
        wrong += wrong_in_row(client, role, urls)
    assert not wrong


def test_a_federated_session_has_no_right_a_local_one_lacks(idps, world):  # noqa: F811
    """What the ACS makes is a local session plus the IdP's record for single logout, nothing
    else: the same keys as force_login's with the same backend, the same second-factor
    requirement (today: local admins and operators only, however the person logged in; the
    IdP's authentication, a password at the académie's portal, is not a second factor). So a
    federated local admin reaches no page of the establishment before enrolling one, as a local
    one; and an enrolled one is asked for the code, not let through."""
    a = world["A"]
    logins = federated_logins(a)
    for role in logins:
        federated = federated_client(idps, a, role, logins).session
        local = Client()
        local.force_login(a[role], backend=MODEL_BACKEND)
        assert set(federated.keys()) == set(local.session.keys()) | {saml.SESSION_KEY}, role
        assert federated[BACKEND_SESSION_KEY] == local.session[BACKEND_SESSION_KEY], role
        assert federated[SESSION_REQUIRED] is local.session[SESSION_REQUIRED], role
        assert federated[SESSION_REQUIRED] is (role == "admin"), role
        assert DEVICE_ID_SESSION_KEY not in federated, role

    admin = federated_client(idps, a, "admin", logins)
    for name, url in urls_of(a).items():
        response = admin.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("two_factor_setup")), name
    pass_second_factor(admin, a["admin"])  # enrolled now: the next federated login is asked
    again = federated_client(idps, a, "admin", logins)
    response = again.get(reverse("directory", kwargs={"uai": a["est"].uai}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_verify"))


def test_shared_teacher_never_mixes_the_two_establishments(client, world):
    """A member of A and B: every URL with objects of one establishment under the other's UAI
    is refused, although the account belongs to both."""
    a, b = world["A"], world["B"]
    client.force_login(a["shared"])
    checked = 0
    for name, converters in establishment_urls():
        if set(converters) == {"uai"}:
            continue
        for uai_side, objects_side in ((a, b), (b, a)):
            values = {**url_kwargs(objects_side), "uai": uai_side["est"].uai}
            url = reverse(name, kwargs={k: values[k] for k in converters})
            assert status_of(client, url) == ".", url
            checked += 1
    assert checked >= 20
    assert (
        status_of(
            client, reverse("class_grades", kwargs={"uai": b["est"].uai, "class_id": b["class"].pk})
        )
        == "x"
    )


def test_download_matrix(client, world):
    a = world["A"]
    wrong = []
    for kind, allowed in parse(DOWNLOAD_MATRIX).items():
        url = reverse("file_download", kwargs={"uai": a["est"].uai, "file_id": a[kind].pk})
        for role in COLUMNS:
            client.force_login(a[role])
            got = status_of(client, url)
            if got != ("x" if role in allowed else "."):
                wrong.append(f"{role} {kind}: {'allowed' if got == 'x' else 'denied'}")
    assert not wrong


def test_bulletin_once_published(client, world):
    """Once the period is published, the student's bulletin is theirs and their legal
    guardian's only (the other pupil has none in the batch; a contact is no guardian)."""
    a = world["A"]
    a["period"].published_at = timezone.now()
    a["period"].save()
    url = reverse("bulletin_file", kwargs={"uai": a["est"].uai, "period_id": a["period"].pk})
    got = set()
    for role in COLUMNS:
        client.force_login(a[role])
        if status_of(client, url) == "x":
            got.add(role)
    assert got == {"student", "parent"}


def test_homework_page_links_hand_ins_for_their_readers_only(client, world):
    """The vie scolaire sees who handed the work in, the homework's teacher opens the files."""
    a = world["A"]
    link = reverse(
        "file_download", kwargs={"uai": a["est"].uai, "file_id": a["submission_file"].pk}
    )
    for role, linked in (("teacher", True), ("evs", False), ("admin", False)):
        client.force_login(a[role])
        body = page(client, a, "homework", homework_id=a["homework"].pk)
        assert "copie.pdf" in body and (link in body) is linked, role


def test_a_file_without_holder_is_its_uploaders_only(client, world):
    """A stored file that nothing holds (yet, or any more) is read by its uploader alone."""
    from preau.ent import files
    from tests.school import upload

    a = world["A"]
    stored = files.store(a["est"], upload("brouillon.pdf"), a["student"])
    url = reverse("file_download", kwargs={"uai": a["est"].uai, "file_id": stored.pk})
    for role in COLUMNS:
        client.force_login(a[role])
        assert status_of(client, url) == ("x" if role == "student" else "."), role


# --- contacts are not guardians ----------------------------------------------------------------


def page(client, s, name, **kwargs) -> str:
    response = client.get(reverse(name, kwargs={"uai": s["est"].uai, **kwargs}))
    assert response.status_code == 200, name
    return response.content.decode()


def test_contact_sees_nothing_of_the_pupil(client, world):
    """The contact's own pages never show the pupil (a legal guardian's do)."""
    a = world["A"]
    client.force_login(a["parent"])
    for name in ("establishment_home", "attendance", "grades", "logbook", "timetable"):
        assert "Léa" in page(client, a, name), name
    client.force_login(a["contact"])
    for name in ("establishment_home", "attendance", "grades", "logbook", "timetable", "documents"):
        assert "Léa" not in page(client, a, name), name
    for name, kwargs in (
        ("student_attendance", {"user_id": a["student"].pk}),
        ("absence_justify", {"absence_id": a["absence"].pk}),
    ):
        assert client.get(reverse(name, kwargs={"uai": a["est"].uai, **kwargs})).status_code == 403
    # Nor can the contact write to the pupil's teachers as a parent would.
    assert "FABRE" not in page(client, a, "message_new")


def test_only_legal_guardians_are_notified(client, world):
    a = world["A"]
    Absence.objects.all().delete()
    Notification.objects.all().delete()
    client.force_login(a["teacher"])
    response = client.post(
        reverse("roll_call", kwargs={"uai": a["est"].uai, "class_id": a["class"].pk}),
        {"date": "2026-03-10", "start": "10:00", f"etat_{a['student'].pk}": "absent"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("assessment", kwargs={"uai": a["est"].uai, "assessment_id": a["assessment"].pk}),
        {f"note_{a['student'].pk}": "17"},
    )
    assert response.status_code == 302
    notified = set(Notification.objects.values_list("user__username", "text"))
    assert {user for user, _ in notified} >= {a["parent"].username, a["student"].username}
    assert not Notification.objects.filter(user=a["contact"]).exists()


def test_directory_labels_contacts(client, world):
    a = world["A"]
    client.force_login(a["admin"])
    text = re.sub(r"\s+", " ", page(client, a, "directory_user", user_id=a["student"].pk))
    assert "Sophie MARTIN – Responsable légal" in text
    assert "Mireille FONTAINE – Contact" in text


# --- grading: the teacher assigned now ---------------------------------------------------------


def grade(client, s, value):
    return client.post(
        reverse("assessment", kwargs={"uai": s["est"].uai, "assessment_id": s["assessment"].pk}),
        {f"note_{s['student'].pk}": value, f"note_{s['other_student'].pk}": "9"},
    )


def test_grading_belongs_to_the_teacher_assigned_now(client, world):
    a = world["A"]
    # The class's mathematics go to the shared teacher; the creator of the assessment is no
    # longer assigned to them (a previous year's assignment does not count).
    last_year = Platform.current_school_year() - 1
    TeachingAssignment.objects.filter(teacher=a["teacher"], class_group=a["class"]).update(
        class_group=a["class"].__class__.objects.create(
            establishment=a["est"], name="5A", school_year=last_year
        )
    )
    client.force_login(a["teacher"])
    assert grade(client, a, "3").status_code == 403
    assert (
        client.get(
            reverse("assessment", kwargs={"uai": a["est"].uai, "assessment_id": a["assessment"].pk})
        ).status_code
        == 403
    )
    # Assigned to the class but another subject: no.
    TeachingAssignment.objects.create(
        establishment=a["est"], teacher=a["shared"], class_group=a["class"]
    )
    client.force_login(a["shared"])
    assert grade(client, a, "4").status_code == 403
    assert Grade.objects.get(assessment=a["assessment"], student=a["student"]).value == 15
    # The teacher assigned to this class and subject now grades it.
    TeachingAssignment.objects.create(
        establishment=a["est"], teacher=a["shared"], class_group=a["class"], subject=a["subject"]
    )
    assert grade(client, a, "18").status_code == 302
    assert Grade.objects.get(assessment=a["assessment"], student=a["student"]).value == 18


def test_assessment_form_offers_current_assignments_only(client, world):
    a = world["A"]
    client.force_login(a["shared"])
    form = page(client, a, "assessment_new")
    # the choices' labels, not the whole page (a CSRF token once contained "5B")
    offered = " | ".join(re.findall(r"<option[^>]*>([^<]*)</option>", form))
    assert "4A" in offered and "5B" not in offered and "5A" not in offered, offered
    response = client.post(
        reverse("assessment_new", kwargs={"uai": a["est"].uai}),
        {
            "teaching": str(
                TeachingAssignment.objects.get(teacher=a["teacher"], class_group=a["class"]).pk
            ),
            "title": "Intrus",
            "date": "2026-03-10",
            "coefficient": "1",
            "scale": "20",
        },
    )
    assert response.status_code == 400
    assert not a["assessment"].__class__.objects.filter(title="Intrus").exists()


# --- AAF functions -----------------------------------------------------------------------------


@pytest.fixture
def est(db):
    return make_establishment()


def import_report(est, files) -> str:
    out = io.StringIO()
    call_command("import_aaf", est.uai, *files, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "code, profile",
    [
        ("EDU", "EVS"),
        ("CPE", "EVS"),
        ("SUR", "EVS"),
        ("AED", "EVS"),
        ("SEC", "ETA"),
        ("ADM", "ETA"),
        ("ADF", "ETA"),
        ("MDS", "ETA"),
        ("DOC", "ENS"),
    ],
)
def test_only_vie_scolaire_functions_get_vie_scolaire(est, tmp_path, code, profile):
    feed = small_feed(tmp_path)
    key = edit_first_record(
        feed["by_category"]["PersEducNat"], r"\$ENS\$ENSEIGNEMENT", f"${code}$FONCTION"
    )
    import_report(est, feed["files"])
    assert Membership.objects.get(user__join_key=key, establishment=est).profile == profile


@pytest.mark.parametrize(
    "old, new, reason",
    [
        (r"\$ENS\$ENSEIGNEMENT", "$XYZ$INCONNUE", "fonction inconnue « XYZ »"),
        (r'<attr name="ENTPersonFonctions">.*?</attr>', "", "aucune fonction dans l'établissement"),
    ],
)
def test_unknown_function_fails_closed(est, tmp_path, old, new, reason):
    """A teacher record whose function is unknown (or missing) is not imported, although it
    lists classes taught: no account rights until the feed says what the person does."""
    feed = small_feed(tmp_path)
    key = edit_first_record(feed["by_category"]["PersEducNat"], old, new)
    report = import_report(est, feed["files"])
    assert not User.objects.filter(join_key=key).exists()
    assert not TeachingAssignment.objects.filter(teacher__join_key=key).exists()
    line = next(line for line in report.splitlines() if key in line)
    assert reason in line and "non importée" in line and "aucun droit" in line


def test_member_losing_vie_scolaire_is_reported(est, tmp_path):
    """A secretary imported in vie scolaire by the former mapping becomes staff (ETA) at the
    next import, and the report names them."""
    feed = small_feed(tmp_path)
    import_report(est, feed["files"])
    secretary = _secretary(est, feed)
    Membership.objects.filter(pk=secretary.pk).update(profile="EVS")
    report = import_report(est, feed["files"])
    secretary.refresh_from_db()
    assert secretary.profile == "ETA"
    user = secretary.user
    assert any(
        f"{user.first_name} {user.last_name}" in line
        and "Vie scolaire → Personnel technique" in line
        for line in report.splitlines()
    ), report


def _secretary(est, feed):
    text = feed["by_category"]["PersEducNat"].read_text(encoding="utf-8")
    key = re.search(r"<id>([^<]*)</id>(?:(?!</addRequest>).)*\$SEC\$", text, re.S).group(1)
    return Membership.objects.get(establishment=est, user__join_key=key)
