import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from preau.cas.models import ServiceTicket
from preau.core.management.base import OpsCommand
from preau.core.models import LoginAttempt, Membership, User
from preau.ent import letters
from preau.ent.files import purge_orphans
from preau.messaging.models import Broadcast, Conversation, Message
from preau.timetable import imports


class Command(OpsCommand):
    help = (
        "Retention (RGPD): disable accounts gone for more than [retention] disable_after_days, "
        "delete accounts disabled for more than delete_after_days; drop connection logs older than a year, "
        "messages older than messages_days (and the conversations left empty) "
        "activation letters' PDF once their codes expired, timetable files imported more than "
        "timetable_imports_days ago, "
        "and files nothing references any more ([uploads] orphan_grace_hours); "
        "CAS service tickets never validated, once expired."
    )

    def run(self, dry_run=False, **_):
        now = timezone.now()
        today = timezone.localdate()
        disable_days = settings.RETENTION["disable_after_days"]
        delete_days = settings.RETENTION["delete_after_days"]
        with transaction.atomic():
            # An account is disabled when every one of its memberships is gone long enough.
            cutoff = today - dt.timedelta(days=disable_days)
            still_here = Membership.objects.filter(gone_since__isnull=True).values("user_id")
            recently_gone = Membership.objects.filter(gone_since__gt=cutoff).values("user_id")
            to_disable = (
                User.objects.filter(
                    is_active=True, is_superuser=False, memberships__gone_since__lte=cutoff
                )
                .exclude(pk__in=still_here)
                .exclude(pk__in=recently_gone)
                .distinct()
            )
            disabled = list(to_disable.values_list("username", flat=True))
            User.objects.filter(pk__in=to_disable.values("pk")).update(
                is_active=False, disabled_at=now
            )
            # Personal data deleted after the second delay (memberships, links cascade).
            # (Accounts still in a directory, e.g. disabled by a local admin, are kept.)
            to_delete = User.objects.filter(
                is_active=False,
                is_superuser=False,
                disabled_at__lte=now - dt.timedelta(days=delete_days),
            ).exclude(pk__in=still_here)
            deleted = list(to_delete.values_list("username", flat=True))
            to_delete.delete()
            logs, _ = LoginAttempt.objects.filter(at__lt=now - dt.timedelta(days=365)).delete()
            tickets, _ = ServiceTicket.objects.filter(expires_at__lt=now).delete()
            messages_days = settings.RETENTION["messages_days"]
            messages = _purge_messages(now - dt.timedelta(days=messages_days))
            # Activation letters whose codes expired: their PDF goes (an orphan file below).
            letters_expired = letters.expire(now)
            # Timetable files imported long ago: their import keeps its report (orphan file).
            timetable_files = imports.expire(now)
            # Last: the files of what was just deleted are orphans too.
            orphan_files = purge_orphans(now)
            result = {
                "dry_run": dry_run,
                "disable_after_days": disable_days,
                "delete_after_days": delete_days,
                "disabled": disabled,
                "deleted": deleted,
                "connection_logs_deleted": logs,
                "messages_days": messages_days,
                "messages_deleted": messages,
                "letters_expired": letters_expired,
                "timetable_imports_days": settings.RETENTION["timetable_imports_days"],
                "timetable_files_expired": timetable_files,
                "orphan_files_deleted": orphan_files,
                "cas_tickets_deleted": tickets,
            }
            if dry_run:
                transaction.set_rollback(True)
        return result

    def render(self, r):
        dry = " (SIMULATION, rien n'a été modifié)" if r["dry_run"] else ""
        return (
            f"Rétention{dry} : {len(r['disabled'])} compte(s) désactivé(s) "
            f"(absents depuis plus de {r['disable_after_days']} j), {len(r['deleted'])} supprimé(s) "
            f"(désactivés depuis plus de {r['delete_after_days']} j), "
            f"{r['connection_logs_deleted']} journal(aux) de connexion de plus d'un an supprimé(s), "
            f"{r['messages_deleted']} message(s) de plus de {r['messages_days']} j supprimé(s), "
            f"{r['letters_expired']} PDF de lettres d'activation expirées retiré(s), "
            f"{r['timetable_files_expired']} fichier(s) d'emploi du temps importé(s) depuis plus "
            f"de {r['timetable_imports_days']} j retiré(s), "
            f"{r['orphan_files_deleted']} fichier(s) rattaché(s) à rien supprimé(s), "
            f"{r['cas_tickets_deleted']} ticket(s) CAS expiré(s) supprimé(s)"
        )


def _purge_messages(cutoff) -> int:
    """Delete the messages sent before `cutoff`, then the conversations left with none
    (their participants cascade; attachments become orphans, removed next by purge_orphans).
    Every establishment's: the base manager, as purge_orphans does."""
    _, by_model = Message._base_manager.filter(sent_at__lt=cutoff).delete()
    any_message = Message._base_manager.filter(conversation=OuterRef("pk"))
    Conversation._base_manager.filter(created_at__lt=cutoff).exclude(Exists(any_message)).delete()
    # A group message keeps its text for its sender's page: gone with its copies.
    Broadcast._base_manager.filter(sent_at__lt=cutoff).delete()
    return by_model.get(Message._meta.label, 0)
