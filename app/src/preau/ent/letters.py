"""Activation letters (issue #19 item 1): one A4 page per account to hand out, for a class or a
profile of one establishment, made by a background job (app/README.md, "Activation letters").

1. `create_batch` (the admin's POST, or the `letters` command): the accounts chosen once (in
   the establishment's directory, not yet activated, never logged in through ÉduConnect or the
   académie's IdP: `User.federated_since`, recorded by the SAML login; how many were so left
   out is kept on the batch), a LetterBatch row, and the job `make_letters` deferred in the
   same transaction. Bad input (unknown class or profile, nobody to write to) is a LettersError
   and nothing is created.
2. `make` (the job; the command calls it directly): the codes issued once, hashed as always
   (core.accounts), and the PDF stored as a private file of the establishment, in one
   transaction: a job run again after a failure starts afresh, a finished batch is left alone.
3. `regenerate`: an explicit, confirmed action: the batch's codes and PDF are voided at once,
   and the job makes new ones.
4. `expire` (purge_gone, daily): the PDF of a batch whose codes expired is dropped (the file
   becomes an orphan, removed by files.purge_orphans); the batch stays listed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from reportlab.lib.units import mm

from preau.core import accounts, passwords
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Membership,
    ParentLink,
    Platform,
    Profile,
    User,
)
from preau.ent import files
from preau.ent.models import LetterBatch, StoredFile
from preau.ent.pdf import MARGIN, TEXT_WIDTH, WIDTH, canvas, letterhead, paragraph
from preau.federation.matching import federated_logins

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

TASK = "make_letters"
# The CLI's words for the profiles (`--profile eleves`), beside the codes (ELV…).
PROFILE_WORDS = {
    "eleves": Profile.ELV,
    "parents": Profile.TUT,
    "enseignants": Profile.ENS,
    "direction": Profile.DIR,
    "vie-scolaire": Profile.EVS,
    "personnels": Profile.ETA,
}


class LettersError(Exception):
    """A batch refused: the message (French) says what is wrong; nothing was created."""


def profile_code(value: str) -> str:
    """`eleves`, `ELV`, `élèves`… → the profile's code; LettersError when unknown."""
    word = value.strip().lower().replace("é", "e").replace("è", "e")
    code = PROFILE_WORDS.get(word) or (value.strip().upper() if value.strip() else "")
    if code not in Profile.values:
        raise LettersError(
            f"Profil « {value} » inconnu : choisissez parmi {', '.join(PROFILE_WORDS)}."
        )
    return code


def _class(est, class_name: str) -> ClassGroup:
    year = Platform.current_school_year()
    found = ClassGroup.objects.of(est).filter(name__iexact=class_name.strip(), school_year=year)
    class_group = found.first()
    if class_group is None:
        raise LettersError(
            f"Classe « {class_name} » inconnue à {est.name} pour l'année scolaire {year}-{year + 1}."
        )
    return class_group


def eligible(est, *, class_name: str = "", profile: str = "", only_here: bool = False):
    """The memberships to write to, in name order: a class's pupils (or, with the profile
    parents, their parents), or every member of a profile; current, active accounts never
    activated (no usable password) and that have never logged in through an IdP enabled now
    (federation.matching.federated_logins). `only_here`: as for a local admin's codes
    (core.accounts.local_admin_refusal), not the accounts also current in another
    establishment (a code resets an account everywhere)."""
    members = _candidates(est, class_name, profile, only_here)
    federated = federated_logins("user__")
    if federated is not None:
        members = members.exclude(federated)
    return members.select_related("user").order_by("user__last_name", "user__first_name", "pk")


def left_out(est, *, class_name: str = "", profile: str = "", only_here: bool = False) -> int:
    """How many of the selection's accounts eligible() leaves out because they log in
    through ÉduConnect or the académie's IdP (what the page and the command say)."""
    federated = federated_logins("user__")
    if federated is None:
        return 0
    return _candidates(est, class_name, profile, only_here).filter(federated).count()


LEFT_OUT = (
    "{n} compte(s) laissé(s) de côté : ils se sont déjà connectés par ÉduConnect ou le guichet "
    "académique, et entrent ainsi sans code."
)


