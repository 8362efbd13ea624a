"""Helpers shared by the service views."""

from django.core.paginator import Paginator
from django.db.models import Count, Window
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from preau.core.models import ClassGroup, User
from preau.core.prepared import PreparedQuery
from preau.ent.access import STUDENTS_OF, require, viewer

PAGE_SIZE = 30


def paginate(request, queryset, size=PAGE_SIZE):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


class _Rows(list):
    """A first page's rows with the list's total, for Paginator (which calls count())."""

    def __init__(self, rows, total):
        super().__init__(rows)
        self.total = total

    def count(self):  # noqa: D102 (Paginator's protocol, not list.count)
        return self.total


class PreparedPages:
    """A paginated list whose first page (nearly every visit) is one prepared query
    (preau.core.prepared): its rows and, with `COUNT(*) OVER ()`, the list's total, where
    paginate() compiles and runs a count query and a page query. Other pages go through
    paginate() with the same queryset."""

    def __init__(self, build, size=PAGE_SIZE, **kinds):
        self.build, self.size = build, size
        self.first = PreparedQuery(
            lambda **values: build(**values).annotate(page_total=Window(Count("*")))[:size], **kinds
        )

    def page(self, request, **values):
        if request.GET.get("page", "1") != "1":
            return paginate(request, self.build(**values), self.size)
        rows = self.first.rows(**values)
        return Paginator(_Rows(rows, rows[0].page_total if rows else 0), self.size).page(1)


# A class of the establishment (the teacher's and vie scolaire's pages), compiled once
# (preau.core.prepared); its current students: preau.ent.access.STUDENTS_OF.
CLASS = PreparedQuery(
    lambda est, pk: ClassGroup.objects.filter(establishment_id=est, pk=pk)[:1], est=int, pk=int
)


def class_or_404(request, class_id) -> ClassGroup:
    class_group = CLASS.first(est=request.establishment.pk, pk=class_id)
    if class_group is None:
        raise Http404
    return class_group


def followed_pupil_or_404(request, user_id) -> User:
    """A pupil of the establishment whom the member follows (ent.access follows_student: the
    pupil, their guardians, the supervisors, their teachers), for the pages about one pupil."""
    student = get_object_or_404(
        User,
        pk=user_id,
        memberships__establishment=request.establishment,
        memberships__profile="ELV",
    )
    require(viewer(request).follows_student(student.pk))
    return student


def visible_class_or_404(request, class_id) -> ClassGroup:
    class_group = class_or_404(request, class_id)
    require(viewer(request).sees_class(class_group.pk))
    return class_group


def students_of(request, class_group) -> list[User]:
    """Current students of a class or group, by name."""
    return [
        cm.user for cm in STUDENTS_OF.rows(est=request.establishment.pk, class_group=class_group.pk)
    ]


# The child a parent last chose, per establishment ({establishment id: child id}, in the
# session): grades, logbook and timetable then show that child until another is chosen.
CHOSEN_CHILD_KEY = "preau_chosen_child"


def student_choice(request):
    """For a parent, the child chosen with ?eleve=, else the one chosen last (remembered in the
    session), else the first; for a student, self. Only the parent's own children count."""
    me = viewer(request)
    if me.profile == "ELV":
        return request.user
    children = {str(child.pk): child for child in me.children()}
    chosen = request.session.get(CHOSEN_CHILD_KEY, {})
    here = str(request.establishment.pk)
    for wanted in (request.GET.get("eleve"), chosen.get(here)):
        if wanted in children:
            if chosen.get(here) != wanted:  # a session write only when the choice changes
                request.session[CHOSEN_CHILD_KEY] = {**chosen, here: wanted}
            return children[wanted]
    return next(iter(children.values()), None)


def back(request, name, **kwargs):
    return redirect(name, uai=request.establishment.uai, **kwargs)


def form_page(request, form, title: str, submit: str, back_name: str, **back_kwargs):
    """The page of one form (ent/form_page.html), 400 when a POST is refused; its 'Annuler'
    goes back to the page `back_name`."""
    back_url = reverse(back_name, kwargs={"uai": request.establishment.uai, **back_kwargs})
    return render(
        request,
        "ent/form_page.html",
        {"form": form, "title": title, "submit": submit, "back_url": back_url},
        status=400 if request.method == "POST" else 200,
    )


def confirm_page(request, title: str, question: str, submit: str, back_name: str, **back_kwargs):
    """The confirmation asked before a destructive action (ent/confirm_delete.html): the
    question, a red button posting to the same URL, 'Annuler' back to the page `back_name`."""
    back_url = reverse(back_name, kwargs={"uai": request.establishment.uai, **back_kwargs})
    return render(
        request,
        "ent/confirm_delete.html",
        {"title": title, "question": question, "submit": submit, "back_url": back_url},
    )


# While a batch's PDF is being made, its page reloads itself (the Refresh header: no script).
REFRESH_SECONDS = 5


def job_page(request, template: str, context: dict, batch):
    """The page of a batch a background job makes (a JobBatch: activation letters, bulletins):
    `job` in the context (its state, ent/_job_status.html) while `batch.made_at` is empty, and
    the page reloading itself until the job has ended."""
    job = batch.job(request.establishment.uai) if batch is not None else None
    response = render(request, template, {**context, "batch": batch, "job": job})
    if batch is not None and batch.made_at is None and not (job and job["finished"]):
        response["Refresh"] = str(REFRESH_SECONDS)
    return response
