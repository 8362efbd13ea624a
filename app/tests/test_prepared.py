"""Prepared queries (preau.core.prepared) are scoped by establishment: each one takes `est` as a
required keyword and its queryset filters on it, or it is not compiled. Checked on every prepared
query the app defines, found by walking the modules the URLconf loads."""

import inspect
import sys
from types import ModuleType

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.urls import get_resolver

from preau.core import sessions
from preau.core.models import Membership
from preau.core.prepared import PreparedQuery, UnscopedQuery, _Statement
from preau.ent import files
from preau.grades.views import GRADES_OF_ASSESSMENT
from preau.messaging.views import PARTICIPANTS, THREAD
from tests.school import make_school


def _statements_in(value):
    """The prepared queries a module-level value holds: itself, a dict's values, or an object's
    attributes (PreparedPages keeps its first page's query)."""
    candidates = value.values() if isinstance(value, dict) else [value]
    for candidate in candidates:
        if isinstance(candidate, _Statement):
            yield candidate
        elif not isinstance(candidate, (type, ModuleType)) and isinstance(
            getattr(candidate, "__dict__", None), dict
        ):
            yield from (v for v in vars(candidate).values() if isinstance(v, _Statement))


def all_statements() -> dict[int, tuple[str, _Statement]]:
    """Every prepared query defined by a module of the app, by id: (module.name, query)."""
    assert get_resolver().url_patterns  # imports every view module
    found = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("preau.") or module is None:
            continue
        for name, value in list(vars(module).items()):
            for statement in _statements_in(value):
                found.setdefault(id(statement), (f"{module_name}.{name}", statement))
    return found


@pytest.mark.django_db
def test_every_prepared_query_requires_and_filters_on_its_establishment():
    statements = all_statements()
    scoped = [(name, q) for name, q in statements.values() if isinstance(q, PreparedQuery)]
    assert len(scoped) >= 40  # the pages' queries (45 when this test was written)
    for name, query in scoped:
        est = inspect.signature(query.rows).parameters["est"]
        assert (
            est.kind is inspect.Parameter.KEYWORD_ONLY and est.default is inspect.Parameter.empty
        ), name
        assert query.kinds["est"] in (int, str), name
        query._compile()  # refuses a queryset that does not filter on `est` (below)
        others = {key: None for key in query.kinds if key != "est"}
        with pytest.raises(TypeError, match="est"):
            query.rows(**others)
    # The only exception: the session, read before the page knows its establishment.
    unscoped = [(name, q) for name, q in statements.values() if not isinstance(q, PreparedQuery)]
    assert unscoped == [("preau.core.sessions.SESSION_WITH_USER", sessions.SESSION_WITH_USER)]
    assert (
        isinstance(sessions.SESSION_WITH_USER, UnscopedQuery) and sessions.SESSION_WITH_USER.reason
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "build",
    [
        lambda est: Membership.objects.all(),  # est not used at all
        lambda est: Membership.objects.filter(user_id=est),  # not an establishment column
        lambda est: Membership.objects.filter(Q(establishment_id=est) | Q(profile="DIR")),  # OR
        lambda est: Membership.objects.exclude(establishment_id=est),  # NOT
        lambda est: Membership.objects.filter(establishment_id__gte=est),  # not equality
    ],
    ids=["unused", "other-column", "or", "not", "range"],
)
def test_a_query_not_filtering_on_its_establishment_is_refused(build):
    with pytest.raises(ImproperlyConfigured, match="does not filter on the establishment"):
        PreparedQuery(build).rows(est=1)


@pytest.mark.django_db
def test_an_establishment_is_its_id_or_its_uai():
    by_uai = PreparedQuery(lambda est: Membership.objects.filter(establishment__uai=est), est=str)
    assert by_uai.rows(est="0820021C") == []
    with pytest.raises(ImproperlyConfigured, match="does not filter"):  # a UAI is not an id
        PreparedQuery(lambda est: Membership.objects.filter(establishment__name=est), est=str).rows(
            est="x"
        )
    with pytest.raises(ImproperlyConfigured, match="id \\(int\\) or UAI \\(str\\)"):
        PreparedQuery(lambda est: Membership.objects.filter(establishment_id=est), est=list)


@pytest.mark.django_db
def test_rows_reached_through_a_relation_stay_in_their_establishment():
    """The queries that reach the establishment through a parent row (a file's chunks, a
    conversation's participants and messages, an assessment's grades) return nothing when
    asked with another establishment, and the rows when asked with theirs."""
    a, b = make_school("A", "0820021C"), make_school("B", "0820022D")
    stored, conversation, assessment = a["file"], a["conversation"], a["assessment"]
    cases = [
        (files.CHUNK, {"file": stored.pk, "index": 0}),
        (PARTICIPANTS, {"conversations": [conversation.pk]}),
        (THREAD, {"conversation": conversation.pk}),
        (GRADES_OF_ASSESSMENT, {"assessment": assessment.pk}),
    ]
    for query, values in cases:
        assert query.rows(est=a["est"].pk, **values), query
        assert query.rows(est=b["est"].pk, **values) == [], query
