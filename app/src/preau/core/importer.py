"""Apply a validated directory feed to one establishment, in one transaction, with bulk queries.

Re-applying the same feed changes nothing. Users absent from a complete feed are marked gone
(membership.gone_since), never deleted here: purge_gone does that after the retention delays.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from preau.core import metrics
from preau.core.aaf import parse_aaf
from preau.core.accounts import make_username
from preau.core.feed import Feed, Person, parse_date
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    Membership,
    OperationLog,
    ParentLink,
    Platform,
    Profile,
    Subject,
    TeachingAssignment,
    User,
    lock_directory,
)

PERSON_FIELDS = ("first_name", "last_name", "title", "birth_date", "email", "ine")


class ImportRejected(Exception):
    def __init__(self, errors):
        super().__init__(f"{len(errors)} erreur(s) dans le flux")
        self.errors = errors


def known_parent_keys(establishment: Establishment, feed: Feed) -> set[str]:
    """Parents already in the database count as known, unless this feed replaces them (a
    complete PersRelEleve file; a delta's only adds or changes some)."""
    if "PersRelEleve" in feed.categories and not feed.delta:
        return set()
    return set(
        Membership.objects.of(establishment)
        .present()
        .filter(profile=Profile.TUT)
        .values_list("user__join_key", flat=True)
    )


def import_aaf(establishment: Establishment, paths: list[str], dry_run: bool = False) -> dict:
    feed = parse_aaf(establishment.uai, establishment.join_key, paths)
    return apply_feed(establishment, feed, Membership.Source.AAF, "import_aaf", dry_run)


def import_csv(establishment: Establishment, paths: list[str], dry_run: bool = False) -> dict:
    feed = parse_csv(paths)
    return apply_feed(establishment, feed, Membership.Source.CSV, "import_csv", dry_run)


def apply_feed(establishment, feed: Feed, source: str, kind: str, dry_run: bool) -> dict:
    if not feed.errors:
        feed.validate(known_parent_keys(establishment, feed))
    if feed.errors:
        metrics.IMPORTS.labels(kind=kind, result="rejected").inc()
        raise ImportRejected(feed.errors)
    with transaction.atomic():
        lock_directory()
        establishment = Establishment.objects.get(pk=establishment.pk)
        report = Applier(establishment, feed, source).run()
        report.update(uai=establishment.uai, files=feed.files, dry_run=dry_run, kind=kind)
        OperationLog.objects.create(establishment=establishment, kind=kind, summary=report)
        if dry_run:
            transaction.set_rollback(True)
    metrics.IMPORTS.labels(kind=kind, result="dry_run" if dry_run else "ok").inc()
    return report


class Applier:
    def __init__(self, establishment: Establishment, feed: Feed, source: str) -> None:
        self.est = establishment
        self.feed = feed
        self.source = source
        self.year = Platform.current_school_year()
        self.today = timezone.localdate()
        self.counts: dict[str, Counter] = {
            k: Counter()
            for k in (
                "users",
                "memberships",
                "classes",
                "subjects",
                "class_memberships",
                "teachings",
                "parent_links",
            )
        }

    def run(self) -> dict:
        if self.feed.structure_join_key and self.feed.structure_join_key != self.est.join_key:
            self.est.join_key = self.feed.structure_join_key
            self.est.save(update_fields=["join_key"])
        users = self._users()
        self._memberships(users)
        classes = self._classes()
        if "Eleve" in self.feed.categories or self.source == Membership.Source.CSV:
            self._class_memberships(users, classes)
            self._parent_links(users)
        if "PersEducNat" in self.feed.categories or self.source == Membership.Source.CSV:
            self._teachings(users, classes)
        report: dict[str, Any] = {
            name: {k: counter.get(k, 0) for k in ("created", "updated", "deleted", "gone")}
            for name, counter in self.counts.items()
        }
        # "updated" in the totals = any change to an existing row (update, deletion, gone).
        report["totals"] = {
            "created": sum(c["created"] for c in report.values()),
            "updated": sum(c["updated"] + c["deleted"] + c["gone"] for c in report.values()),
        }
        report["persons_in_feed"] = len(self.feed.persons)
        report["notices"] = list(self.feed.notices)
        return report

    def _users(self) -> dict[str, User]:
        persons = self.feed.persons
        existing = {
            u.join_key: u for u in User.objects.filter(join_key__in=[p.join_key for p in persons])
        }
        taken = set(User.objects.values_list("username", flat=True))
        to_create, to_update = [], []
        for person in persons:
            values = {
                f: getattr(person, f) if getattr(person, f) is not None else None
                for f in PERSON_FIELDS
            }
            values["ine"] = values["ine"] or None
            user = existing.get(person.join_key)
            if user is None:
                user = User(
                    join_key=person.join_key,
                    username=make_username(person.first_name, person.last_name, taken),
                    **values,
                )
                user.set_unusable_password()
                to_create.append(user)
            else:
                changed = any(getattr(user, f) != v for f, v in values.items())
                if not user.is_active and user.merged_into_id is None:
                    # Back in the directory after retention disabled the account (a local admin's
                    # disabling is on the membership, which stays disabled).
                    user.is_active, user.disabled_at, changed = True, None, True
                if changed:
                    for f, v in values.items():
                        setattr(user, f, v)
                    to_update.append(user)
        User.objects.bulk_create(to_create, batch_size=1000)
        User.objects.bulk_update(
            to_update, [*PERSON_FIELDS, "is_active", "disabled_at"], batch_size=1000
        )
        self.counts["users"].update(created=len(to_create), updated=len(to_update))
        existing.update({u.join_key: u for u in to_create})
        return cast("dict[str, User]", existing)  # every join_key here is a person's

    def _memberships(self, users: dict[str, User]) -> None:
        current = {m.user_id: m for m in Membership.objects.of(self.est)}
        to_create, to_update = [], []
        seen = set()
        for person in self.feed.persons:
            user = users[person.join_key]
            seen.add(user.pk)
            membership = current.get(user.pk)
            if membership is None:
                to_create.append(
                    Membership(
                        user=user,
                        establishment=self.est,
                        profile=person.profile,
                        source=self.source,
                    )
                )
            elif membership.profile != person.profile or membership.gone_since is not None:
                if membership.profile != person.profile:
                    self._profile_changed(person, user, membership.profile)
                membership.profile = person.profile
                membership.gone_since = None
                to_update.append(membership)
        Membership.objects.bulk_create(to_create, batch_size=1000)
        Membership.objects.bulk_update(to_update, ["profile", "gone_since"], batch_size=1000)
        gone_count = self.gone_members(self.est, self.feed, seen).update(gone_since=self.today)
        self.counts["memberships"].update(
            created=len(to_create), updated=len(to_update), gone=gone_count
        )

    @staticmethod
    def gone_members(establishment, feed: Feed, seen=()):
        """The members this feed makes gone (marked, never deleted: purge_gone does that after
        the retention delays): a complete feed's absent members of the profiles it covers, a
        delta's deleted persons; manual memberships never."""
        present = (
            Membership.objects.of(establishment).present().exclude(source=Membership.Source.MANUAL)
        )
        if feed.delta:
            return present.filter(user__join_key__in=feed.deleted.keys())
        return present.filter(
            profile__in=feed.covered_profiles or {p.profile for p in feed.persons}
        ).exclude(user_id__in=seen)

    def _profile_changed(self, person: Person, user: User, old: str) -> None:
        """A member whose profile changes (e.g. a secretary no longer in vie scolaire): the
        report names them, rights can be lost."""
        self.feed.notice(
            person.file,
            person.record,
            f"{user.first_name} {user.last_name}".strip(),
            f"profil modifié : {Profile(old).label} → {Profile(person.profile).label}",
        )

    def _classes(self) -> dict[tuple[str, str], ClassGroup]:
        wanted: set[tuple[str, str]] = set()
        for person in self.feed.persons:
            wanted.update(("class", n) for n in person.classes)
            wanted.update(("group", n) for n in person.groups)
            wanted.update(t[:2] for t in person.teaches)
        existing = {
            (c.kind, c.name): c
            for c in ClassGroup.objects.of(self.est).filter(school_year=self.year)
        }
        new = [
            ClassGroup(establishment=self.est, kind=k, name=n, school_year=self.year)
            for k, n in sorted(wanted - existing.keys())
        ]
        ClassGroup.objects.bulk_create(new)
        self.counts["classes"].update(created=len(new))
        existing.update({(c.kind, c.name): c for c in new})
        return existing

    def _sync(self, name, model, existing: dict, desired: dict, update_field=None) -> None:
        """Make rows keyed like `desired` exist (with its value in update_field), drop others."""
        create = [desired[k][0] for k in desired.keys() - existing.keys()]
        model.objects.bulk_create(create, batch_size=1000)
        delete = [existing[k].pk for k in existing.keys() - desired.keys()]
        model.objects.filter(pk__in=delete).delete()
        updated = []
        if update_field:
            for key in desired.keys() & existing.keys():
                row, value = existing[key], desired[key][1]
                if getattr(row, update_field) != value:
                    setattr(row, update_field, value)
                    updated.append(row)
            model.objects.bulk_update(updated, [update_field])
        self.counts[name].update(created=len(create), deleted=len(delete), updated=len(updated))

    def _class_memberships(self, users, classes) -> None:
        students = {users[p.join_key].pk: p for p in self.feed.persons if p.profile == Profile.ELV}
        desired = {}
        for user_id, person in students.items():
            for kind, names in (("class", person.classes), ("group", person.groups)):
                for n in set(names):
                    group = classes[(kind, n)]
                    desired[(group.pk, user_id)] = (
                        ClassMembership(class_group=group, user_id=user_id),
                        None,
                    )
        existing = {
            (m.class_group_id, m.user_id): m
            for m in ClassMembership.objects.filter(
                class_group__establishment=self.est,
                class_group__school_year=self.year,
                user_id__in=students.keys(),
            )
        }
        self._sync("class_memberships", ClassMembership, existing, desired)

    def _teachings(self, users, classes) -> None:
        teachers = {users[p.join_key].pk: p for p in self.feed.persons if p.teaches}
        staff_ids = [
            users[p.join_key].pk
            for p in self.feed.persons
            if p.profile not in (Profile.ELV, Profile.TUT)
        ]
        codes = {t[2] for p in teachers.values() for t in p.teaches if t[2]}
        subjects = {s.code: s for s in Subject.objects.of(self.est)}
        new_subjects = [
            Subject(establishment=self.est, code=c, label=c)
            for c in sorted(codes - subjects.keys())
        ]
        Subject.objects.bulk_create(new_subjects)
        subjects.update({s.code: s for s in new_subjects})
        self.counts["subjects"].update(created=len(new_subjects))
        desired = {}
        for user_id, person in teachers.items():
            for kind, name, code in person.teaches:
                group, subject = classes[(kind, name)], subjects.get(code)
                key = (user_id, group.pk, subject.pk if subject else None)
                desired[key] = (
                    TeachingAssignment(
                        establishment=self.est,
                        teacher_id=user_id,
                        class_group=group,
                        subject=subject,
                    ),
                    None,
                )
        existing = {
            (t.teacher_id, t.class_group_id, t.subject_id): t
            for t in TeachingAssignment.objects.of(self.est).filter(
                class_group__school_year=self.year, teacher_id__in=staff_ids
            )
        }
        self._sync("teachings", TeachingAssignment, existing, desired)

    def _parent_links(self, users) -> None:
        by_key = {k: u.pk for k, u in users.items()}
        missing = {k for p in self.feed.persons for k in p.guardians + p.contacts} - by_key.keys()
        by_key.update(User.objects.filter(join_key__in=missing).values_list("join_key", "pk"))
        desired = {}
        children = []
        for person in self.feed.persons:
            if person.profile != Profile.ELV:
                continue
            child_id = users[person.join_key].pk
            children.append(child_id)
            for key, legal in [(k, False) for k in person.contacts] + [
                (k, True) for k in person.guardians
            ]:
                parent_id = by_key[key]
                desired[(parent_id, child_id)] = (
                    ParentLink(
                        establishment=self.est,
                        parent_id=parent_id,
                        child_id=child_id,
                        legal_guardian=legal,
                    ),
                    legal,
                )
        existing = {
            (link.parent_id, link.child_id): link
            for link in ParentLink.objects.of(self.est).filter(child_id__in=children)
        }
        self._sync("parent_links", ParentLink, existing, desired, update_field="legal_guardian")


# --- CSV -----------------------------------------------------------------------------------

CSV_COLUMNS = [
    "profil",
    "identifiant",
    "nom",
    "prenom",
    "date_naissance",
    "classe",
    "groupes",
    "responsables",
    "email",
    "ine",
]


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split("|") if v.strip()]


