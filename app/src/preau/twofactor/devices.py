"""django-otp devices of a user: the authenticator app (TOTP) and the recovery codes (static)."""

import re
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from markupsafe import Markup

RECOVERY_CODES = 10
# django-otp's delays double at each successive wrong code, without a ceiling: an attacker who
# has the password could lock the administrator out for days. Counted up to this, a delay is at
# most 2**9 = 512 s (with the throttle factor 1 set in settings).
MAX_FAILURES_COUNTED = 10
TOTP_NAME = "Application d'authentification"
RECOVERY_NAME = "Codes de secours"
QR_LABEL = "QR code à scanner avec votre application d'authentification"


@dataclass
class Check:
    ok: bool
    device: object = None
    retry_after: int | None = None  # seconds, when refused before checking (throttled)


def totp_device(user, confirmed=True):
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def recovery_device(user):
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_totp(user) -> TOTPDevice:
    """The enrolment's unconfirmed device: the same at each visit until confirmed, so that the
    QR code once scanned stays valid."""
    return totp_device(user, confirmed=False) or TOTPDevice.objects.create(
        user=user, name=TOTP_NAME, confirmed=False
    )


def qr_svg(device: TOTPDevice) -> Markup:
    """The device's otpauth:// URL as an inline SVG QR code (no Pillow, no external file)."""
    # Imported here: the enrolment page is the only one that draws it, and qrcode with its
    # image factories (PIL, lxml) costs every web worker ~9 MB once imported.
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(
        device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4
    )
    svg = image.to_string(encoding="unicode")
    svg = re.sub(
        r'^<svg width="[^"]*" height="[^"]*"',
        f'<svg class="qr" role="img" aria-label="{QR_LABEL}"',
        svg,
        count=1,
    )
    return Markup(svg)


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32 by groups of four, for people who type it in."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalize_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def device_for_code(user, code: str):
    """The device a code is meant for: 6 digits for the app, 8 base32 letters for a recovery code."""
    if re.fullmatch(r"[0-9]{6}", code):
        return totp_device(user)
    if re.fullmatch(r"[a-z2-7]{8}", code):
        return recovery_device(user)
    return None


def _seconds_until(moment: datetime | None) -> int:
    if moment is None:
        return 1
    return max(1, int((moment - timezone.now()).total_seconds() + 0.999))


def check_code(device, code: str) -> Check:
    """Check `code` on `device` under django-otp's throttling (a wrong code delays the next
    try: 1, 2, 4… s), the device row locked so that concurrent tries count one by one."""
    with transaction.atomic():
        device = type(device).objects.select_for_update().get(pk=device.pk)
        device.throttling_failure_count = min(device.throttling_failure_count, MAX_FAILURES_COUNTED)
        allowed, info = device.verify_is_allowed()
        if not allowed:
            return Check(False, device, _seconds_until((info or {}).get("locked_until")))
        return Check(device.verify_token(code), device)


def confirm(device: TOTPDevice) -> None:
    """The enrolment's code was right: the device is the user's, other pending ones go."""
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user_id=device.user_id, confirmed=False).delete()


def new_recovery_codes(user) -> list[str]:
    """Ten fresh single-use codes; the previous ones stop working. Shown once by the caller."""
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODES:
        codes.add(StaticToken.random_token())
    with transaction.atomic():
        device = recovery_device(user) or StaticDevice.objects.create(
            user=user, name=RECOVERY_NAME, confirmed=True
        )
        device.token_set.all().delete()
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return sorted(codes)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def remove_all(user) -> int:
    """Remove every second-factor device of the user (lost phone and codes: the operator's
    reset); sessions they verified are no longer verified. Returns how many."""
    with transaction.atomic():
        _, totp = TOTPDevice.objects.filter(user=user).delete()
        _, static = StaticDevice.objects.filter(user=user).delete()
    return totp.get(TOTPDevice._meta.label, 0) + static.get(StaticDevice._meta.label, 0)
