"""Merging establishments ("fusion"): SRC is absorbed into DST, in one transaction.

Rules (docs/domain.md): every account survives; the same person in both (same join key, or
same INE for students) ends as one account; classes and groups move, renamed on a name clash;
history (operation log, past years) is kept and SRC's past years become read-only; SRC's UAI
becomes an alias of DST. Counts before/after are checked: any loss aborts the transaction.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Count
from django.utils import timezone

from preau.core import metrics
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    EstablishmentAlias,
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


class MergeError(Exception):
    pass


def _all_service_models() -> list:
    """Every model of the services (preau.ent and one app per service: SERVICE_APPS)."""
    from django.apps import apps

    from preau.ent.apps import SERVICE_APPS

    return [m for label in SERVICE_APPS for m in apps.get_app_config(label).get_models()]


def service_models():
    """Models of the services that belong to an establishment directly."""
    return [
        m
        for m in _all_service_models()
        if any(f.name == "establishment" for f in m._meta.concrete_fields)
    ]


def _user_fields(model) -> list[str]:
    return [
        f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is User
    ]


def counts(establishment: Establishment, using: str = DEFAULT_DB_ALIAS) -> dict:
    """What an establishment holds; compared before and after a merge. `using`: the database
    read (core.unmerge compares a copy of the database taken before the merge with it)."""
    memberships = Membership.objects.using(using).of(establishment)
    by_profile = dict(memberships.values_list("profile").annotate(n=Count("id")))

    def n(model, **where) -> int:
        return model.objects.using(using).of(establishment).filter(**where).count()

    return {
        "memberships": memberships.count(),
        "by_profile": {p: by_profile.get(p, 0) for p in Profile.values},
        "classes": n(ClassGroup, kind="class"),
        "groups": n(ClassGroup, kind="group"),
        "class_memberships": n(ClassMembership),
        "subjects": n(Subject),
        "teachings": n(TeachingAssignment),
        "parent_links": n(ParentLink),
        "operations": n(OperationLog),
        "aliases": EstablishmentAlias.objects.using(using)
        .filter(establishment=establishment)
        .count(),
        # History of the services (absences, grades, logbook, messages, documents...) moves too.
        "services": {m.__name__: n(m) for m in service_models()},
    }


def _duplicate_users(src: Establishment, dst: Establishment) -> list[tuple[User, User]]:
    """(src_user, dst_user) pairs that are the same person under two accounts (same INE).

    The same join key is already one account (join keys are unique), so only INE matches of
    students with two different accounts need folding."""
    dst_by_ine = {
        u.ine: u
        for u in User.objects.filter(
            memberships__establishment=dst, memberships__profile=Profile.ELV, ine__isnull=False
        ).exclude(ine="")
    }
    pairs = []
    for user in User.objects.filter(
        memberships__establishment=src, memberships__profile=Profile.ELV, ine__in=dst_by_ine.keys()
    ):
        other = dst_by_ine[user.ine]
        if other.pk != user.pk:
            pairs.append((user, other))
    return pairs


class Merger:
    """Each step is a method so that tests can inject a failure between steps."""

    def __init__(self, src: Establishment, dst: Establishment) -> None:
        self.src, self.dst = src, dst
        self.year = Platform.current_school_year()
        self.report: dict = {
            "src": src.uai,
            "dst": dst.uai,
            "renamed_classes": [],
            "merged_accounts": [],
            "merged_memberships": 0,
            "merged_subjects": 0,
            "merged_parent_links": 0,
            "merged_class_memberships": 0,
            "merged_teachings": 0,
            "merged_service_rows": {},
            "cas_services": {"moved": [], "dropped": []},
            "gar": {"enabled": False, "resources_moved": [], "resources_merged": []},
        }

    steps = (
        "fold_duplicate_accounts",
        "move_memberships",
        "move_classes",
        "move_subjects",
        "move_periods",
        "move_relations",
        "move_services",
        "move_cas_services",
        "move_gar",
        "retire_src",
    )

    def run(self) -> dict:
        self.report["before"] = {"src": counts(self.src), "dst": counts(self.dst)}
        for step in self.steps:
            getattr(self, step)()
        self.report["after"] = {"src": counts(self.src), "dst": counts(self.dst)}
        self.report["checks"] = self.check()
        failed = [c for c in self.report["checks"] if not c["ok"]]
        if failed:
            raise MergeError(
                "contrôle des comptes en échec : "
                + "; ".join(
                    f"{c['what']} attendu {c['expected']}, obtenu {c['actual']}" for c in failed
                )
            )
        return self.report

    def fold_duplicate_accounts(self) -> None:
        for src_user, dst_user in _duplicate_users(self.src, self.dst):
            # Move everything of the duplicate onto the kept account, then retire it.
            for model, fields in (
                (ClassMembership, ["user"]),
                (TeachingAssignment, ["teacher"]),
                (ParentLink, ["parent", "child"]),
            ):
                for f in fields:
                    for row in model.objects.filter(**{f: src_user}):
                        setattr(row, f, dst_user)
                        clash = model.objects.filter(
                            **{
                                k.name: getattr(row, k.name)
                                for k in model._meta.concrete_fields
                                if k.name != "id"
                                and not (model is ParentLink and k.name == "legal_guardian")
                            }
                        ).exclude(pk=row.pk)
                        if clash.exists():
                            row.delete()
                            self.report[
                                {
                                    ClassMembership: "merged_class_memberships",
                                    TeachingAssignment: "merged_teachings",
                                    ParentLink: "merged_parent_links",
                                }[model]
                            ] += 1
                        else:
                            # update(), not save(): past years' rows are read-only for users, not for merges
                            model.objects.filter(pk=row.pk).update(**{f: dst_user})
            for membership in Membership.objects.filter(user=src_user):
                if Membership.objects.filter(
                    user=dst_user, establishment=membership.establishment
                ).exists():
                    membership.delete()
                    self.report["merged_memberships"] += 1
                else:
                    membership.user = dst_user
                    membership.save(update_fields=["user"])
            self.fold_service_rows(src_user, dst_user)
            self.fold_pending_broadcasts(src_user, dst_user)
            src_user.is_active = False
            src_user.merged_into = dst_user
            src_user.join_key = None if dst_user.join_key else src_user.join_key
            src_user.save(update_fields=["is_active", "merged_into", "join_key"])
            self.report["merged_accounts"].append(
                {"kept": dst_user.username, "absorbed": src_user.username, "ine": dst_user.ine}
            )

    def fold_service_rows(self, src_user: User, dst_user: User) -> None:
        """The duplicate's school life (absences, grades, messages...) follows the kept account.
        A row that would then exist twice (e.g. the same lesson's absence recorded in both
        establishments) is one row: the duplicate is dropped and counted."""
        from django.db import IntegrityError

        for model in _all_service_models():
            for f in _user_fields(model):
                for pk in model.objects.filter(**{f: src_user}).values_list("pk", flat=True):
                    try:
                        with transaction.atomic():
                            model.objects.filter(pk=pk).update(**{f: dst_user})
                    except IntegrityError:
                        model.objects.filter(pk=pk).delete()
                        merged = self.report["merged_service_rows"]
                        merged[model.__name__] = merged.get(model.__name__, 0) + 1

    def fold_pending_broadcasts(self, src_user: User, dst_user: User) -> None:
        """A group message waiting for its job (messaging.groups) names the people chosen one
        by one by their account, resolved at delivery: the duplicate's becomes the kept one,
        who receives it (an absorbed account is inactive and would be left out). Its groups
        need nothing: they name classes by id, and classes move with their ids; the job reads
        the message's establishment, which move_services changes, when it delivers."""
        from preau.messaging.models import Broadcast

        pending = Broadcast.objects.filter(
            delivered_at=None, targets__users__contains=[src_user.pk]
        ).select_for_update()
        for broadcast in pending:
            chosen = [dst_user.pk if pk == src_user.pk else pk for pk in broadcast.targets["users"]]
            broadcast.targets = {**broadcast.targets, "users": list(dict.fromkeys(chosen))}
            broadcast.save(update_fields=["targets"])

    def move_memberships(self) -> None:
        dst_members = {m.user_id: m for m in Membership.objects.of(self.dst)}
        for membership in Membership.objects.of(self.src).filter(user_id__in=dst_members.keys()):
            # Same person in both: one membership; keep admin rights and presence.
            kept = dst_members[membership.user_id]
            kept.is_local_admin |= membership.is_local_admin
            if kept.gone_since and not membership.gone_since:
                kept.gone_since = None
            kept.save(update_fields=["is_local_admin", "gone_since"])
            membership.delete()
            self.report["merged_memberships"] += 1
        Membership.objects.of(self.src).update(establishment=self.dst)

    def move_classes(self) -> None:
        taken = set(ClassGroup.objects.of(self.dst).values_list("kind", "name", "school_year"))
        for group in ClassGroup.objects.of(self.src).order_by("school_year", "name"):
            name = group.name
            if (group.kind, name, group.school_year) in taken:
                # Never mix two classes: rename the absorbed one.
                name = f"{group.name} ({self.src.uai})"
                n = 2
                while (group.kind, name, group.school_year) in taken:
                    name, n = f"{group.name} ({self.src.uai}-{n})", n + 1
                self.report["renamed_classes"].append(
                    {
                        "from": group.name,
                        "to": name,
                        "kind": group.kind,
                        "school_year": group.school_year,
                    }
                )
            taken.add((group.kind, name, group.school_year))
            group.name = name
            group.establishment = self.dst
            group.read_only = group.read_only or group.school_year < self.year
            group.save(update_fields=["name", "establishment", "read_only"])

    def move_subjects(self) -> None:
        dst_subjects = {s.code: s for s in Subject.objects.of(self.dst)}
        for subject in Subject.objects.of(self.src):
            same = dst_subjects.get(subject.code)
            if same is None:
                subject.establishment = self.dst
                subject.save(update_fields=["establishment"])
                continue
            # A subject is a shared label, not a group of people: the same code is one subject.
            TeachingAssignment.objects.filter(subject=subject).update(subject=same)
            # Every service row naming it, those scoped through another row too (a grade
            # period's appreciations): deleting the subject would delete them (CASCADE).
            for model in _all_service_models():
                if any(
                    f.name == "subject" and f.related_model is Subject
                    for f in model._meta.concrete_fields
                ):
                    model.objects.filter(subject=subject).update(subject=same)
            subject.delete()
            self.report["merged_subjects"] += 1

    def move_periods(self) -> None:
        """The destination's calendar wins: for a school year both have periods, each of the
        source's periods hands its appreciations to the destination's period containing its
        first day (the same trimester or semester), then goes (counted as a merged row); a
        year only the source has keeps its periods (move_services). An appreciation the
        destination's period already holds for that pupil and subject (a folded duplicate
        account) keeps the destination's and is counted; so does a level of the socle commun
        (SocleLevel) for that pupil and component. The source's bulletin batches and LSU
        exports go with the appreciations (their files stay as they were made; families
        download the latest bulletins made for the period)."""
        from django.db import IntegrityError

        from preau.grades.models import (
            Appreciation,
            BulletinBatch,
            LsuExport,
            Period,
            SocleLevel,
        )
        from preau.grades.periods import period_of

        theirs: dict[int, list] = {}
        for period in Period.objects.of(self.dst):
            theirs.setdefault(period.school_year, []).append(period)
        merged = self.report["merged_service_rows"]
        for period in Period.objects.of(self.src):
            same_year = theirs.get(period.school_year)
            if not same_year:
                continue
            target = period_of(same_year, period.start) or same_year[0]
            for model in (Appreciation, SocleLevel):
                for pk in model.objects.filter(period=period).values_list("pk", flat=True):
                    try:
                        with transaction.atomic():
                            model.objects.filter(pk=pk).update(period=target)
                    except IntegrityError:
                        model.objects.filter(pk=pk).delete()
                        merged[model.__name__] = merged.get(model.__name__, 0) + 1
            BulletinBatch.objects.filter(period=period).update(period=target)
            LsuExport.objects.filter(period=period).update(period=target)
            period.delete()
            merged["Period"] = merged.get("Period", 0) + 1

    def move_relations(self) -> None:
        TeachingAssignment.objects.of(self.src).update(establishment=self.dst)
        OperationLog.objects.of(self.src).update(establishment=self.dst)
        dst_links = {
            (link.parent_id, link.child_id): link for link in ParentLink.objects.of(self.dst)
        }
        duplicates = [
            link
            for link in ParentLink.objects.of(self.src)
            if (link.parent_id, link.child_id) in dst_links
        ]
        for link in duplicates:
            kept = dst_links[(link.parent_id, link.child_id)]
            if link.legal_guardian and not kept.legal_guardian:
                kept.legal_guardian = True
                kept.save(update_fields=["legal_guardian"])
        ParentLink.objects.filter(pk__in=[link.pk for link in duplicates]).delete()
        self.report["merged_parent_links"] += len(duplicates)
        ParentLink.objects.of(self.src).update(establishment=self.dst)

    def move_services(self) -> None:
        for model in service_models():
            model.objects.of(self.src).update(establishment=self.dst)

    def _move_unless_there(self, model, key: str, order: str) -> tuple[list, list]:
        """The source's rows of `model` become the destination's, except where the destination
        has one of the same `key`: the source's row goes. The rows moved, and the (source's
        row removed, destination's row kept) pairs."""
        theirs = {getattr(r, key): r for r in model.objects.filter(establishment=self.dst)}
        moved, clashes = [], []
        for row in model.objects.filter(establishment=self.src).order_by(order):
            kept = theirs.get(getattr(row, key))
            if kept is None:
                row.establishment = self.dst
                row.save(update_fields=["establishment"])
                moved.append(row)
            else:
                clashes.append((row, kept))
                row.delete()
        return moved, clashes

    def move_cas_services(self) -> None:
        """The partner services (CAS) the source opened to its members are the destination's;
        where the destination has one of the same URL prefix, its settings stay and the
        source's copy goes (named in the report)."""
        from preau.cas.models import CasService

        moved, clashes = self._move_unless_there(CasService, "url_prefix", "name")
        self.report["cas_services"]["moved"] = [service.name for service in moved]
        self.report["cas_services"]["dropped"] = [
            {"name": service.name, "url_prefix": service.url_prefix, "kept": kept.name}
            for service, kept in clashes
        ]

    def move_gar(self) -> None:
        """The GAR follows: enabled at the destination when it was at either; the source's
        médiacentre resources are the destination's, one the destination already has (same
        address) kept once, shown to the profiles of both (every profile when either showed it
        to all); the source's exports join the destination's history."""
        from preau.gar.models import GarExport, GarResource

        enabled = self.src.settings.get("gar") is True or self.dst.settings.get("gar") is True
        if enabled and self.dst.settings.get("gar") is not True:
            self.dst.settings = {**self.dst.settings, "gar": True}
            self.dst.save(update_fields=["settings"])
        moved, clashes = self._move_unless_there(GarResource, "url", "url")
        for resource, kept in clashes:
            both = set(kept.profiles) | set(resource.profiles)
            everyone = not (kept.profiles and resource.profiles)
            kept.profiles = [] if everyone else sorted(both, key=Profile.values.index)
            kept.save(update_fields=["profiles"])
        self.report["gar"] = {
            "enabled": enabled,
            "resources_moved": [resource.url for resource in moved],
            "resources_merged": [resource.url for resource, _ in clashes],
        }
        GarExport.objects.filter(establishment=self.src).update(establishment=self.dst)

    def retire_src(self) -> None:
        EstablishmentAlias.objects.filter(establishment=self.src).update(establishment=self.dst)
        EstablishmentAlias.objects.create(uai=self.src.uai, establishment=self.dst)
        self.src.status = Establishment.Status.MERGED
        self.src.merged_into = self.dst
        self.src.archived_at = timezone.now()
        self.src.save(update_fields=["status", "merged_into", "archived_at"])

    def check(self) -> list[dict]:
        before_src, before_dst = self.report["before"]["src"], self.report["before"]["dst"]
        after_src, after = self.report["after"]["src"], self.report["after"]["dst"]
        r = self.report
        expected = {
            "memberships": before_src["memberships"]
            + before_dst["memberships"]
            - r["merged_memberships"],
            "classes": before_src["classes"] + before_dst["classes"],
            "groups": before_src["groups"] + before_dst["groups"],
            "class_memberships": before_src["class_memberships"]
            + before_dst["class_memberships"]
            - r["merged_class_memberships"],
            "subjects": before_src["subjects"] + before_dst["subjects"] - r["merged_subjects"],
            "teachings": before_src["teachings"] + before_dst["teachings"] - r["merged_teachings"],
            "parent_links": before_src["parent_links"]
            + before_dst["parent_links"]
            - r["merged_parent_links"],
            "operations": before_src["operations"] + before_dst["operations"],
            "aliases": before_src["aliases"] + before_dst["aliases"] + 1,
        }
        checks = [
            {"what": k, "expected": v, "actual": after[k], "ok": after[k] == v}
            for k, v in expected.items()
        ]
        for name, n in before_dst["services"].items():
            wanted = before_src["services"][name] + n - r["merged_service_rows"].get(name, 0)
            checks.append(
                {
                    "what": f"services.{name}",
                    "expected": wanted,
                    "actual": after["services"][name],
                    "ok": after["services"][name] == wanted,
                }
            )
        left = {k: v for k, v in after_src.items() if k not in ("by_profile", "services") and v}
        left.update({f"services.{k}": v for k, v in after_src["services"].items() if v})
        checks.append({"what": "src_empty", "expected": {}, "actual": left, "ok": not left})
        return checks


