"""Espaces: threads with shared files."""

from preau.spaces.models import SpacePost
from tests.school import upload, url


def test_space_thread_with_shared_file(client, school):
    s = school
    client.force_login(s["student"])
    response = client.post(
        url(s, "space", class_id=s["class"].pk),
        {"title": "Exposé", "body": "Qui fait quoi ?", "file": upload("plan.pdf")},
    )
    thread = SpacePost.objects.get(title="Exposé")
    assert response.status_code == 302
    client.force_login(s["other_student"])
    assert (
        client.post(url(s, "space_thread", post_id=thread.pk), {"body": "Moi l'intro"}).status_code
        == 302
    )
    assert client.get(url(s, "file_download", file_id=thread.file.pk)).status_code == 200
    client.force_login(s["other_teacher"])  # does not teach this class
    assert client.get(url(s, "space_thread", post_id=thread.pk)).status_code == 403
    assert client.get(url(s, "file_download", file_id=thread.file.pk)).status_code == 403
