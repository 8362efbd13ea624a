"""'Mot de passe oublié' by e-mail (issue #19 item 2) and the confirmed address it needs.

The e-mails are jobs of the queue (run_jobs: a real worker, so these tests' database is
transactional) read from Django's outbox."""

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client

from preau.core.models import Establishment, Membership, User
from preau.core.sessions import UserSession

OLD = "Un-Ancien-Mdp-2025"
NEW = "Nouveau-Départ-2026"
SENTENCE = "Si un compte adulte de Préau correspond"


@pytest.fixture
def world(settings, transactional_db):
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PREAU_SITE_URL = "https://ent.example.fr"
    est = Establishment.objects.create(uai="0820021C", name="Collège Jean Moulin")

    def person(username, profile, email="", confirmed=True):
        user = User.objects.create_user(username, OLD, email=email)
        if confirmed and email:
            User.objects.filter(pk=user.pk).update(confirmed_email=email)
        Membership.objects.create(user=user, establishment=est, profile=profile)
        return User.objects.get(pk=user.pk)

    return {
        "est": est,
        "parent": person("marc.bousquet", "TUT", "marc@example.fr"),
        "unconfirmed": person("paul.roux", "ENS", "paul@example.fr", confirmed=False),
        "pupil": person("ines.bousquet", "ELV", "ines@example.fr"),
    }


def _ask(typed, ip="203.0.113.7"):
    return Client(REMOTE_ADDR=ip).post("/mot-de-passe-oublie/", {"login": typed}, follow=True)


def _link(message) -> str:
    return re.search(r"https://ent\.example\.fr(/mot-de-passe-oublie/\S+/)", message.body).group(1)


def _logged_in(user) -> Client:
    client = Client()
    assert (
        client.post("/connexion/", {"username": user.username, "password": OLD}).status_code == 302
    )
    return client


def test_login_page_links_to_it(client, world):
    assert 'href="/mot-de-passe-oublie/"' in client.get("/connexion/").content.decode()


def test_same_answer_whether_the_account_exists_or_not(world, run_jobs):
    """Unknown login, pupil, adult without confirmed address, adult with one (by login and by
    address): the same page and sentence; one e-mail per request of the qualifying adult."""
    answers = set()
    for typed in (
        "personne.inconnue",
        "ines.bousquet",
        "paul.roux",
        "marc.bousquet",
        "MARC@example.fr",
        "nobody@example.fr",
    ):
        response = _ask(typed)
        assert response.status_code == 200 and response.redirect_chain[0][1] == 302
        html = response.content.decode()
        assert SENTENCE in html
        answers.add(re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html))
    assert len(answers) == 1
    run_jobs()
    assert [m.to for m in mail.outbox] == [["marc@example.fr"], ["marc@example.fr"]]
    assert "marc.bousquet" in mail.outbox[0].body


def test_the_link_sets_a_new_password_once_and_ends_every_session(world, run_jobs):
    parent = world["parent"]
    phone, computer = _logged_in(parent), _logged_in(parent)
    _ask("marc.bousquet")
    run_jobs()
    link = _link(mail.outbox[0])
    browser = Client()
    page = browser.get(link).content.decode()
    assert "Au moins 12 caractères" in page  # the adult's rule
    weak = browser.post(link, {"password1": "Soleil2026!!", "password2": "Soleil2026!!"})
    assert weak.status_code == 400 and "trop courant" in weak.content.decode()
    done = browser.post(link, {"password1": NEW, "password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/connexion/"
    assert not UserSession.objects.filter(user_id=parent.pk).exists()
    for client in (phone, computer):
        assert client.get("/")["Location"].startswith("/connexion/")
    parent.refresh_from_db()
    assert parent.check_password(NEW)
    # Django's PasswordResetTokenGenerator is single-use by design (the password's hash is
    # part of the token): the second use is refused.
    again = Client().post(
        link, {"password1": "Encore-Un-Autre-2026", "password2": "Encore-Un-Autre-2026"}
    )
    assert again.status_code == 400 and "ne fonctionne plus" in again.content.decode()
    parent.refresh_from_db()
    assert parent.check_password(NEW)


def test_the_link_expires(world, run_jobs, monkeypatch, settings):
    _ask("marc.bousquet")
    run_jobs()
    link = _link(mail.outbox[0])
    later = default_token_generator._now() + __import__("datetime").timedelta(
        seconds=settings.PASSWORD_RESET_TIMEOUT + 60
    )
    monkeypatch.setattr(default_token_generator, "_now", lambda: later)
    assert Client().get(link).status_code == 400


def test_requests_are_throttled_per_login_and_per_account(world, run_jobs):
    for _ in range(3):
        assert _ask("marc.bousquet").status_code == 200
    throttled = _ask("marc.bousquet")
    assert throttled.status_code == 429 and "Réessayez dans" in throttled.content.decode()
    # The address typed is another key, but the account had its 3 e-mails: same answer, none sent.
    response = _ask("marc@example.fr", ip="198.51.100.9")
    assert response.status_code == 200 and SENTENCE in response.content.decode()
    run_jobs()
    assert len(mail.outbox) == 3


def test_an_address_is_confirmed_by_a_link_sent_to_it(world, run_jobs):
    teacher = world["unconfirmed"]
    client = _logged_in(teacher)
    assert "non confirmée" in client.get("/compte/adresse/").content.decode()
    client.post("/compte/adresse/")
    run_jobs()
    (message,) = mail.outbox
    assert message.to == ["paul@example.fr"]
    link = re.search(
        r"https://ent\.example\.fr(/compte/adresse/confirmer/\S+/)", message.body
    ).group(1)
    assert Client().get(link).status_code == 200  # a GET (a mail scanner) changes nothing
    teacher.refresh_from_db()
    assert not teacher.has_confirmed_email
    assert Client().post(link).status_code == 302
    teacher.refresh_from_db()
    assert teacher.has_confirmed_email and teacher.email_confirmed_at is not None
    # An import that changes the address leaves it unconfirmed, and the old link is void.
    User.objects.filter(pk=teacher.pk).update(email="paul.roux@example.fr")
    teacher.refresh_from_db()
    assert not teacher.has_confirmed_email
    assert Client().post(link).status_code == 400
