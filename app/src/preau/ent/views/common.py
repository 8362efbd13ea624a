"""Helpers shared by the service views."""
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect

from preau.core.models import ClassGroup, ClassMembership, Membership, User
from preau.ent.access import require, viewer

PAGE_SIZE = 30


def paginate(request, queryset, size=PAGE_SIZE):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def class_or_404(request, class_id) -> ClassGroup:
    return get_object_or_404(ClassGroup.objects.for_request(request), pk=class_id)


def visible_class_or_404(request, class_id) -> ClassGroup:
    class_group = class_or_404(request, class_id)
    require(viewer(request).sees_class(class_group.pk))
    return class_group


def students_of(request, class_group) -> list[User]:
    """Current students of a class or group, by name."""
    students = Membership.objects.for_request(request).current().filter(profile="ELV").values("user_id")
    return [cm.user for cm in ClassMembership.objects.for_request(request)
            .filter(class_group=class_group, user_id__in=students).select_related("user")
            .order_by("user__last_name", "user__first_name")]


def student_choice(request):
    """For a parent, the child chosen with ?eleve= (default: the first); for a student, self."""
    me = viewer(request)
    if me.profile == "ELV":
        return request.user
    children = me.children()
    wanted = request.GET.get("eleve")
    for child in children:
        if str(child.pk) == wanted:
            return child
    return children[0] if children else None


def back(request, name, **kwargs):
    return redirect(name, uai=request.establishment.uai, **kwargs)
