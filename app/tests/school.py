"""A small but complete establishment for the service tests: one user per profile and one row
of every service model (so that every URL has a real object id)."""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from preau.attendance.models import Absence, Incident
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Membership,
    ParentLink,
    Platform,
    Subject,
    TeachingAssignment,
    User,
)
from preau.documents.models import Document
from preau.ent import files
from preau.ent.models import LetterBatch, Notification
from preau.grades import periods
from preau.grades.models import (
    Assessment,
    Bulletin,
    BulletinBatch,
    Grade,
    GradeChange,
    LsuExport,
    Period,
    SocleLevel,
)
from preau.logbook.models import Homework, LogbookEntry, Submission
from preau.messaging.models import Broadcast, Conversation, Message, Participant, Report
from preau.news.models import NewsItem, ResourceLink
from preau.spaces.models import SpacePost
from preau.timetable.models import TimetableImport, TimetableSlot
from tests.helpers import make_establishment

PROFILES = {
    "admin": "DIR",
    "teacher": "ENS",
    "student": "ELV",
    "other_student": "ELV",
    "parent": "TUT",
    "other_parent": "TUT",
    "evs": "EVS",
    "agent": "ETA",
    "other_teacher": "ENS",
}
# Realistic names (screenshots), different in each school (leak checks look for B's names).
NAMES = {
    "A": {
        "admin": ("Hélène", "CASTEX"),
        "teacher": ("Julien", "FABRE"),
        "student": ("Léa", "MARTIN"),
        "other_student": ("Hugo", "BOUSQUET"),
        "parent": ("Sophie", "MARTIN"),
        "other_parent": ("Karim", "BOUSQUET"),
        "evs": ("Cédric", "LAFON"),
        "agent": ("Pascal", "MOULIS"),
        "other_teacher": ("Claire", "SOULIÉ"),
    },
    "B": {
        "admin": ("Marc", "VIGUIÉ"),
        "teacher": ("Anaïs", "CAZALS"),
        "student": ("Zoé", "ESCANDE"),
        "other_student": ("Noah", "TEULIÈRE"),
        "parent": ("Laure", "ESCANDE"),
        "other_parent": ("Yann", "TEULIÈRE"),
        "evs": ("Inès", "BOYER"),
        "agent": ("Rémi", "DELMAS"),
        "other_teacher": ("Olivier", "GARRIGUES"),
    },
}