def _candidates(est, class_name: str, profile: str, only_here: bool):
    """The selection's accounts still to activate, federated logins included."""
    if not class_name and not profile:
        raise LettersError("Choisissez une classe ou un profil.")
    profile = profile_code(profile) if profile else Profile.ELV
    members = (
        Membership.objects.of(est)
        .current()
        .filter(
            profile=profile,
            user__is_active=True,
            user__is_superuser=False,
            user__merged_into__isnull=True,
            user__password__startswith="!",  # Django's unusable password: never activated
        )
    )
    if class_name:
        pupils = ClassMembership.objects.filter(class_group=_class(est, class_name)).values(
            "user_id"
        )
        if profile == Profile.TUT:
            pupils = ParentLink.objects.of(est).filter(child__in=pupils).values("parent_id")
        elif profile != Profile.ELV:
            raise LettersError(
                "Pour une classe, les lettres sont celles de ses élèves ou de leurs parents."
            )
        members = members.filter(user__in=pupils)
    if only_here:
        elsewhere = Membership.objects.current().exclude(establishment=est).values("user_id")
        members = members.exclude(user__in=elsewhere)
    return members


def create_batch(
    est,
    *,
    class_name: str = "",
    profile: str = "",
    by: str,
    site_url: str,
    only_here: bool = False,
    background: bool = True,
) -> LetterBatch:
    """A new batch of the accounts chosen now, its job deferred (unless `background` is
    false: the command then calls make() itself); LettersError when nobody qualifies."""
    members = list(eligible(est, class_name=class_name, profile=profile, only_here=only_here))
    federated = left_out(est, class_name=class_name, profile=profile, only_here=only_here)
    batch = LetterBatch(
        federated_left_out=federated,
        establishment=est,
        class_name=_class(est, class_name).name if class_name else "",
        profile=profile_code(profile) if profile else Profile.ELV,
        requested_by=by,
        site_url=site_url.rstrip("/"),
        user_ids=[m.user_id for m in members],
    )
    if not members:
        raise LettersError(
            f"Aucune lettre à faire ({batch.selection}) : tous ces comptes sont déjà activés "
            "ou se connectent par ÉduConnect ou le guichet académique, ou il n'y en a aucun."
            + (f" {LEFT_OUT.format(n=federated)}" if federated else "")
        )
    with transaction.atomic():
        batch.save()
        if background:
            batch.defer(TASK)
    return batch


def make(batch_id: int) -> dict:
    """The job's work: issue the codes of the batch's accounts still to activate and store
    their letters' PDF, in one transaction; a batch already made is left as it is."""
    with transaction.atomic():
        batch = (
            LetterBatch.objects.select_for_update().select_related("establishment").get(pk=batch_id)
        )
        if batch.made_at is None:
            est = batch.establishment
            # The batch's accounts still to activate, less those that have logged in through
            # an IdP since it was asked for (a regeneration, a job run late).
            chosen = Membership.objects.of(est).filter(
                user_id__in=batch.user_ids,
                profile=batch.profile,
                user__is_active=True,
                user__password__startswith="!",
            )
            federated = federated_logins("user__")
            if federated is not None:
                chosen = chosen.exclude(federated)
            members = list(
                chosen.select_related("user").order_by("user__last_name", "user__first_name", "pk")
            )
            users = [m.user for m in members]
            codes = accounts.issue_activation_codes(
                users, est, by=batch.requested_by, via="lettres"
            )
            now = timezone.now()
            batch.made_at, batch.letters = now, len(users)
            if users:
                batch.expires_at = users[0].activation_expires
                pdf = render(batch, members, codes)
                name = f"lettres-{est.uai}-{batch.pk}-{now:%Y%m%d}.pdf"
                batch.file = files.store_generated(est, name, pdf)
            batch.save()
    return {"batch": batch.pk, "letters": batch.letters, "file": batch.file_id}


def regenerate(batch: LetterBatch, by: str) -> None:
    """New codes and letters for the batch's accounts: the previous codes stop working now,
    the previous PDF is deleted, the job makes the new ones."""
    with transaction.atomic():
        batch = (
            LetterBatch.objects.select_for_update().select_related("establishment").get(pk=batch.pk)
        )
        users = list(User.objects.filter(pk__in=batch.user_ids, password__startswith="!"))
        User.objects.filter(pk__in=[u.pk for u in users]).update(
            activation_code="", activation_expires=None
        )
        accounts.audit("letters_voided", batch.establishment, users, by=by, via="lettres")
        old_file = batch.file_id
        batch.file, batch.made_at, batch.expires_at, batch.letters = None, None, None, 0
        batch.save(update_fields=["file", "made_at", "expires_at", "letters"])
        if old_file:
            StoredFile.objects.filter(pk=old_file).delete()
        batch.defer(TASK)


