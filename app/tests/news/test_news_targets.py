"""News for classes (issue #19 item 5): a targeted item is shown only to the pupils of its
classes, their guardians and the classes' teachers (and the direction and vie scolaire, who see
all news), the profiles ticked narrowing it further; the publisher chooses."""

import re

import pytest

from preau.core.models import ClassMembership, Membership, User
from preau.news.models import NewsItem
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def _sees(client, s, who, title, page="news") -> bool:
    client.force_login(s[who])
    return title in client.get(url(s, page)).content.decode()


@pytest.fixture
def fourth(school):
    """A pupil of 4A (whose teacher is other_teacher): school's pupils are in 5A."""
    pupil = User.objects.create_user("eleve4a", first_name="Inès", last_name="ROQUES")
    Membership.objects.create(user=pupil, establishment=school["est"], profile="ELV")
    ClassMembership.objects.create(class_group=school["other_class"], user=pupil)
    school["pupil_4a"] = pupil
    return school


def test_the_direction_publishes_for_a_class(client, fourth):
    s = fourth
    client.force_login(s["admin"])
    page = client.get(url(s, "news")).content.decode()
    assert f'value="{s["class"].pk}"' in page and "Classes" in page
    response = client.post(
        url(s, "news"), {"title": "Sortie des 5A", "body": "Au musée", "classes": [s["class"].pk]}
    )
    assert response.status_code == 302
    assert NewsItem.objects.get(title="Sortie des 5A").class_ids == [s["class"].pk]
    assert "Pour : 5A" in client.get(url(s, "news")).content.decode()
    for who in ("student", "parent", "teacher", "evs", "admin"):
        assert _sees(client, s, who, "Sortie des 5A"), who
    for who in ("pupil_4a", "other_teacher", "agent"):
        assert not _sees(client, s, who, "Sortie des 5A"), who
    # The dashboard's latest news follow the same rule.
    assert _sees(client, s, "student", "Sortie des 5A", "establishment_home")
    assert not _sees(client, s, "pupil_4a", "Sortie des 5A", "establishment_home")


def test_classes_and_profiles_both_apply(client, fourth):
    s = fourth
    NewsItem.objects.create(
        establishment=s["est"],
        title="Brevet blanc des 4A",
        body="Lundi",
        audience=["ELV"],
        class_ids=[s["other_class"].pk],
    )
    assert _sees(client, s, "pupil_4a", "Brevet blanc des 4A")
    assert _sees(client, s, "pupil_4a", "Brevet blanc des 4A", "establishment_home")
    for who in ("other_teacher", "student", "parent", "agent"):
        assert not _sees(client, s, who, "Brevet blanc des 4A"), who


def test_a_class_of_another_establishment_is_refused(client, school):
    s, b = school, make_school("B", "0820022D")
    client.force_login(s["admin"])
    for wrong in (b["class"].pk, "5A", "99999999999"):
        response = client.post(url(s, "news"), {"title": "T", "body": "x", "classes": [wrong]})
        assert response.status_code == 400
        assert "Sélectionnez un choix valide" in response.content.decode()
    assert not NewsItem.objects.filter(title="T").exists()


def test_editing_keeps_or_changes_the_classes(client, school):
    s = school
    item = NewsItem.objects.create(
        establishment=s["est"], title="Cross", body="Stade", author=s["evs"], class_ids=[]
    )
    client.force_login(s["evs"])
    target = url(s, "news_edit", news_id=item.pk)
    data = {"title": "Cross", "body": "Stade", "classes": [s["other_class"].pk]}
    assert client.post(target, data).status_code == 302
    item.refresh_from_db()
    assert item.class_ids == [s["other_class"].pk]
    page = client.get(target).content.decode()
    assert re.search(rf'name="classes" value="{s["other_class"].pk}"[^>]*checked', page)
    assert not re.search(rf'name="classes" value="{s["class"].pk}"[^>]*checked', page)
