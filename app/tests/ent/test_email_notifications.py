"""Notifications by e-mail: off unless the platform enables it ([email] in preau.toml) and the
establishment opts in; sent when the notification is delivered, so never during quiet hours;
a failing mail server never fails the page or the delivery; each user may turn the e-mails off
for their own account ("Mes préférences", opt-out). A page only enqueues the e-mails: the
queue's worker sends them (run_jobs: a real worker, so these tests' database is
transactional). Django's locmem backend (set by the test environment) collects the messages
in mail.outbox."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from preau import config
from preau.core.models import User
from preau.ent import notify as notify_module
from preau.ent.models import Notification
from tests.school import make_school

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TUESDAY_NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=PARIS)
FRIDAY_NIGHT = dt.datetime(2026, 3, 13, 22, 0, tzinfo=PARIS)


@pytest.fixture
def school(transactional_db):
    s = make_school()
    s["parent"].email = "sophie.martin@example.org"
    s["parent"].save()
    s["other_parent"].email = "karim.bousquet@example.org"
    s["other_parent"].is_active = False  # disabled accounts get nothing
    s["other_parent"].save()
    return s


@pytest.fixture
def enabled(settings, school):
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    settings.PREAU_SITE_URL = "https://ent.example.fr"
    school["est"].settings = {"email_notifications": True}
    school["est"].save()
    return school


def test_config_email_section_defaults_off_and_is_validated(tmp_path):
    defaults = config.load(str(tmp_path / "absent.toml"), environ={"PREAU_DJANGO_DEBUG": "true"})
    assert defaults["email"]["enabled"] is False
    path = tmp_path / "preau.toml"
    path.write_text(
        '[django]\ndebug = true\n[email]\nenabled = true\nhost = "relay"\nport = 587\n'
        'starttls = true\nsite_url = "https://ent.example.fr"\n',
        encoding="utf-8",
    )
    loaded = config.load(str(path), environ={"PREAU_EMAIL_FROM_ADDRESS": "ENT <ent@example.fr>"})[
        "email"
    ]
    assert (
        loaded["enabled"],
        loaded["host"],
        loaded["port"],
        loaded["starttls"],
        loaded["from_address"],
    ) == (True, "relay", 587, True, "ENT <ent@example.fr>")
    path.write_text(
        '[django]\ndebug = true\n[email]\nsite_url = "ent.example.fr"\n', encoding="utf-8"
    )
    with pytest.raises(config.ConfigError, match="site_url"):
        config.load(str(path), environ={})


def test_no_email_unless_the_platform_and_the_establishment_opt_in(settings, school, run_jobs):
    s = school
    notify_module.notify(s["est"], [s["parent"].pk], "Nouvelle note", now=TUESDAY_NOON)
    run_jobs()
    assert mail.outbox == []  # platform off (the default)
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    notify_module.notify(s["est"], [s["parent"].pk], "Nouvelle note", now=TUESDAY_NOON)
    run_jobs()
    assert mail.outbox == []  # establishment not opted in
    assert Notification.objects.filter(user=s["parent"], delivered_at__isnull=False).count() == 2


def test_delivered_notifications_are_emailed_to_accounts_with_an_address(enabled, run_jobs):
    s = enabled
    link = reverse("notifications", kwargs={"uai": s["est"].uai})
    count = notify_module.notify(
        s["est"],
        [s["parent"].pk, s["other_parent"].pk, s["student"].pk],
        "Nouvelle note en mathématiques",
        url=link,
        now=TUESDAY_NOON,
    )
    assert count == 3  # in the app for everyone
    assert mail.outbox == []  # the request only enqueued the e-mails
    run_jobs()
    assert len(mail.outbox) == 1  # by e-mail: only the active account with an address
    message = mail.outbox[0]
    assert message.to == ["sophie.martin@example.org"]
    assert message.subject == "[Préau] Nouvelle note en mathématiques"
    assert f"https://ent.example.fr{link}" in message.body and s["est"].name in message.body


def test_emails_wait_for_the_end_of_quiet_hours(enabled, run_jobs):
    s = enabled
    notify_module.notify(s["est"], [s["parent"].pk], "Absence à justifier", now=FRIDAY_NIGHT)
    assert mail.outbox == []
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 15, 10, 0, tzinfo=PARIS)) == 0
    assert mail.outbox == []
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 16, 7, 5, tzinfo=PARIS)) == 1
    run_jobs()
    assert [m.to for m in mail.outbox] == [["sophie.martin@example.org"]]
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 16, 7, 10, tzinfo=PARIS)) == 0
    run_jobs()
    assert len(mail.outbox) == 1  # delivered once, e-mailed once


def test_a_failing_mail_server_does_not_fail_delivery(enabled, settings, caplog, run_jobs):
    s = enabled
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
        "127.0.0.1",
        1,
        2,
    )  # nothing listens
    assert (
        notify_module.notify(s["est"], [s["parent"].pk], "Nouveau message", now=TUESDAY_NOON) == 1
    )
    assert Notification.objects.filter(
        user=s["parent"], text="Nouveau message", delivered_at__isnull=False
    ).exists()
    run_jobs()
    assert "notification e-mails not sent" in caplog.text


def test_direction_opts_in_on_the_settings_page(client, settings, school):
    s = school
    page_url = reverse("quiet_hours", kwargs={"uai": s["est"].uai})
    client.force_login(s["admin"])
    page = client.get(page_url).content.decode()
    assert "par e-mail" in page and 'name="email"' not in page  # platform off: no choice offered
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    assert 'name="email"' in client.get(page_url).content.decode()
    response = client.post(
        page_url,
        {"enabled": "on", "start": "20:00", "end": "07:00", "weekend": "on", "email": "on"},
    )
    assert response.status_code == 302
    s["est"].refresh_from_db()
    assert s["est"].settings["email_notifications"] is True and notify_module.emails_enabled(
        s["est"]
    )
    assert re.search(r'name="email"[^>]* checked', client.get(page_url).content.decode())
    client.post(page_url, {"enabled": "on", "start": "20:00", "end": "07:00"})
    s["est"].refresh_from_db()
    assert s["est"].settings["email_notifications"] is False


# --- each user's preference (opt-out) ---------------------------------------------------------


def test_a_user_who_opted_out_gets_the_notification_in_the_app_but_no_email(enabled, run_jobs):
    s = enabled
    s["teacher"].email = "julien.fabre@example.org"
    s["teacher"].save()
    s["parent"].email_notifications = False  # opted out on "Mes préférences"
    s["parent"].save()
    assert (
        notify_module.notify(
            s["est"], [s["parent"].pk, s["teacher"].pk], "Nouvelle note", now=TUESDAY_NOON
        )
        == 2
    )
    assert (
        Notification.objects.filter(
            user__in=[s["parent"], s["teacher"]], text="Nouvelle note", delivered_at__isnull=False
        ).count()
        == 2
    )  # both in the app
    run_jobs()
    assert [m.to for m in mail.outbox] == [
        ["julien.fabre@example.org"]
    ]  # the other one also by e-mail
    assert "Mes préférences" in mail.outbox[0].body
    assert f"https://ent.example.fr/e/{s['est'].uai}/mes-preferences/" in mail.outbox[0].body


def test_quiet_hours_still_hold_whatever_the_preference(enabled, run_jobs):
    s = enabled
    s["teacher"].email = "julien.fabre@example.org"
    s["teacher"].email_notifications = False
    s["teacher"].save()
    notify_module.notify(
        s["est"], [s["parent"].pk, s["teacher"].pk], "Absence à justifier", now=FRIDAY_NIGHT
    )
    assert (
        mail.outbox == []
        and not Notification.objects.filter(
            delivered_at__isnull=False, text="Absence à justifier"
        ).exists()
    )
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 16, 7, 5, tzinfo=PARIS)) == 2
    run_jobs()
    assert [m.to for m in mail.outbox] == [["sophie.martin@example.org"]]


def test_every_user_receives_emails_until_they_turn_them_off(db):
    s = make_school()
    assert all(
        s[role].email_notifications for role in ("student", "parent", "teacher", "agent", "admin")
    )
    with connection.cursor() as cursor:  # the previous release's INSERTs do not name the column
        cursor.execute(
            "INSERT INTO core_user (username, password, first_name, last_name, title, email, is_active,"
            " is_staff, is_superuser, activation_code, date_joined)"
            " VALUES ('ancienne', '', '', '', '', '', true, false, false, '', now())"
        )
    assert User.objects.get(username="ancienne").email_notifications is True
    migration = MigrationLoader(connection).get_migration("core", "0003_user_email_notifications")
    assert not getattr(migration, "contract", False)  # expand: applied while the old code serves


def test_each_user_turns_emails_off_and_on_for_their_own_account(client, settings, school):
    s = school
    page_url = reverse("notification_preferences", kwargs={"uai": s["est"].uai})
    client.force_login(s["parent"])
    page = client.get(page_url).content.decode()
    assert "<legend>Notifications par e-mail</legend>" in page
    assert re.search(r'value="oui"[^>]* checked', page)  # opt-out: on by default
    assert "envoie pas les notifications par e-mail" in page
    assert f'href="{page_url}" aria-current="page">Mes préférences' in page  # in the navigation
    response = client.post(page_url, {"email": "non"}, follow=True)
    assert response.redirect_chain == [(page_url, 302)]
    assert "vous ne recevrez plus les notifications par e-mail" in response.content.decode()
    s["parent"].refresh_from_db()
    s["other_parent"].refresh_from_db()
    assert (
        s["parent"].email_notifications is False and s["other_parent"].email_notifications is True
    )
    assert re.search(r'value="non"[^>]* checked', response.content.decode())
    invalid = client.post(page_url, {})
    assert invalid.status_code == 400
    assert (
        "Choisissez si vous voulez" in invalid.content.decode()
        and 'aria-invalid="true"' in invalid.content.decode()
    )
    client.post(page_url, {"email": "oui"})
    s["parent"].refresh_from_db()
    assert s["parent"].email_notifications is True
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    s["est"].settings = {"email_notifications": True}
    s["est"].save()
    assert "sophie.martin@example.org" in client.get(page_url).content.decode()


def test_the_preference_form_needs_the_csrf_token(school):
    s = school
    client = Client(enforce_csrf_checks=True)
    client.force_login(s["student"])
    page_url = reverse("notification_preferences", kwargs={"uai": s["est"].uai})
    assert client.post(page_url, {"email": "non"}).status_code == 403
    s["student"].refresh_from_db()
    assert s["student"].email_notifications is True


def failed_emails() -> float:
    text = Client().get("/metrics").content.decode()
    found = re.search(r'^preau_notification_emails_total\{result="failed"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


def test_line_breaks_in_a_subject_are_cleaned(enabled, run_jobs):
    """A news title, a conversation subject or an imported name with line breaks (or other
    control characters) gives a one-line subject, never an injected header nor a lost e-mail."""
    s = enabled
    notify_module.notify(
        s["est"],
        [s["parent"].pk],
        "Nouvelle actualité : Sortie\r\nBcc: x@example.org\x0b au\u2028musée",
        now=TUESDAY_NOON,
    )
    run_jobs()
    assert len(mail.outbox) == 1
    assert (
        mail.outbox[0].subject == "[Préau] Nouvelle actualité : Sortie Bcc: x@example.org au musée"
    )
    assert mail.outbox[0].message()["Bcc"] is None
    assert mail.outbox[0].recipients() == ["sophie.martin@example.org"]


def test_one_bad_message_never_drops_the_rest_of_the_batch(enabled, caplog):
    s = enabled
    s[
        "student"
    ].email = "lea.martin@example.org\nBcc: x@example.org"  # as a bad import could write it
    s["student"].save()
    s["teacher"].email = "julien.fabre@example.org"
    s["teacher"].save()
    before = failed_emails()
    batch = [
        Notification(establishment=s["est"], user_id=user.pk, text="Nouvelle note")
        for user in (s["student"], s["parent"], s["teacher"])
    ]  # the bad one first
    assert notify_module.send_emails(s["est"], batch) == 2
    assert sorted(m.to[0] for m in mail.outbox) == [
        "julien.fabre@example.org",
        "sophie.martin@example.org",
    ]
    assert failed_emails() == before + 1
    failure = next(r for r in caplog.records if r.getMessage() == "notification e-mail not sent")
    assert failure.user == s["student"].pk and "lea.martin" not in caplog.text
