from django.db import transaction
from django.utils import timezone

from preau.core import accounts
from preau.core.management.base import OpsCommand, OpsError, get_establishment, operator
from preau.core.models import Membership, Profile


class Command(OpsCommand):
    help = (
        "Generate activation codes to hand out: by default for the establishment's members who "
        "never had one and have not activated their account."
    )

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument(
            "--profile",
            action="append",
            choices=Profile.values,
            help="only these profiles (repeatable)",
        )
        parser.add_argument(
            "--user",
            action="append",
            dest="usernames",
            metavar="USERNAME",
            help="these users, even if already activated (repeatable)",
        )
        parser.add_argument(
            "--renew",
            action="store_true",
            help="also replace codes already handed out and not yet used",
        )

    def run(self, uai, profile=None, usernames=None, renew=False, dry_run=False, **_):
        est = get_establishment(uai)
        with transaction.atomic():
            members = (
                Membership.objects.of(est)
                .current()
                .select_related("user")
                .filter(user__is_active=True)
            )
            if profile:
                members = members.filter(profile__in=profile)
            if usernames:
                members = members.filter(user__username__in=usernames)
                missing = set(usernames) - {m.user.username for m in members}
                if missing:
                    raise OpsError(
                        f"utilisateur(s) absent(s) de {est.uai} : {', '.join(sorted(missing))}"
                    )
            else:
                members = [
                    m
                    for m in members
                    if not m.user.has_usable_password()
                    and (
                        renew
                        or not m.user.activation_code
                        or m.user.activation_expires < timezone.now()
                    )
                ]
            members = list(members)
            # Audited in the establishment's OperationLog and on `preau.audit` (never the codes).
            codes = accounts.issue_activation_codes(
                [m.user for m in members], est, by=operator(), via="activation_codes"
            )
            classes = accounts.class_names(est, [m.user_id for m in members])
            rows = sorted(
                (
                    {
                        "username": m.user.username,
                        "last_name": m.user.last_name,
                        "first_name": m.user.first_name,
                        "profile": m.profile,
                        "class": classes.get(m.user_id, ""),
                        "code": None if dry_run else codes[m.user_id],
                    }
                    for m in members
                ),
                key=lambda r: (r["profile"], r["class"], r["last_name"], r["first_name"]),
            )
            if dry_run:
                transaction.set_rollback(True)
        return {"uai": est.uai, "dry_run": dry_run, "count": len(rows), "codes": rows}

    def render(self, r):
        lines = [
            f"{r['count']} code(s) d'activation pour {r['uai']}"
            + (" (SIMULATION : aucun code créé)" if r["dry_run"] else "")
        ]
        for row in r["codes"]:
            lines.append(
                f"{row['profile']:4} {row['class']:8} {row['last_name']} {row['first_name']:20} "
                f"{row['username']:24} {row['code'] or '-'}"
            )
        return "\n".join(lines)
