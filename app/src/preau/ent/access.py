"""Who sees what, per profile, inside the establishment of the request.

TenantMiddleware already guarantees that the user belongs to `request.establishment`; the rules
here narrow what a member may see or do there. Platform admins (ADMC, no membership) act as the
direction (DIR). Results are cached on the request: a page computes them at most once.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

from preau.core.models import (
    ClassMembership,
    Membership,
    ParentLink,
    Platform,
    TeachingAssignment,
    User,
)
from preau.core.prepared import PreparedQuery

STAFF = frozenset({"ENS", "DIR", "EVS", "ETA"})
# Profiles that follow every student of the establishment (vie scolaire, direction).
SUPERVISORS = frozenset({"DIR", "EVS"})


def _children(est, parent):
    # Only legal guardians (AAF ENTEleveAutoriteParentale) act for a child: the other persons
    # related to a pupil (ENTElevePersRelEleve1/2, emergency contacts) are contacts, listed to
    # the staff, with no rights on the pupil.
    current = Membership.objects.current().filter(establishment_id=est).values("user_id")
    return (
        ParentLink.objects.filter(
            establishment_id=est, parent_id=parent, child__in=current, legal_guardian=True
        )
        .select_related("child")
        .order_by("child__first_name")
    )


def _own_classes(est, ids, year):
    return ClassMembership.objects.filter(
        class_group__establishment_id=est, user_id__any=ids, class_group__school_year=year
    ).values_list("class_group_id")


def _students_of(est, class_group):
    students = (
        Membership.objects.filter(establishment_id=est, profile="ELV").current().values("user_id")
    )
    return (
        ClassMembership.objects.filter(
            class_group__establishment_id=est, class_group_id=class_group, user_id__in=students
        )
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )


def _taught(est, teacher, year):
    return (
        TeachingAssignment.objects.filter(
            establishment_id=est, teacher_id=teacher, class_group__school_year=year
        )
        .select_related("class_group", "subject")
        .order_by("class_group__name", "subject__code")
    )


# Read on most pages, compiled once (preau.core.prepared), each scoped to the establishment of the
# request (`est`) as for_request() would: a parent's children, the classes of a student (or of a
# parent's children), a teacher's teaching assignments; the current students of a class or group
# (by name: the teachers' and vie scolaire's pages, the bulletins' job).
CHILDREN = PreparedQuery(_children, est=int, parent=int)
OWN_CLASSES = PreparedQuery(_own_classes, est=int, ids=list, year=int)
STUDENTS_OF = PreparedQuery(_students_of, est=int, class_group=int)
TAUGHT = PreparedQuery(_taught, est=int, teacher=int, year=int)


class Viewer:
    """The requesting member, with lazily computed relations (one query each at most)."""

    def __init__(self, request) -> None:
        self.request = request
        self.user = request.user
        self.establishment = request.establishment
        membership = request.membership
        self.profile = membership.profile if membership is not None else "DIR"
        self.is_local_admin = membership is None or membership.is_local_admin
        self._cache: dict = {}

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def year(self) -> int:
        """The current school year, read once per request (the same for all of the page)."""
        return self._cached("year", lambda: Platform.cached_state()["school_year"])

    @property
    def is_staff(self) -> bool:
        return self.profile in STAFF

    @property
    def is_supervisor(self) -> bool:
        return self.profile in SUPERVISORS

    @property
    def manages_establishment(self) -> bool:
        """Sets the establishment's settings (timetable, periods): the direction and the
        local admins (ADML)."""
        return self.profile == "DIR" or self.is_local_admin

    def children(self) -> list[User]:
        """A parent's children in this establishment (current members only)."""

        def compute():
            if self.profile != "TUT":
                return []
            return [
                link.child for link in CHILDREN.rows(est=self.establishment.pk, parent=self.user.pk)
            ]

        return self._cached("children", compute)

    def student_ids(self) -> list[int]:
        """The students whose school life this member follows personally (self or children)."""
        if self.profile == "ELV":
            return [self.user.pk]
        return [child.pk for child in self.children()]

    def own_class_ids(self) -> set[int]:
        """Classes and groups of the student, or of the parent's children (current year)."""

        def compute():
            ids = self.student_ids()
            if not ids:
                return set()
            return {
                row[0]
                for row in OWN_CLASSES.rows(est=self.establishment.pk, ids=ids, year=self.year)
            }

        return self._cached("own_classes", compute)

    def class_ids_of(self, student_id: int) -> list[int]:
        """Classes and groups of one student of the establishment (current year), sorted.

        Pages of a student's classes pass these ids to their queries (`class_group_id =
        ANY(...)`) rather than a sub-query on class memberships: the generic plan of a prepared
        statement cannot see that a student has two or three classes, and read every homework
        of the establishment's week before keeping the student's (1 ms instead of 0.1)."""

        def compute():
            if self.student_ids() == [student_id]:
                return sorted(self.own_class_ids())
            return sorted(
                row[0]
                for row in OWN_CLASSES.rows(
                    est=self.establishment.pk, ids=[student_id], year=self.year
                )
            )

        return self._cached(("classes_of", student_id), compute)

    def know_class_ids(self, students: list[int], class_ids: dict[int, set[int]]) -> None:
        """What a page read itself for these students (the dashboard's panels): class_ids_of,
        and own_class_ids when they are the member's own students, then ask nothing more."""
        for student_id in students:
            self._cache[("classes_of", student_id)] = sorted(class_ids.get(student_id, ()))
        if sorted(students) == sorted(self.student_ids()):  # own_class_ids too
            self._cache["own_classes"] = set().union(*class_ids.values())

    def taught(self) -> list[TeachingAssignment]:
        def compute():
            if self.profile != "ENS":
                return []
            return TAUGHT.rows(est=self.establishment.pk, teacher=self.user.pk, year=self.year)

        return self._cached("taught", compute)

    def taught_class_ids(self) -> set[int]:
        return {t.class_group_id for t in self.taught()}

    def visible_class_ids(self) -> set[int] | None:
        """Classes whose pedagogical content (logbook, documents) the member sees; None = all."""
        if self.is_supervisor:
            return None
        if self.profile == "ENS":
            return self.taught_class_ids()
        return self.own_class_ids()

    def sees_class(self, class_id: int) -> bool:
        ids = self.visible_class_ids()
        return ids is None or class_id in ids

    def teaches(self, class_id: int, subject_id: int | None = None) -> bool:
        return any(
            t.class_group_id == class_id and (subject_id is None or t.subject_id == subject_id)
            for t in self.taught()
        )

    def may_grade(self, class_id: int, subject_id: int | None) -> bool:
        """Assigned this school year to exactly this class and subject: may grade it."""
        return any(
            t.class_group_id == class_id and t.subject_id == subject_id for t in self.taught()
        )

    def follows_student(self, student_id: int) -> bool:
        """May see this student's absences and grades."""
        if self.is_supervisor or student_id in self.student_ids():
            return True
        if self.profile == "ENS":
            return (
                ClassMembership.objects.for_request(self.request)
                .filter(user_id=student_id, class_group_id__in=self.taught_class_ids())
                .exists()
            )
        return False


