"""Passwords per the CNIL's deliberation 2022-100 (issue #19, item 2): adults 12 characters of
4 kinds, pupils 8 of 3 kinds, common passwords refused (French ones too, after normalisation),
French errors and the account's rule next to the field; changing a password ends the account's
other sessions."""

import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from preau.core import passwords
from preau.core.models import Establishment, Membership, User
from preau.core.sessions import UserSession

ADULT_OK = "Préau-Collège-82!"
PUPIL_OK = "Trampo-7lin"


@pytest.fixture
def est(db):
    return Establishment.objects.create(uai="0820021C", name="Collège Jean Moulin")


def _user(est, username, *profiles, password="Un-Ancien-Mdp-2025"):
    user = User.objects.create_user(username, password)
    for i, profile in enumerate(profiles):
        where = est if i == 0 else Establishment.objects.create(uai="0820010R", name="Autre")
        Membership.objects.create(user=user, establishment=where, profile=profile)
    return user


@pytest.fixture
def pupil(est):
    return _user(est, "ines.bousquet", "ELV")


@pytest.fixture
def parent(est):
    return _user(est, "marc.bousquet", "TUT")


def errors(password, user) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return exc.messages
    return []


def test_adults_need_12_characters_of_4_kinds(est, parent):
    teacher_and_pupil = _user(est, "double.profil", "ELV", "ENS")
    operator = User.objects.create_superuser("admc", "Un-Ancien-Mdp-2025")
    for adult in (parent, teacher_and_pupil, operator, None):
        assert errors(ADULT_OK, adult) == []
        assert "trop court" in " ".join(errors("Ab1!efghijk", adult))  # 11
        assert "il manque : caractère spécial" in " ".join(errors("Abcdefghij12", adult))
        assert "il manque : majuscule" in " ".join(errors("abcdefghij1!", adult))


def test_pupils_need_8_characters_of_3_kinds(pupil):
    assert errors(PUPIL_OK, pupil) == []
    assert errors("Girafe-8", pupil) == []  # 8 characters, 4 kinds
    assert errors("girafe88", pupil) != []  # 2 kinds
    assert "trop court" in " ".join(errors("Gir-8e", pupil))


def test_pupil_whose_memberships_are_gone_is_an_adult_again(est, pupil):
    Membership.objects.filter(user=pupil).update(gone_since="2026-07-01")
    assert passwords.rule_for(pupil) == passwords.ADULT


@pytest.mark.parametrize(
    "password",
    [
        "azertyuiop12",
        "Azertyuiop12!",
        "Motdepasse2024!",
        "Marseille13!!",
        "#Chouchou2026",
        "Soleil2014",
        "Doudou!2015",
        "Azerty!123Uiop",
        "Bonjour2025",
        "Password123!",
    ],
)
def test_common_passwords_refused_after_normalisation(pupil, parent, password):
    """Before this change "azertyuiop12" was accepted (issue #19)."""
    for user in (pupil, parent):
        assert any("trop courant" in e for e in errors(password, user)), (password, user)


def test_normalisation():
    assert passwords.normalise("  Àzertyuiop12!") == "azertyuiop"
    assert passwords.normalise("Motdepasse2024!") == "motdepasse"
    assert passwords.normalise("Mot-de-passe-2024!") == "mot-de-passe"
    assert len(passwords.common_words()) > 10_000  # Django's list joined to ours


def test_french_list_is_the_size_asked():
    lines = passwords.FRENCH_LIST.read_text(encoding="utf-8").splitlines()
    entries = {line for line in lines if line and not line.startswith("#")}
    assert 100 <= len(entries) <= 300
    assert {"azerty", "azertyuiop", "motdepasse", "soleil", "doudou", "marseille"} <= entries


def test_activation_tells_the_rule_and_the_french_errors(client, est, pupil, parent):
    page = client.get("/activation/").content.decode()
    assert "Élèves : au moins 8 caractères" in page and "Adultes : au moins 12 caractères" in page
    for user, rule in ((pupil, "Au moins 8 caractères"), (parent, "Au moins 12 caractères")):
        code = _code_for(user, est)
        response = Client().post(
            "/activation/",
            {
                "username": user.username,
                "code": code,
                "password1": "azertyuiop12",
                "password2": "azertyuiop12",
            },
        )
        html = response.content.decode()
        assert response.status_code == 400
        error = re.search(r'<p class="error" id="id_password1_erreur">([^<]*)</p>', html)
        assert error and "trop courant" in error.group(1)
        assert rule in html
        assert 'aria-describedby="id_password1_aide id_password1_erreur"' in html


def _code_for(user, est) -> str:
    from preau.core import accounts

    return accounts.issue_activation_code(user, est, by="test", via="test")


def _logged_in(user, password) -> Client:
    client = Client()
    response = client.post("/connexion/", {"username": user.username, "password": password})
    assert response.status_code == 302
    return client


def test_password_change_page_refuses_weak_ones_in_french(parent):
    client = _logged_in(parent, "Un-Ancien-Mdp-2025")
    page = client.get("/compte/mot-de-passe/").content.decode()
    assert "Au moins 12 caractères, avec des minuscules, des majuscules" in page
    response = client.post(
        "/compte/mot-de-passe/",
        {
            "old_password": "Un-Ancien-Mdp-2025",
            "password1": "Motdepasse2024!",
            "password2": "Motdepasse2024!",
        },
    )
    assert response.status_code == 400 and "trop courant" in response.content.decode()
    wrong = client.post(
        "/compte/mot-de-passe/",
        {"old_password": "pas-le-bon", "password1": ADULT_OK, "password2": ADULT_OK},
    )
    assert wrong.status_code == 400 and "Mot de passe actuel incorrect" in wrong.content.decode()
    parent.refresh_from_db()
    assert parent.check_password("Un-Ancien-Mdp-2025")


def test_changing_the_password_ends_the_other_sessions(est, parent):
    """Two clients of the same account: after one changes the password, the other's next
    request goes to the login page, and its session row is gone; the one that changed it
    stays logged in."""
    phone, computer = (
        _logged_in(parent, "Un-Ancien-Mdp-2025"),
        _logged_in(parent, "Un-Ancien-Mdp-2025"),
    )
    assert phone.get(f"/e/{est.uai}/").status_code == 200
    response = computer.post(
        "/compte/mot-de-passe/",
        {"old_password": "Un-Ancien-Mdp-2025", "password1": ADULT_OK, "password2": ADULT_OK},
    )
    assert response.status_code == 302
    # Django's session hash would log the phone out on its next request (and flush its row
    # then); the rows of the other sessions are removed at once.
    assert UserSession.objects.filter(user_id=parent.pk).count() == 1
    assert computer.get("/").status_code == 200
    assert computer.get(f"/e/{est.uai}/").status_code == 200
    for url in ("/", f"/e/{est.uai}/"):
        response = phone.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/connexion/")
    parent.refresh_from_db()
    assert parent.check_password(ADULT_OK)


def test_the_french_list_is_shipped_in_the_package():
    """setuptools' package-data takes it into the wheel the hosts install (before: only jinja2
    and static files were, and the validator would not find its list)."""
    import tomllib
    from pathlib import Path

    app = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((app / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["preau"]
    shipped = {p for pattern in patterns for p in (app / "src" / "preau").glob(pattern)}
    assert passwords.FRENCH_LIST.resolve() in {p.resolve() for p in shipped}
