import tempfile

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count

from preau.core import importer
from preau.core.generator import generate
from preau.core.management.base import OpsCommand
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    Membership,
    ParentLink,
    Platform,
    Subject,
    TeachingAssignment,
    User,
)
from preau.ent.demo import seed_services

DEMO_PASSWORD = "demo-preau-2026"
ESTABLISHMENTS = [
    ("0820021C", "Collège Jean Moulin", "Montauban"),
    ("0820010R", "Collège Olympe de Gouges", "Castelsarrasin"),
]
# username, first name, last name, profile, local admin
DEMO_USERS = [
    ("demo.eleve", "Léa", "MARTIN", "ELV", False),
    ("demo.parent", "Sophie", "MARTIN", "TUT", False),
    ("demo.prof", "Julien", "FABRE", "ENS", False),
    ("demo.direction", "Hélène", "CASTEX", "DIR", False),
    ("demo.viescolaire", "Cédric", "LAFON", "EVS", False),
    ("demo.agent", "Pascal", "MOULIS", "ETA", False),
    ("demo.adml", "Anne", "DELPECH", "DIR", True),
]


class Command(OpsCommand):
    refused_in_production = True
    help = (
        f"Create two demo establishments with a generated directory and one demo login per "
        f"profile (password {DEMO_PASSWORD!r}), plus demo.admc (platform admin). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--students", type=int, default=60, help="generated students per establishment"
        )
        parser.add_argument(
            "--class-logins",
            type=int,
            default=0,
            metavar="N",
            help="also give N generated pupils of the first collège the demo password "
            "(a class logging in at once: tests/lab/test_34_login.py)",
        )

    def run(self, students=60, dry_run=False, class_logins=0, **_):
        password = make_password(DEMO_PASSWORD)
        with transaction.atomic():
            establishments = []
            for uai, name, town in ESTABLISHMENTS:
                est, _ = Establishment.objects.get_or_create(
                    uai=uai, defaults={"name": name, "town": town}
                )
                establishments.append(est)
                if students:
                    with tempfile.TemporaryDirectory() as tmp:
                        feed = generate(tmp, students, uai=uai, name=name, town=town)
                        importer.import_aaf(est, feed["files"])
            main, second = establishments
            year = Platform.current_school_year()
            users = {}
            for username, first, last, profile, adml in DEMO_USERS:
                user, _ = User.objects.update_or_create(
                    username=username,
                    defaults={
                        "first_name": first,
                        "last_name": last,
                        "password": password,
                        "is_active": True,
                    },
                )
                users[username] = user
                Membership.objects.update_or_create(
                    user=user,
                    establishment=main,
                    defaults={"profile": profile, "is_local_admin": adml, "gone_since": None},
                )
            # The teacher also works in the second collège; ADML there too for the admin.
            Membership.objects.update_or_create(
                user=users["demo.prof"],
                establishment=second,
                defaults={"profile": "ENS", "gone_since": None},
            )
            Membership.objects.update_or_create(
                user=users["demo.adml"],
                establishment=second,
                defaults={"profile": "DIR", "is_local_admin": True, "gone_since": None},
            )
            klass, _ = ClassGroup.objects.get_or_create(
                establishment=main, kind="class", name="5A", school_year=year
            )
            ClassMembership.objects.get_or_create(class_group=klass, user=users["demo.eleve"])
            subject, _ = Subject.objects.get_or_create(
                establishment=main, code="MATHEMATIQUES", defaults={"label": "Mathématiques"}
            )
            TeachingAssignment.objects.get_or_create(
                establishment=main, teacher=users["demo.prof"], class_group=klass, subject=subject
            )
            ParentLink.objects.get_or_create(
                establishment=main, parent=users["demo.parent"], child=users["demo.eleve"]
            )
            content = seed_services(main, users, klass, subject)
            admc, _ = User.objects.update_or_create(
                username="demo.admc",
                defaults={
                    "first_name": "Admin",
                    "last_name": "PLATEFORME",
                    "password": password,
                    "is_superuser": True,
                    "is_staff": True,
                    "is_active": True,
                },
            )
            result = {
                "dry_run": dry_run,
                "password": DEMO_PASSWORD,
                "content": content,
                "establishments": [
                    {"uai": e.uai, "name": e.name, "town": e.town} for e in establishments
                ],
                "logins": [
                    {
                        "username": u,
                        "profile": p,
                        "local_admin": a,
                        "establishments": [main.uai]
                        + ([second.uai] if u in ("demo.prof", "demo.adml") else []),
                    }
                    for u, _, _, p, a in DEMO_USERS
                ]
                + [
                    {
                        "username": "demo.admc",
                        "profile": "ADMC",
                        "local_admin": False,
                        "establishments": "all",
                    }
                ],
            }
            result["class_logins"] = self.class_logins(main, class_logins, password)
            result["federation"] = self.federated_identities(main) if students else {}
            if dry_run:
                transaction.set_rollback(True)
        return result

    def class_logins(self, establishment, count: int, password: str) -> list[str]:
        """The usernames of `count` generated pupils, given the demo password."""
        pupils = list(
            Membership.objects.filter(establishment=establishment, profile="ELV")
            .exclude(user__username__startswith="demo.")
            .order_by("user__username")
            .values_list("user_id", "user__username")[:count]
        )
        User.objects.filter(pk__in=[pk for pk, _ in pupils]).update(password=password)
        return [username for _, username in pupils]

    def federated_identities(self, establishment) -> dict:
        """Who the lab's stand-in IdPs log in (preau_ops/lab/partners.py), by the identifiers
        the generated AAF feed gave them, as ÉduConnect and the agents IdP would carry them
        (preau.federation.matching): a legal guardian of two pupils of the first collège, the
        first of those pupils, and a teacher. Generated accounts only: the demo logins have
        no AAF identifiers."""
        twice = (
            ParentLink.objects.filter(
                establishment=establishment,
                legal_guardian=True,
                child__ine__isnull=False,
                parent__join_key__isnull=False,
            )
            .exclude(parent__username__startswith="demo.")
            .values("parent_id")
            .annotate(children=Count("child_id"))
            .filter(children__gte=2)
            .order_by("parent_id")
        )
        teacher = (
            User.objects.filter(
                pk__in=Membership.objects.current()
                .filter(establishment=establishment, profile="ENS")
                .values("user_id"),
                is_active=True,
            )
            .exclude(username__startswith="demo.")
            .filter(join_key__isnull=False)
            .order_by("username")
            .first()
        )
        first = twice.first()
        if first is None or teacher is None:
            return {}
        parent = User.objects.get(pk=first["parent_id"])
        children = list(
            User.objects.filter(
                pk__in=ParentLink.objects.filter(
                    establishment=establishment, parent=parent, legal_guardian=True
                ).values("child_id"),
                ine__isnull=False,
            ).order_by("username")[:2]
        )
        return {
            "pupil": {
                "username": children[0].username,
                "ine": children[0].ine,
                "name": f"{children[0].first_name} {children[0].last_name}",
            },
            "parent": {
                "username": parent.username,
                "join_key": parent.join_key,
                "children": [
                    {"username": c.username, "ine": c.ine, "name": f"{c.first_name} {c.last_name}"}
                    for c in children
                ],
            },
            "teacher": {"username": teacher.username, "join_key": teacher.join_key},
        }

    def render(self, r):
        lines = ["Démo" + (" (SIMULATION)" if r["dry_run"] else "") + " :"]
        lines += [f"  {e['uai']} {e['name']} ({e['town']})" for e in r["establishments"]]
        lines.append(f"Identifiants (mot de passe « {r['password']} ») :")
        lines += [
            f"  {login['username']:18} {login['profile']}{' + ADML' if login['local_admin'] else ''}"
            for login in r["logins"]
        ]
        return "\n".join(lines)