def expire(now=None) -> int:
    """Drop the PDF of the batches whose codes expired (retention: purge_gone); how many."""
    now = now or timezone.now()
    return LetterBatch._base_manager.filter(expires_at__lt=now, file__isnull=False).update(
        file=None
    )


# --- the PDF ------------------------------------------------------------------------------------

QR_SIZE = 45 * mm


def render(batch: LetterBatch, members: list[Membership], codes: dict[int, str]) -> bytes:
    """One A4 page per member: who, login, code and its expiry, where to go (URL and its QR
    code), the password rule of the account's profile."""
    est = batch.establishment
    classes = accounts.class_names(est, [m.user_id for m in members])
    url = f"{batch.site_url}/activation/"
    out = io.BytesIO()
    pdf = canvas(out, f"Lettres d'activation – {est.name} – {batch.selection}")
    # The same address on every page: its QR code drawn once, shown on each (a PDF form).
    pdf.beginForm("qr", 0, 0, QR_SIZE, QR_SIZE)
    _qr(pdf, url, 0, 0, QR_SIZE)
    pdf.endForm()
    for m in members:
        _page(pdf, est, m, codes[m.user_id], classes.get(m.user_id, ""), url, batch.expires_at)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _page(pdf: Canvas, est, member: Membership, code: str, class_name, url, expires) -> None:
    user = member.user
    y = letterhead(pdf, est)
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(MARGIN, y, "Votre compte Préau, l'ENT de l'établissement")
    y -= 12 * mm
    pdf.setFont("Helvetica", 12)
    who = f"{user.first_name} {user.last_name}".strip() or user.username
    pdf.drawString(MARGIN, y, f"{who} – {member.get_profile_display()}")
    if class_name:
        pdf.drawString(MARGIN, y - 6 * mm, f"Classe {class_name}")
    y -= 20 * mm
    pdf.saveState()
    pdf.translate(WIDTH - MARGIN - QR_SIZE, y - 40 * mm)
    pdf.doForm("qr")
    pdf.restoreState()
    for label, value in (("Identifiant", user.username), ("Code d'activation", code)):
        pdf.setFont("Helvetica", 11)
        pdf.drawString(MARGIN, y, f"{label} :")
        pdf.setFont("Courier-Bold", 16)
        pdf.drawString(MARGIN + 40 * mm, y, value)
        y -= 10 * mm
    pdf.setFont("Helvetica", 11)
    pdf.drawString(
        MARGIN, y, f"Code valable jusqu'au {timezone.localtime(expires):%d/%m/%Y}, une fois."
    )
    y -= 8 * mm
    pdf.drawString(MARGIN, y, "Adresse d'activation :")
    pdf.setFont("Courier-Bold", 11)
    pdf.drawString(MARGIN, y - 6 * mm, url)
    y -= 30 * mm
    rule = passwords.PUPIL if member.profile == Profile.ELV else passwords.ADULT
    steps = [
        "Allez à l'adresse ci-dessus, ou scannez le QR code avec un téléphone.",
        "Saisissez votre identifiant et le code d'activation (majuscules ou minuscules, "
        "sans espace).",
        f"Choisissez votre mot de passe : {passwords.rule_sentence(rule)}. Pas de mot de passe "
        "courant (azerty, motdepasse, soleil…), ni votre nom ou votre date de naissance.",
        "Gardez-le pour vous et ne l'écrivez pas sur cette lettre. Ensuite, connectez-vous "
        "avec votre identifiant et ce mot de passe.",
        "Code perdu ou expiré : demandez-en un nouveau au secrétariat de l'établissement.",
    ]
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(MARGIN, y, "Pour activer votre compte")
    y -= 8 * mm
    for number, step in enumerate(steps, 1):
        y = paragraph(pdf, f"{number}. {step}", MARGIN, y, TEXT_WIDTH) - 2 * mm


def _qr(pdf: Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code of `url`, drawn as vectors by ReportLab's own widget (no image library).
    Imported here, by the job: the web pages import this module to choose a batch, and
    ReportLab's graphics cost each web worker ~6 MB (scripts/measure_memory.py)."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing

    widget = QrCodeWidget(url)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0]
    )
    drawing.add(widget)
    renderPDF.draw(drawing, pdf, x, y)
