import logging

from django.db import transaction

from preau.core.management.base import OpsCommand, OpsError
from preau.core.models import User
from preau.twofactor import devices
from preau.twofactor.policy import needs_second_factor

audit_log = logging.getLogger("preau.audit")


class Command(OpsCommand):
    help = (
        "Second factor of an account: `status`, or `reset` (every device removed: a lost "
        "phone without recovery codes; the next login enrols again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "reset"])
        parser.add_argument("username")

    def run(self, action, username, dry_run=False, **_):
        user = User.objects.filter(username=username.strip().lower()).first()
        if user is None:
            raise OpsError(f"compte inconnu : {username}")
        result = {
            "action": action,
            "username": user.username,
            "dry_run": dry_run,
            "required": needs_second_factor(user),
        }
        with transaction.atomic():
            if action == "reset":
                result["removed_devices"] = devices.remove_all(user)
            result.update(
                app=devices.totp_device(user) is not None,
                recovery_codes_left=devices.recovery_codes_left(user),
            )
            if action == "reset" and dry_run:
                transaction.set_rollback(True)
            elif action == "reset":
                transaction.on_commit(
                    lambda: audit_log.info(
                        "two_factor_reset", extra={"username": user.username, "via": "preau-manage"}
                    )
                )
        return result

    def render(self, result):
        lines = [
            f"{result['username']} : double authentification "
            f"{'exigée' if result['required'] else 'non exigée'}"
        ]
        if "removed_devices" in result:
            dry = " (SIMULATION)" if result["dry_run"] else ""
            lines.append(f"réinitialisée{dry} : {result['removed_devices']} appareil(s) retiré(s)")
        lines.append(
            f"application : {'activée' if result['app'] else 'aucune'} ; "
            f"codes de secours restants : {result['recovery_codes_left']}"
        )
        return "\n".join(lines)