def guardians_of(request, child_ids) -> list[tuple[int, int]]:
    """(guardian id, child id) of these pupils' legal guardians: those notified of absences and
    grades. Contacts without parental authority are not."""
    return list(
        ParentLink.objects.for_request(request)
        .filter(child_id__in=child_ids, legal_guardian=True)
        .values_list("parent_id", "child_id")
    )


def viewer(request) -> Viewer:
    if not hasattr(request, "_preau_viewer"):
        request._preau_viewer = Viewer(request)
    return request._preau_viewer


def profiles(*allowed: str):
    """Restrict a view to some profiles (platform admins count as DIR)."""
    allowed_set = frozenset(allowed)

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.establishment is None or viewer(request).profile not in allowed_set:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied


# --- communication rules -----------------------------------------------------------------------


def allowed_recipients(request):
    """Users this member may start a conversation with.

    Students: their teachers and the vie scolaire. Parents: their children's teachers, the
    direction and the vie scolaire. Staff: everyone in the establishment.
    """
    me = viewer(request)
    members = Membership.objects.for_request(request).current()
    if me.is_staff:
        allowed = members
    else:
        teachers = (
            TeachingAssignment.objects.for_request(request)
            .filter(class_group_id__in=me.own_class_ids())
            .values("teacher_id")
        )
        staff_profiles = ["EVS"] if me.profile == "ELV" else ["EVS", "DIR"]
        allowed = members.filter(user_id__in=teachers) | members.filter(profile__in=staff_profiles)
    return User.objects.filter(pk__in=allowed.values("user_id"), is_active=True).exclude(
        pk=request.user.pk
    )
