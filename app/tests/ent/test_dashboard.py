"""The dashboard per profile."""

from tests.school import url


def test_dashboard_per_profile(client, school):
    s = school
    client.force_login(s["student"])
    page = client.get(url(s, "establishment_home")).content.decode()
    assert "Exercices 1 à 4" in page and "Fractions" in page and "Mes cours aujourd" in page
    client.force_login(s["parent"])
    page = client.get(url(s, "establishment_home")).content.decode()
    assert "Exercices 1 à 4" in page and "Justifier" in page
    client.force_login(s["teacher"])
    page = client.get(url(s, "establishment_home")).content.decode()
    assert "Faire l'appel" in page and "1</strong> conversation non lue" in page
    client.force_login(s["evs"])
    assert "justificatif" in client.get(url(s, "establishment_home")).content.decode()