def upload(name="cours.pdf", content=b"%PDF-1.4 cours de mathematiques\n"):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def make_school(key="A", uai="0820021C", password=None) -> dict:
    est = make_establishment(uai, name=f"Collège {key}-unique-name")
    year = Platform.current_school_year()
    s = {"est": est}
    for role, profile in PROFILES.items():
        first, last = NAMES[key][role]
        user = User.objects.create_user(
            f"{role.replace('_', '')}{key.lower()}", password, first_name=first, last_name=last
        )
        Membership.objects.create(
            user=user, establishment=est, profile=profile, is_local_admin=role == "admin"
        )
        s[role] = user
    s["class"] = ClassGroup.objects.create(establishment=est, name=f"5{key}", school_year=year)
    s["group"] = ClassGroup.objects.create(
        establishment=est, name=f"5-LATIN-{key}", kind="group", school_year=year
    )
    s["other_class"] = ClassGroup.objects.create(
        establishment=est, name=f"4{key}", school_year=year
    )
    for student in (s["student"], s["other_student"]):
        ClassMembership.objects.create(class_group=s["class"], user=student)
    ClassMembership.objects.create(class_group=s["group"], user=s["student"])
    s["subject"] = Subject.objects.create(
        establishment=est, code="MATHEMATIQUES", label="Mathématiques"
    )
    TeachingAssignment.objects.create(
        establishment=est, teacher=s["teacher"], class_group=s["class"], subject=s["subject"]
    )
    TeachingAssignment.objects.create(
        establishment=est, teacher=s["teacher"], class_group=s["group"], subject=s["subject"]
    )
    TeachingAssignment.objects.create(
        establishment=est, teacher=s["other_teacher"], class_group=s["other_class"]
    )
    ParentLink.objects.create(establishment=est, parent=s["parent"], child=s["student"])
    ParentLink.objects.create(establishment=est, parent=s["other_parent"], child=s["other_student"])

    today = timezone.localdate()
    common = {
        "establishment": est,
        "class_group": s["class"],
        "subject": s["subject"],
        "teacher": s["teacher"],
    }
    s["absence"] = Absence.objects.create(
        establishment=est,
        student=s["student"],
        class_group=s["class"],
        subject=s["subject"],
        recorded_by=s["teacher"],
        date=today,
        start=dt.time(8, 0),
    )
    s["incident"] = Incident.objects.create(
        establishment=est,
        student=s["student"],
        class_group=s["class"],
        kind=Incident.Kind.EXCLUSION,
        date=today,
        start=dt.time(8, 0),
        reason="Bavardages répétés",
        recorded_by=s["teacher"],
    )
    s["assessment"] = Assessment.objects.create(title="Fractions", date=today, **common)
    Grade.objects.create(assessment=s["assessment"], student=s["student"], value=15)
    Grade.objects.create(assessment=s["assessment"], student=s["other_student"], value=9)
    GradeChange.objects.create(
        assessment=s["assessment"],
        student=s["other_student"],
        before="8",
        after="9",
        changed_by=s["teacher"],
    )
    entry = s["entry"] = LogbookEntry.objects.create(
        date=today, title="Les fractions", content="Cours", **common
    )
    s["homework"] = Homework.objects.create(
        entry=entry,
        assigned_on=today,
        due_on=today + dt.timedelta(days=2),
        description="Exercices 1 à 4 page 32",
        hand_in=True,
        **common,
    )
    s["file"] = files.store(est, upload(), s["teacher"])
    s["document"] = Document.objects.create(
        establishment=est,
        class_group=s["class"],
        subject=s["subject"],
        title="Fiche de cours",
        file=s["file"],
        author=s["teacher"],
    )
    s["submission_file"] = files.store(est, upload("copie.pdf"), s["student"])
    # A batch of activation letters, made (preau.ent.letters), with its PDF.
    s["letters"] = LetterBatch.objects.create(
        establishment=est,
        class_name=s["class"].name,
        profile="ELV",
        requested_by="admin",
        site_url="https://preau.test",
        user_ids=[s["student"].pk],
        made_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=30),
        letters=1,
        file=files.store_generated(est, "lettres.pdf", b"%PDF-1.4 lettres"),
    )
    Submission.objects.create(
        homework=s["homework"], student=s["student"], file=s["submission_file"]
    )
    s["conversation"] = Conversation.objects.create(
        establishment=est, subject="Question", created_by=s["student"]
    )
    for user in (s["student"], s["teacher"]):
        Participant.objects.create(conversation=s["conversation"], user=user)
    s["message"] = Message.objects.create(
        conversation=s["conversation"], author=s["student"], body="Bonjour"
    )
    # The teacher reported it (messaging's moderation): open, for the vie scolaire to judge.
    s["report"] = Report.objects.create(
        establishment=est, message=s["message"], reporter=s["teacher"], reason="Hors sujet"
    )
    # A group message of the teacher's (messaging.groups), delivered (to nobody: the recipients'
    # conversations are made by groups.deliver, tested in tests/messaging/test_groups.py).
    s["broadcast"] = Broadcast.objects.create(
        establishment=est,
        sender=s["teacher"],
        subject="Réunion parents-professeurs",
        body="Jeudi à 18 h",
        label=f"Parents de la 5{key}",
        targets={"groups": [f"parents-{s['class'].pk}"]},
        delivered_at=timezone.now(),
    )
    s["news"] = NewsItem.objects.create(
        establishment=est, title=f"Sortie {key}", body="Au musée", author=s["admin"]
    )
    s["post"] = SpacePost.objects.create(
        establishment=est,
        class_group=s["class"],
        author=s["teacher"],
        title="Projet",
        body="Idées ?",
    )
    s["link"] = ResourceLink.objects.create(
        establishment=est, title="Dictionnaire", url="https://example.org/"
    )
    s["slot"] = TimetableSlot.objects.create(
        establishment=est,
        class_group=s["class"],
        subject=s["subject"],
        teacher=s["teacher"],
        weekday=today.isoweekday() if today.isoweekday() < 7 else 1,
        start=dt.time(8),
        end=dt.time(9),
        room="B12",
    )
    # A timetable import, run (preau.timetable.imports), with its report; its file is the course
    # file (a file of its own would change every count of the school's files).
    s["timetable_import"] = TimetableImport.objects.create(
        establishment=est,
        source=s["file"],
        requested_by="admin",
        made_at=timezone.now(),
        report={"format": "csv", "applied": True, "dry_run": False, "counts": {}, "refused": []},
    )
    Notification.objects.create(
        establishment=est, user=s["student"], text="Nouvelle note", delivered_at=timezone.now()
    )
    year_periods = Period.objects.bulk_create(
        Period(establishment=est, school_year=year, **row) for row in periods.proposal(year)
    )
    # The period of today (its assessment's): summer days fall in the last one.
    s["period"] = periods.period_of(year_periods, today) or year_periods[-1]
    # The class's bulletins for that period, made (preau.grades.bulletins): the class's PDF and
    # the student's own (the period is not published: families cannot download it yet).
    s["bulletins"] = BulletinBatch.objects.create(
        establishment=est,
        class_group=s["class"],
        period=s["period"],
        requested_by="admin",
        made_at=timezone.now(),
        pupils=1,
        file=files.store_generated(est, "bulletins.pdf", b"%PDF-1.4 bulletins"),
    )
    Bulletin.objects.create(
        establishment=est,
        batch=s["bulletins"],
        student=s["student"],
        file=files.store_generated(est, "bulletin.pdf", b"%PDF-1.4 bulletin"),
    )
    # The period's LSU export, made (preau.grades.lsu): its XML file, for the direction.
    LsuExport.objects.create(
        establishment=est,
        period=s["period"],
        requested_by="admin",
        made_at=timezone.now(),
        pupils=2,
        file=files.store_generated(est, "lsu.xml", b"<lsun-bilans/>", "application/xml"),
    )
    # The student's level in one component of the socle commun for that period.
    SocleLevel.objects.create(
        establishment=est, period=s["period"], student=s["student"], component="CPD_FRA", level=3
    )
    return s


