"""Notifications by e-mail: off unless the platform enables it ([email] in preau.toml) and the
establishment opts in; sent when the notification is delivered, so never during quiet hours;
a failing mail server never fails the page or the timer. Django's locmem backend (set by the
test environment) collects the messages in mail.outbox."""
import datetime as dt
import re
import zoneinfo

import pytest
from django.core import mail
from django.urls import reverse

from preau import config
from preau.ent import notify as notify_module
from preau.ent.models import Notification
from tests.school import make_school

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TUESDAY_NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=PARIS)
FRIDAY_NIGHT = dt.datetime(2026, 3, 13, 22, 0, tzinfo=PARIS)


@pytest.fixture
def school(db):
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
    path.write_text('[django]\ndebug = true\n[email]\nenabled = true\nhost = "relay"\nport = 587\n'
                    'starttls = true\nsite_url = "https://ent.example.fr"\n', encoding="utf-8")
    loaded = config.load(str(path), environ={"PREAU_EMAIL_FROM_ADDRESS": "ENT <ent@example.fr>"})["email"]
    assert (loaded["enabled"], loaded["host"], loaded["port"], loaded["starttls"], loaded["from_address"]) == (
        True, "relay", 587, True, "ENT <ent@example.fr>")
    path.write_text('[django]\ndebug = true\n[email]\nsite_url = "ent.example.fr"\n', encoding="utf-8")
    with pytest.raises(config.ConfigError, match="site_url"):
        config.load(str(path), environ={})


def test_no_email_unless_the_platform_and_the_establishment_opt_in(settings, school):
    s = school
    notify_module.notify(s["est"], [s["parent"].pk], "Nouvelle note", now=TUESDAY_NOON)
    assert mail.outbox == []  # platform off (the default)
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    notify_module.notify(s["est"], [s["parent"].pk], "Nouvelle note", now=TUESDAY_NOON)
    assert mail.outbox == []  # establishment not opted in
    assert Notification.objects.filter(user=s["parent"], delivered_at__isnull=False).count() == 2


def test_delivered_notifications_are_emailed_to_accounts_with_an_address(enabled):
    s = enabled
    link = reverse("notifications", kwargs={"uai": s["est"].uai})
    count = notify_module.notify(s["est"], [s["parent"].pk, s["other_parent"].pk, s["student"].pk],
                                 "Nouvelle note en mathématiques", url=link, now=TUESDAY_NOON)
    assert count == 3  # in the app for everyone
    assert len(mail.outbox) == 1  # by e-mail: only the active account with an address
    message = mail.outbox[0]
    assert message.to == ["sophie.martin@example.org"]
    assert message.subject == "[Préau] Nouvelle note en mathématiques"
    assert f"https://ent.example.fr{link}" in message.body and s["est"].name in message.body


def test_emails_wait_for_the_end_of_quiet_hours(enabled):
    s = enabled
    notify_module.notify(s["est"], [s["parent"].pk], "Absence à justifier", now=FRIDAY_NIGHT)
    assert mail.outbox == []
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 15, 10, 0, tzinfo=PARIS)) == 0
    assert mail.outbox == []
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 16, 7, 5, tzinfo=PARIS)) == 1
    assert [m.to for m in mail.outbox] == [["sophie.martin@example.org"]]
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 16, 7, 10, tzinfo=PARIS)) == 0
    assert len(mail.outbox) == 1  # delivered once, e-mailed once


def test_a_failing_mail_server_does_not_fail_delivery(enabled, settings, caplog):
    s = enabled
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nothing listens
    assert notify_module.notify(s["est"], [s["parent"].pk], "Nouveau message", now=TUESDAY_NOON) == 1
    assert Notification.objects.filter(user=s["parent"], text="Nouveau message", delivered_at__isnull=False).exists()
    assert "notification e-mails not sent" in caplog.text


def test_direction_opts_in_on_the_settings_page(client, settings, school):
    s = school
    page_url = reverse("quiet_hours", kwargs={"uai": s["est"].uai})
    client.force_login(s["admin"])
    page = client.get(page_url).content.decode()
    assert "par e-mail" in page and 'name="email"' not in page  # platform off: no choice offered
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    assert 'name="email"' in client.get(page_url).content.decode()
    response = client.post(page_url, {"enabled": "on", "start": "20:00", "end": "07:00", "weekend": "on",
                                      "email": "on"})
    assert response.status_code == 302
    s["est"].refresh_from_db()
    assert s["est"].settings["email_notifications"] is True and notify_module.emails_enabled(s["est"])
    assert re.search(r'name="email"[^>]* checked', client.get(page_url).content.decode())
    client.post(page_url, {"enabled": "on", "start": "20:00", "end": "07:00"})
    s["est"].refresh_from_db()
    assert s["est"].settings["email_notifications"] is False
