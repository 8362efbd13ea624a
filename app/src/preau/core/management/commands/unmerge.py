from preau.core import unmerge as unmerging
from preau.core.management.base import OpsCommand, OpsError, operator


class Command(OpsCommand):
    help = (
        "Undo one merge alone: SRC and DST brought back as a read-only copy of the database "
        "taken before the merge (the backup label restored in a scratch cluster) holds them; "
        "every other establishment keeps its present state. Refused, nothing changed, when "
        "DST was written to or operated on since the merge, or the copy is not the right one."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("merge_log", type=int, nargs="?", help="id of the merge's OperationLog")
        which.add_argument(
            "--merge-of",
            nargs=2,
            metavar=("SRC", "DST"),
            help="instead of the id: the latest merge of SRC into DST",
        )
        parser.add_argument(
            "--source-dsn",
            required=True,
            help="libpq DSN of the copy taken before the merge (read only); what it leaves out "
            "is the live connection's: 'dbname=preau_copy' is the copy database beside the live "
            "one (`deploy.py backup copy`), e.g. also 'host=/run/postgresql port=5433 dbname=preau'",
        )

    def run(self, merge_log, source_dsn, merge_of=None, dry_run=False, **_):
        try:
            if merge_of:
                merge_log = unmerging.latest_merge(*merge_of)
            return unmerging.unmerge(merge_log, source_dsn, by=operator(), dry_run=dry_run)
        except unmerging.UnmergeError as exc:
            raise OpsError(
                f"annulation refusée, rien n'a été modifié : {exc}", details=exc.details
            ) from None

    def render(self, r):
        dry = " (SIMULATION, rien n'a été modifié)" if r["dry_run"] else ""
        accounts = r["accounts"]
        lines = [
            f"Fusion n° {r['merge_log']} ({r['src']} → {r['dst']}) annulée{dry}",
            f"{r['src']} : {r['after']['src']['memberships']} rattachement(s), "
            f"{r['after']['src']['classes']} classe(s) ; {r['dst']} : "
            f"{r['after']['dst']['memberships']} rattachement(s), "
            f"{r['after']['dst']['classes']} classe(s)",
            f"comptes : {accounts['restored']} remis comme dans la copie, "
            f"{len(accounts['recreated'])} recréé(s), {accounts['kept_live']} gardé(s) "
            "(membres d'un autre établissement)",
            "lignes remises : " + ", ".join(f"{name} {n}" for name, n in r["restored"].items()),
            f"fichiers : {r['files']['restored']} remis (contenus en base)",
        ]
        for f in r["files"]["incomplete"]:
            lines.append(
                f"  fichier incomplet dans la copie : {f['name']} (n° {f['id']}, "
                f"{f['chunks']}/{f['expected']} morceaux)"
            )
        return "\n".join(lines)
