"""A parent's chosen child is remembered across pages (issue #19 item 5): chosen once with
?eleve=, the other pages show the same child (preau.ent.views.common.student_choice)."""

import re

from preau.core.models import ParentLink
from tests.school import url


def _current(client, target, **params) -> str:
    """The child marked current in the page's child picker."""
    page = client.get(target, params).content.decode()
    return re.search(r'aria-current="true">([^<]+)</a>', page)[1]


def test_the_chosen_child_follows_the_parent_across_pages(client, school):
    s = school
    ParentLink.objects.create(
        establishment=s["est"], parent=s["parent"], child=s["other_student"], legal_guardian=True
    )
    client.force_login(s["parent"])
    assert _current(client, url(s, "grades")) == "Hugo BOUSQUET"  # the first, by first name
    assert _current(client, url(s, "grades"), eleve=s["student"].pk) == "Léa MARTIN"
    assert _current(client, url(s, "logbook")) == "Léa MARTIN"
    assert _current(client, url(s, "timetable")) == "Léa MARTIN"
    # Someone else's child is not a choice: the remembered one stays.
    assert _current(client, url(s, "timetable"), eleve=s["other_parent"].pk) == "Léa MARTIN"
    assert _current(client, url(s, "logbook"), eleve=s["other_student"].pk) == "Hugo BOUSQUET"
    assert _current(client, url(s, "grades")) == "Hugo BOUSQUET"
