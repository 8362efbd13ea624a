#!/usr/bin/env python3
"""Sessions of a sample of the benchmark data set's members (`preau-manage seed_bench`), with the
pages each one visits: the sessions file that scripts/load_mix.lua reads (cookie, login, URLs).

Shared by scripts/benchmark_load.py (on this machine) and the bundle's `deploy.py bench` (run on an
app host with the release's Python, against the platform's database):

    DJANGO_SETTINGS_MODULE=preau.settings python bench_sessions.py sessions.tsv   # or - for stdout

Sessions are written like a login would (no password hashing); the counts by profile go to stderr
as JSON.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

# The load benchmark's sample: students, parents, teachers, vie scolaire and direction.
SAMPLE = {"ELV": 1500, "TUT": 1500, "ENS": 300, "EVS+DIR": 60}


# Today's 8:00 lesson: the roll call every teacher of the sample saves, then corrects.
LESSON_START = "08:00"


def roll_call_saves(url: str, pupil_id: int) -> list[str]:
    """A roll call's save (the pupil absent) and its correction (present again), as load_mix.lua
    posts them: 'POST:' URL '|' form (the CSRF field is the script's). Each entry says what the
    page showed (avant_): a save after the other one's, or after a colleague's, corrects it."""
    from django.utils import timezone

    lesson = f"date={timezone.localdate().isoformat()}&start={LESSON_START.replace(':', '%3A')}"
    return [
        f"POST:{url}|{lesson}&etat_{pupil_id}=absent&avant_{pupil_id}=present",
        f"POST:{url}|{lesson}&etat_{pupil_id}=present&avant_{pupil_id}=absent",
    ]


def open_sessions(path: Path, per_profile: dict[str, int]) -> dict:
    """Sessions of a sample of members, with the URLs each one visits (weighted by repetition)."""
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806 (as a login would)

    from preau.core.models import ClassMembership, Membership, ParentLink
    from preau.documents.models import Document
    from preau.grades.models import Assessment
    from preau.messaging.models import Participant
    from preau.twofactor.policy import SESSION_REQUIRED, needs_second_factor

    rng = random.Random(7)
    lines, counts = [], {}
    for profile, wanted in per_profile.items():
        members = list(
            Membership.objects.filter(
                establishment__uai__startswith="0825", profile__in=profile.split("+")
            )
            .select_related("user", "establishment")
            .order_by("?")[:wanted]
        )
        counts[profile] = len(members)
        user_ids = [m.user_id for m in members]
        children = dict(
            ParentLink.objects.filter(parent_id__in=user_ids).values_list("parent_id", "child_id")
        )
        pupils = set(user_ids) | set(children.values())
        conversation = dict(
            Participant.objects.filter(user_id__in=set(user_ids) | pupils).values_list(
                "user_id", "conversation_id"
            )
        )
        class_of = dict(
            ClassMembership.objects.filter(
                user_id__in=pupils, class_group__kind="class"
            ).values_list("user_id", "class_group_id")
        )
        file_of = dict(Document.objects.values_list("class_group_id", "file_id"))
        assessment_of = {
            t: (a, c)
            for t, a, c in Assessment.objects.filter(teacher_id__in=user_ids).values_list(
                "teacher_id", "pk", "class_group_id"
            )
        }
        # A pupil of each class a teacher of the sample assesses: the one their roll call marks.
        pupil_of_class: dict[int, int] = {}
        for klass, pupil_id in (
            ClassMembership.objects.filter(
                class_group_id__in={c for _, c in assessment_of.values()},
                user__memberships__profile="ELV",
            )
            .order_by("user_id")
            .values_list("class_group_id", "user_id")
        ):
            pupil_of_class.setdefault(klass, pupil_id)
        for m in members:
            e = f"/e/{m.establishment.uai}/"
            urls = [e] * 3 + [e + "messagerie/"] * 2
            pupil = m.user_id if profile == "ELV" else children.get(m.user_id)
            if profile in ("ELV", "TUT"):
                urls += (
                    [e + "notes/"] * 2
                    + [e + "cahier-de-textes/"] * 2
                    + [e + "emploi-du-temps/", e + "documents/"]
                )
                urls += [e + "vie-scolaire/"] * (2 if profile == "TUT" else 1)
                if pupil in class_of and class_of[pupil] in file_of:
                    urls.append(f"{e}fichiers/{file_of[class_of[pupil]]}/")
            elif profile == "ENS":
                urls += [
                    e + "notes/",
                    e + "cahier-de-textes/",
                    e + "documents/",
                    e + "emploi-du-temps/",
                ]
                if m.user_id in assessment_of:
                    assessment, klass = assessment_of[m.user_id]
                    urls += [f"{e}notes/evaluations/{assessment}/"] * 2 + [
                        f"{e}notes/classes/{klass}/",
                        f"{e}vie-scolaire/appel/{klass}/",
                    ]
                    if klass in pupil_of_class:
                        urls += roll_call_saves(
                            f"{e}vie-scolaire/appel/{klass}/", pupil_of_class[klass]
                        )
            else:
                urls += [e + "vie-scolaire/"] * 3 + [e + "actualites/"]
            if m.user_id in conversation:
                urls.append(f"{e}messagerie/{conversation[m.user_id]}/")
            session = SessionStore()
            session[SESSION_KEY] = str(m.user_id)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = m.user.get_session_auth_hash()
            session[SESSION_REQUIRED] = needs_second_factor(m.user)  # as a login decides it
            session.create()
            lines.append("\t".join([session.session_key, m.user.username, *urls]))
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preau.settings")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "sessions.tsv" if argv[0] == "-" else Path(argv[0])
        counts = open_sessions(target, SAMPLE)
        if argv[0] == "-":
            sys.stdout.write(target.read_text(encoding="utf-8"))
    print(json.dumps(counts), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