def merge(src_uai: str, dst_uai: str, dry_run: bool = False) -> dict:
    if src_uai == dst_uai:
        raise MergeError("l'établissement source et la destination sont identiques")
    try:
        with transaction.atomic():
            lock_directory()  # no import or other merge runs meanwhile
            locked = {
                e.uai: e
                for e in Establishment.objects.select_for_update()
                .filter(uai__in=[src_uai, dst_uai])
                .order_by("pk")
            }
            for uai in (src_uai, dst_uai):
                if uai not in locked:
                    raise MergeError(f"établissement {uai} inconnu")
                if not locked[uai].is_active:
                    raise MergeError(
                        f"établissement {uai} : statut {locked[uai].status}, fusion refusée"
                    )
            report = Merger(locked[src_uai], locked[dst_uai]).run()
            report["dry_run"] = dry_run
            if not dry_run:
                # Its id is what `unmerge` takes to undo this merge.
                report["operation_log"] = OperationLog.objects.create(
                    establishment=locked[dst_uai],
                    kind="merge",
                    summary={
                        k: report[k] for k in ("src", "dst", "before", "after", "renamed_classes")
                    },
                ).pk
            else:
                transaction.set_rollback(True)
    except Exception:
        metrics.MERGES.labels(result="failed").inc()
        raise
    metrics.MERGES.labels(result="dry_run" if dry_run else "ok").inc()
    return report
