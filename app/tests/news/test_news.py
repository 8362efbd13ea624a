"""Actualités: news per audience and who publishes; the resource links catalogue."""

from tests.school import url


def test_news_audience_and_publishing(client, school):
    s = school
    client.force_login(s["student"])
    assert client.post(url(s, "news"), {"title": "x", "body": "y"}).status_code == 403
    client.force_login(s["admin"])
    assert (
        client.post(
            url(s, "news"), {"title": "Réunion parents", "body": "Jeudi 18 h", "audience": ["TUT"]}
        ).status_code
        == 302
    )
    client.force_login(s["parent"])
    assert "Réunion parents" in client.get(url(s, "news")).content.decode()
    client.force_login(s["student"])
    assert "Réunion parents" not in client.get(url(s, "news")).content.decode()


def test_links_catalogue(client, school):
    s = school
    client.force_login(s["teacher"])
    assert client.post(url(s, "links"), {"title": "x", "url": "https://x.fr"}).status_code == 403
    client.force_login(s["admin"])
    assert (
        client.post(
            url(s, "links"), {"title": "Lumni", "url": "https://www.lumni.fr", "audience": ["ELV"]}
        ).status_code
        == 302
    )
    client.force_login(s["student"])
    assert "Lumni" in client.get(url(s, "links")).content.decode()
    client.force_login(s["parent"])
    assert "Lumni" not in client.get(url(s, "links")).content.decode()
