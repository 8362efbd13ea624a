"""Shared behaviour of Préau's operational commands (called by the ops bundle over SSH).

Human report on stdout by default, one JSON document with --json. Errors exit non-zero with a
clear message (and a JSON document {"ok": false, ...} with --json).
"""

import getpass
import json
import os
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction


class OpsError(CommandError):
    """A refusal or failure; `details` are extra keys of the JSON answer."""

    def __init__(self, message: str, errors: list | None = None, details: dict | None = None):
        super().__init__(message)
        self.errors = errors or []
        self.details = details or {}


class OpsCommand(BaseCommand):
    changes_data = True
    # Demo and benchmark data (shared passwords) never go into a production platform.
    refused_in_production = False

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        self.add_common(parser)
        return parser

    def add_common(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        if self.changes_data:
            parser.add_argument(
                "--dry-run", action="store_true", help="compute and report, change nothing"
            )

    def handle(self, *args, **options):
        self.as_json = options.get("json", False)
        try:
            try:
                self.check_environment()
                result = self.run(**options)
            except DatabaseError as exc:
                raise OpsError(
                    f"erreur de base de données, rien n'a été modifié : "
                    f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"
                ) from exc
        except OpsError as exc:
            if self.as_json:
                self.stdout.write(
                    json.dumps(
                        {**exc.details, "ok": False, "error": str(exc), "errors": exc.errors},
                        ensure_ascii=False,
                        indent=2,
                        default=str,
                    )
                )
            else:
                for error in exc.errors:
                    self.stderr.write(f"  - {error}")
            raise
        if self.as_json:
            self.stdout.write(
                json.dumps({"ok": True, **result}, ensure_ascii=False, indent=2, default=str)
            )
        else:
            self.stdout.write(self.render(result))

    def check_environment(self):
        from django.conf import settings

        if self.refused_in_production and settings.PREAU_ENVIRONMENT == "production":
            name = self.__module__.rsplit(".", 1)[-1]
            raise OpsError(
                f"{name} refusé sur une plateforme de production (réglage PREAU_ENVIRONMENT = "
                '"production", [security] environment de preau.toml) : il crée des comptes '
                "dont le mot de passe est connu de tous"
            )

    def run(self, **options) -> dict:
        raise NotImplementedError

    def render(self, result: dict) -> str:
        return json.dumps(result, ensure_ascii=False, indent=2, default=str)


def applied_unless_dry(dry_run: bool, change: Callable[[], dict]) -> dict:
    """`change()` in one transaction, rolled back under --dry-run: its report either way."""
    with transaction.atomic():
        result = change()
        if dry_run:
            transaction.set_rollback(True)
    return result


def get_establishment(uai: str, allow_inactive: bool = False):
    from preau.core.models import Establishment
    from preau.core.uai import normalize, uai_error

    uai = normalize(uai)
    message = uai_error(uai)
    if message:
        raise OpsError(message)
    establishment = Establishment.objects.filter(uai=uai).first()
    if establishment is None:
        raise OpsError(f"établissement {uai} inconnu")
    if not allow_inactive and not establishment.is_active:
        raise OpsError(f"établissement {uai} : statut {establishment.status}, opération refusée")
    return establishment


def operator() -> str:
    """The platform operator running this command (the ops bundle runs it with sudo)."""
    try:
        login = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # a uid without a name
        login = f"uid {os.getuid()}"
    return f"operator:{login}"