def _read_csv(feed: Feed, path: str, name: str) -> list[dict[str, str]] | None:
    """The rows of one file, or None once the feed has recorded why they cannot be read."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter=";"))
            header = rows[0].keys() if rows else []
    except FileNotFoundError:
        feed.error(name, "-", "-", "fichier introuvable")
        return None
    except (UnicodeDecodeError, csv.Error) as exc:
        feed.error(name, "-", "-", f"CSV illisible ({exc})")
        return None
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        feed.error(name, "-", ",".join(missing) or "-", "colonnes manquantes ou fichier vide")
        return None
    return rows


def _csv_person(feed: Feed, name: str, line: int, row: dict[str, str]) -> Person | None:
    """The person of one row, or None once the feed has recorded what is wrong with it."""
    record = f"ligne {line}"
    profile = (row["profil"] or "").strip().upper()
    join_key = (row["identifiant"] or "").strip()
    if join_key:
        record = f"ligne {line} ({join_key})"
    ok = True
    if profile not in Profile.values:
        feed.error(name, record, "profil", f"profil inconnu « {profile} »")
        ok = False
    if not join_key:
        feed.error(name, record, "identifiant", "clé de jointure manquante")
        ok = False
    if not (row["nom"] or "").strip():
        feed.error(name, record, "nom", "nom de famille manquant")
        ok = False
    birth = None
    if (row["date_naissance"] or "").strip():
        birth = parse_date(row["date_naissance"])
        if birth is None:
            feed.error(
                name,
                record,
                "date_naissance",
                f"date impossible « {row['date_naissance']} » (attendu JJ/MM/AAAA)",
            )
            ok = False
    if not ok:
        return None
    person = Person(
        file=name,
        record=record,
        profile=profile,
        join_key=join_key,
        last_name=row["nom"].strip(),
        first_name=(row["prenom"] or "").strip(),
        birth_date=birth,
        email=(row["email"] or "").strip(),
        ine=(row["ine"] or "").strip(),
        parent_attribute="responsables",
        class_attribute="classe",
    )
    if profile == Profile.ELV:
        person.classes = _split(row["classe"])
        person.groups = _split(row["groupes"])
        person.guardians = _split(row["responsables"])
    elif profile in (Profile.ENS, Profile.DIR, Profile.EVS):
        person.teaches = [("class", n, "") for n in _split(row["classe"])] + [
            ("group", n, "") for n in _split(row["groupes"])
        ]
    return person


def parse_csv(paths: list[str]) -> Feed:
    """Semicolon-separated UTF-8 file with the CSV_COLUMNS header (see README)."""
    feed = Feed()
    for path in paths:
        name = Path(path).name
        feed.files.append(name)
        for line, row in enumerate(_read_csv(feed, path, name) or [], start=2):
            person = _csv_person(feed, name, line, row)
            if person is not None:
                feed.persons.append(person)
    # A CSV file is complete for every profile it contains.
    feed.categories = {
        c
        for c, profiles in {
            "Eleve": {"ELV"},
            "PersRelEleve": {"TUT"},
            "PersEducNat": {"ENS", "DIR", "EVS", "ETA"},
        }.items()
        if profiles & {p.profile for p in feed.persons}
    }
    return feed