def url_kwargs(s) -> dict:
    """A real object id of this school for every URL kwarg of the URLconf."""
    return {
        "uai": s["est"].uai,
        "user_id": s["student"].pk,
        "class_id": s["class"].pk,
        "absence_id": s["absence"].pk,
        "incident_id": s["incident"].pk,
        "assessment_id": s["assessment"].pk,
        "homework_id": s["homework"].pk,
        "entry_id": s["entry"].pk,
        "news_id": s["news"].pk,
        "document_id": s["document"].pk,
        "file_id": s["file"].pk,
        "conversation_id": s["conversation"].pk,
        "message_id": s["message"].pk,
        "report_id": s["report"].pk,
        "broadcast_id": s["broadcast"].pk,
        "post_id": s["post"].pk,
        "slot_id": s["slot"].pk,
        "subject_id": s["subject"].pk,
        "period_id": s["period"].pk,
        "batch_id": s["letters"].pk,
        "import_id": s["timetable_import"].pk,
        # The global links of the account e-mails ("Mot de passe oublié", address
        # confirmation): a uid and tokens that do not verify (the pages answer 400).
        "uidb64": "MQ",
        "token": "jeton-invalide",
        # The login through an IdP (federation): off in the tests' configuration (404).
        "idp": "educonnect",
        # An import's report in the operators' console: no member of a school reaches it (403
        # whatever the id); the console's own tests use real ones (tests/console/).
        "operation_id": 1,
    }


def add_renditions(s) -> None:
    """The school's course file given a preview and a JPEG as the make_renditions job leaves an
    image's (preau.ent.renditions), so that their URLs answer to the file's readers (matrix,
    isolation)."""
    est, stored = s["est"], s["file"]
    stored.preview = files.store_generated(est, "cours-apercu.jpg", b"\xff\xd8 apercu")
    stored.jpeg = files.store_generated(est, "cours.jpg", b"\xff\xd8 jpeg")
    stored.renditions = "done"
    stored.save(update_fields=["preview", "jpeg", "renditions"])


def add_access_roles(a, b) -> None:
    """What the access matrix needs beyond make_school(), added to A (`a`) and B (`b`): a contact
    of A's student who is not a legal guardian (AAF ENTElevePersRelEleve1: an emergency
    contact), a teacher shared by A and B (A's other class, B's class), and files of the two
    kinds make_school() lacks: a message attachment (in the student's conversation with the
    teacher) and a file posted in the class space; the course files' renditions."""
    add_renditions(a)
    add_renditions(b)
    est = a["est"]
    a["contact"] = User.objects.create_user("contacta", first_name="Mireille", last_name="FONTAINE")
    Membership.objects.create(user=a["contact"], establishment=est, profile="TUT")
    ParentLink.objects.create(
        establishment=est, parent=a["contact"], child=a["student"], legal_guardian=False
    )
    a["shared"] = User.objects.create_user("partageab", first_name="Bruno", last_name="ROUQUETTE")
    for school, class_group in ((a, a["other_class"]), (b, b["class"])):
        Membership.objects.create(user=a["shared"], establishment=school["est"], profile="ENS")
        TeachingAssignment.objects.create(
            establishment=school["est"], teacher=a["shared"], class_group=class_group
        )
    a["attachment"] = files.store(est, upload("certificat.pdf"), a["student"])
    Message.objects.create(
        conversation=a["conversation"],
        author=a["student"],
        body="Mon certificat",
        attachment=a["attachment"],
    )
    a["space_file"] = files.store(est, upload("projet.pdf"), a["teacher"])
    SpacePost.objects.create(
        establishment=est,
        class_group=a["class"],
        thread=a["post"],
        author=a["teacher"],
        body="Le sujet",
        file=a["space_file"],
    )


def url(s, name, **kwargs):
    """The URL of an establishment page of the school `s`."""
    return reverse(name, kwargs={"uai": s["est"].uai, **kwargs})


def import_file(client, s, name: str, data: bytes, fmt: str = "") -> str:
    """Send a timetable file on the import page, run its job here as the worker would
    (preau.timetable.imports.make), and return the import's page as the user then reads it."""
    from preau.timetable import imports
    from preau.timetable.models import TimetableImport

    response = client.post(url(s, "timetable_import"), {"file": upload(name, data), "format": fmt})
    assert response.status_code == 302, response.content.decode()[-3000:]
    imports.make(TimetableImport.objects.latest("pk").pk)
    page = client.get(response.url)
    assert page.status_code == 200
    return page.content.decode()
