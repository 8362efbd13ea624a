"""Undoing one merge (core.merge) alone: SRC and DST brought back as a copy of the database
taken before the merge holds them, while every other establishment keeps its present state.

The copy is the backup label the ops side took just before the merge, restored into a scratch
cluster; this module only reads it, through a second Django database alias made at run time
(`source_database`): the same models read both sides, so rows keep their ids and column values
without one line of SQL per table, and the schema check (both databases have applied the same
migrations) is what makes reading the copy with today's models correct.

What belongs to the two establishments (`_scope`): every row of a model with a foreign key to
Establishment pointing at them (core.tenancy's models and merge.service_models()), then every
row that cannot outlive one of those (ON DELETE CASCADE, e.g. grades of an assessment, chunks
of a file), then the per-person rows of the services (a calendar feed) of their accounts. The
same walk runs on the copy and on the live database. In one transaction on the live database:
the live rows of that scope are deleted and the copy's inserted with their ids (foreign keys
are checked at commit: Django makes them DEFERRABLE INITIALLY DEFERRED); the accounts that are
members of SRC or DST alone take the copy's row back (an account the merge folded into its
duplicate is active again), those also members elsewhere keep their live row; SRC and DST take
the copy's row back (SRC active, its alias gone); the merge's own log stays, and an
`OperationLog(kind="unmerge")` in both points at it.

Refused, nothing changed (UnmergeError, naming what and how many) when undoing would lose or
mix something: a copy whose migrations differ, a copy that is not from just before the merge
(it holds the merge, SRC is not active in it, or its counts differ from the merge's "before"),
an operation on SRC or DST after the merge (another merge, an import, a year change), rows of
DST written after the merge (created: not in the copy; changed: a timestamp after the merge),
an absorbed account that also belonged elsewhere, ids the copy needs held by other rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connections,
    models,
    transaction,
)
from django.db.models import Count, ForeignObjectRel, Q
from django.db.utils import load_backend

from preau.core import merge as merging
from preau.core.models import (
    Establishment,
    EstablishmentAlias,
    Membership,
    OperationLog,
    User,
    lock_directory,
)

COPY = "merge_copy"  # the alias of the copy's connection, registered only while it is read
LIVE = DEFAULT_DB_ALIAS
BATCH = 500
# Timestamps that say when something is due, not when the row was written.
DUE_DATES = {"deliver_after", "expires_at", "expire_date", "activation_expires"}
# What the merge changes in SRC's own row (retire_src; DST's it leaves as it was), and in an
# account it folds into its duplicate (fold_duplicate_accounts).
RETIRED = {"status", "merged_into", "archived_at"}
FOLDED = {"is_active", "merged_into", "join_key"}
# Kept as they are today: the maintenance flag is the operators' (they may close both
# establishments for the undo and open them after); the last login is a fact, not data.
KEPT_LIVE = {"maintenance", "last_login"}
# Rows that live seconds (a CAS service ticket): neither restored nor a write that blocks.
EPHEMERAL = {"cas.ServiceTicket"}


class UnmergeError(Exception):
    """A refusal: nothing was changed. `details` are the numbers behind it."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


@contextmanager
def source_database(dsn: str) -> Iterator[str]:
    """The copy reachable as a read-only Django database alias while the block runs.

    A libpq DSN ("host=… dbname=… user=…" or postgresql://…); the live database's settings
    otherwise (engine, time zone), and every transaction read-only, so that a mistaken DSN
    pointing at a live database cannot change it."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise UnmergeError(f"--source-dsn illisible : {exc}") from None
    # What the DSN leaves out is the live connection's: "dbname=preau_copy" is the copy
    # database beside the live one (`deploy.py backup copy`), same server, role and TLS.
    live = connections.settings[LIVE]
    options = {**live.get("OPTIONS", {}), "connect_timeout": 5}
    options.pop("target_session_attrs", None)  # the copy is read: any host that has it
    extra = params.pop("options", "")
    settings = {
        **live,
        "NAME": params.pop("dbname", ""),
        "USER": params.pop("user", live["USER"]),
        "PASSWORD": params.pop("password", live["PASSWORD"]),
        "HOST": params.pop("host", live["HOST"]),
        "PORT": params.pop("port", live["PORT"]),
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {
            **options,
            **params,
            "options": f"{options.get('options', '')} {extra} -c default_transaction_read_only=on".strip(),
        },
    }
    if not settings["NAME"]:
        raise UnmergeError("--source-dsn : nom de la base (dbname) manquant")
    # A connection of its own, not a configured database: nothing else (the request cycle's
    # connection handling, the tests' isolation) ever sees it.
    connections[COPY] = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, COPY)
    try:
        try:
            connections[COPY].ensure_connection()
        except DatabaseError as exc:
            raise UnmergeError(f"copie injoignable ({settings['NAME']}) : {exc}") from None
        yield COPY
    finally:
        connections[COPY].close()
        del connections[COPY]


# --- what belongs to the two establishments ----------------------------------------------------


def _cascade_children(model) -> list[tuple]:
    """(model, field) of the rows deleted with a row of `model` (ON DELETE CASCADE)."""
    return [
        (rel.field.model, rel.field.name)
        for rel in _relations(model)
        if rel.on_delete is models.CASCADE
    ]


def _relations(model) -> list[ForeignObjectRel]:
    """The foreign keys pointing at `model`, those without a reverse accessor too (the
    services' `related_name="+"`)."""
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if isinstance(rel, ForeignObjectRel)
    ]


def _personal(model) -> bool:
    """A service's row of one person, of no establishment (a calendar feed)."""
    relations = [f for f in model._meta.concrete_fields if f.is_relation]
    return bool(relations) and all(f.related_model is User for f in relations)


def _scope(using: str, est_ids: list[int], user_ids: set[int]) -> dict:
    """{model: ids} of every row that belongs to those establishments in database `using`,
    with the personal rows of the accounts `user_ids`."""
    found: dict = {}

    def add(model, queryset) -> set:
        if model._meta.label in EPHEMERAL:
            return set()
        new = set(queryset.values_list("pk", flat=True)) - found.get(model, set())
        if new:
            found.setdefault(model, set()).update(new)
        return new

    frontier: list[tuple] = []
    for rel in _relations(Establishment):
        if rel.related_model is Establishment:  # merged_into: other establishments' own rows
            continue
        model = rel.field.model
        new = add(
            model, model._base_manager.using(using).filter(**{f"{rel.field.name}__in": est_ids})
        )
        frontier.append((model, new))
    # Per-person rows of the services (no establishment of their own) of the accounts.
    for model in filter(_personal, merging._all_service_models()):
        for field in merging._user_fields(model):
            for chunk in _chunks(user_ids):
                new = add(model, model._base_manager.using(using).filter(**{f"{field}__in": chunk}))
                frontier.append((model, new))
    while frontier:
        parent, ids = frontier.pop()
        if not ids:
            continue
        for child, field in _cascade_children(parent):
            for chunk in _chunks(ids):
                new = add(child, child._base_manager.using(using).filter(**{f"{field}__in": chunk}))
                frontier.append((child, new))
    return found


def _chunks(ids, size: int = 5000) -> Iterator[list]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _batch(model) -> int:
    """Rows read and written at a time: few of file chunks (up to 512 KiB each)."""
    binary = any(isinstance(f, models.BinaryField) for f in model._meta.concrete_fields)
    return 8 if binary else BATCH


def _rows(model, using: str, ids) -> Iterator:
    for chunk in _chunks(ids, _batch(model)):
        yield from model._base_manager.using(using).filter(pk__in=chunk).order_by("pk")


def _own_fields(model, ignore: frozenset | set = frozenset()) -> list:
    """The fields a restore copies, those named in `ignore` and KEPT_LIVE left out."""
    return [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in ignore and f.name not in KEPT_LIVE
    ]


def _changed(live, copy, ignore: frozenset | set = frozenset()) -> list[str]:
    return [
        f.name
        for f in _own_fields(type(live), ignore)
        if getattr(live, f.attname) != getattr(copy, f.attname)
    ]


# --- the checks ------------------------------------------------------------------------------


def _migrations(using: str) -> set[tuple[str, str]]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations")
        return set(cursor.fetchall())


def _check_schema() -> None:
    live, copy = _migrations(LIVE), _migrations(COPY)
    if live != copy:
        only_live, only_copy = sorted(live - copy), sorted(copy - live)
        raise UnmergeError(
            f"schéma différent : {len(only_live)} migration(s) appliquée(s) seulement sur la "
            f"base, {len(only_copy)} seulement sur la copie (la copie doit venir de la même "
            "version de Préau)",
            {
                "migrations_only_live": [f"{a}.{n}" for a, n in only_live],
                "migrations_only_copy": [f"{a}.{n}" for a, n in only_copy],
            },
        )


def _flat(counts: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in counts.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _differences(expected: dict, actual: dict) -> list[str]:
    want, got = _flat(expected), _flat(actual)
    return [
        f"{key} attendu {want.get(key)}, trouvé {got.get(key)}"
        for key in sorted(set(want) | set(got))
        if want.get(key) != got.get(key)
    ]


def _check_copy_is_before(log: OperationLog, src: Establishment, dst: Establishment) -> dict:
    """The copy's SRC and DST, refused unless the copy is the state the merge started from."""
    if OperationLog.objects.using(COPY).filter(pk=log.pk).exists():
        raise UnmergeError(
            f"la copie contient déjà la fusion (journal n° {log.pk}) : elle a été prise après "
            "la fusion ; restaurer le label de sauvegarde pris juste avant"
        )
    theirs = {e.uai: e for e in Establishment.objects.using(COPY).filter(pk__in=[src.pk, dst.pk])}
    for est in (src, dst):
        copy = theirs.get(est.uai)
        if copy is None or copy.pk != est.pk:
            raise UnmergeError(f"établissement {est.uai} absent de la copie : mauvaise copie")
        if copy.status != Establishment.Status.ACTIVE:
            raise UnmergeError(
                f"établissement {est.uai} : statut {copy.status} dans la copie, elle n'est pas "
                "celle d'avant la fusion"
            )
    before = log.summary.get("before", {})
    wrong = []
    for side, est in (("src", src), ("dst", dst)):
        wrong += [
            f"{est.uai} {line}"
            for line in _differences(before.get(side, {}), merging.counts(theirs[est.uai], COPY))
        ]
    if wrong:
        raise UnmergeError(
            f"la copie n'est pas l'état d'avant la fusion : {len(wrong)} compte(s) diffèrent "
            "du rapport de la fusion ("
            + "; ".join(wrong[:5])
            + ("…" if len(wrong) > 5 else "")
            + ")",
            {"differences": wrong},
        )
    return theirs


def _check_own_rows(src, dst, theirs: dict, users: set[int]) -> None:
    """Their own rows as the copy holds them but for what the merge changed: otherwise they
    were changed since (DST's name, an account's password...), which the undo would lose."""
    changed = {
        est.uai: fields
        for est, ignore in ((src, RETIRED), (dst, set()))
        if (fields := _changed(est, theirs[est.uai], ignore))
    }
    if changed:
        raise UnmergeError(
            "établissement(s) modifié(s) depuis la fusion : "
            + "; ".join(f"{uai} ({', '.join(fields)})" for uai, fields in changed.items()),
            {"establishments_changed": changed},
        )
    copies = {u.pk: u for u in _rows(User, COPY, users)}
    accounts = Counter(
        name
        for user in _rows(User, LIVE, users)
        if (copy := copies.get(user.pk)) is not None
        for name in _changed(
            user, copy, FOLDED if user.merged_into_id and not copy.merged_into_id else set()
        )
    )
    if accounts:
        raise UnmergeError(
            f"compte(s) de ces établissements modifié(s) depuis la fusion : {_listed(accounts)}"
            " ; l'annulation remettrait leur ancienne valeur",
            {"accounts_changed": dict(accounts)},
        )


def _listed(counts: Counter) -> str:
    return ", ".join(f"{name} ×{n}" for name, n in sorted(counts.items()))


def _check_nothing_after(log: OperationLog, ests: list[Establishment]) -> None:
    kinds = Counter(
        OperationLog.objects.filter(establishment__in=ests, at__gt=log.at)
        .exclude(pk=log.pk)
        .values_list("kind", flat=True)
    )
    if kinds:
        raise UnmergeError(
            f"opération(s) postérieure(s) à la fusion sur ces établissements : {_listed(kinds)}"
            " (une autre fusion, un import, une rentrée…) : l'annulation les défairait",
            {"later_operations": dict(kinds)},
        )


def _writes_after(log: OperationLog, live: dict, copy: dict, made: dict) -> dict[str, dict]:
    """{model: {"created": n, "changed": n}} of the live rows written after the merge: not in
    the copy (besides what the merge made), or a timestamp later than the merge."""
    writes: dict[str, dict] = {}
    for model, ids in live.items():
        created = len(ids - copy.get(model, set()) - made.get(model, set()))
        stamps = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.DateTimeField) and f.name not in DUE_DATES
        ]
        changed = 0
        if stamps:
            after = Q()
            for name in stamps:
                after |= Q(**{f"{name}__gt": log.at})
            for chunk in _chunks(ids & copy.get(model, set())):
                changed += model._base_manager.filter(after, pk__in=chunk).count()
        if created or changed:
            writes[model.__name__] = {"created": created, "changed": changed}
    return writes


def _ids_taken(live: dict, copy: dict) -> dict[str, int]:
    """Ids the copy's rows need that rows outside the two establishments hold today."""
    taken = {}
    for model, ids in copy.items():
        wanted = ids - live.get(model, set())
        n = sum(model._base_manager.filter(pk__in=chunk).count() for chunk in _chunks(wanted))
        if n:
            taken[model.__name__] = n
    return taken


# --- the undo ---------------------------------------------------------------------------------


def latest_merge(src_uai: str, dst_uai: str) -> int:
    """The id of the latest merge of SRC into DST (what the ops side knows: the two UAIs and
    the backup label the operations log kept)."""
    log = (
        OperationLog.objects.filter(kind="merge", summary__src=src_uai, summary__dst=dst_uai)
        .order_by("-pk")
        .first()
    )
    if log is None:
        raise UnmergeError(f"aucune fusion de {src_uai} dans {dst_uai}")
    return log.pk


def _merge_log(log_id: int) -> OperationLog:
    log = OperationLog.objects.filter(pk=log_id).select_related("establishment").first()
    if log is None or log.kind != "merge":
        raise UnmergeError(f"journal n° {log_id} : pas une fusion")
    if OperationLog.objects.filter(kind="unmerge", summary__merge_log=log_id).exists():
        raise UnmergeError(f"fusion n° {log_id} déjà annulée")
    return log


def _insert(model, objs: list) -> None:
    if objs:
        model._base_manager._insert(objs, fields=model._meta.concrete_fields, raw=True, using=LIVE)


def _elsewhere(user_ids: set[int], est_ids: list[int]) -> set[int]:
    """Accounts that are members of another establishment today (a parent with a child
    elsewhere, a teacher in two collèges): their row is not SRC's or DST's to restore."""
    return set(
        Membership.objects.filter(user_id__in=user_ids)
        .exclude(establishment_id__in=est_ids)
        .values_list("user_id", flat=True)
    )


def _restore_users(user_ids: set[int], elsewhere: set[int]) -> dict:
    """The copy's row back for the accounts of SRC and DST alone (re-created when gone); those
    also members elsewhere today keep theirs."""
    present = set(User.objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    restored, recreated = 0, []
    fields = _own_fields(User)
    for user in _rows(User, COPY, user_ids - elsewhere):
        if user.pk in present:
            User._base_manager.filter(pk=user.pk).update(
                **{f.attname: getattr(user, f.attname) for f in fields}
            )
            restored += 1
        else:
            _insert(User, [user])
            recreated.append(user.username)
    return {"restored": restored, "recreated": recreated, "kept_live": len(elsewhere & present)}


def _users_of(scope: dict) -> set[int]:
    """Accounts the rows name (members, authors, pupils...)."""
    ids: set[int] = set()
    for model, pks in scope.items():
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is User:
                for chunk in _chunks(pks):
                    ids.update(
                        model._base_manager.using(COPY)
                        .filter(pk__in=chunk, **{f"{f.name}__isnull": False})
                        .values_list(f.attname, flat=True)
                    )
    return ids


def _locked(log: OperationLog) -> tuple[Establishment, Establishment]:
    """SRC and DST, locked; refused unless SRC is still merged into an active DST."""
    dst = Establishment.objects.select_for_update().get(pk=log.establishment_id)
    src = Establishment.objects.select_for_update().filter(uai=log.summary.get("src")).first()
    if src is None or src.status != Establishment.Status.MERGED or src.merged_into_id != dst.pk:
        raise UnmergeError(
            f"établissement {log.summary.get('src')} : n'est plus fusionné dans {dst.uai}"
        )
    if not dst.is_active:
        raise UnmergeError(f"établissement {dst.uai} : statut {dst.status}, annulation refusée")
    return src, dst


def _check_writes(log: OperationLog, dst: Establishment, live: dict, copy: dict, made: dict):
    writes = _writes_after(log, live, copy, made)
    if writes:
        total = sum(n for w in writes.values() for n in w.values())
        raise UnmergeError(
            f"{dst.uai} a été modifié depuis la fusion ({log.at:%d/%m/%Y %H:%M}) : "
            f"{total} ligne(s) créée(s) ou modifiée(s) ("
            + ", ".join(
                f"{name} {w['created']} créée(s) {w['changed']} modifiée(s)"
                for name, w in sorted(writes.items())
            )
            + ") ; l'annulation les perdrait",
            {"writes_after_merge": writes},
        )


def _check_accounts_and_ids(users: set[int], est_ids: list[int], live: dict, copy: dict):
    absorbed = _absorbed_elsewhere(users, est_ids)
    if absorbed:
        raise UnmergeError(
            f"{len(absorbed)} compte(s) fusionné(s) par la fusion appartenaient aussi à un "
            "autre établissement : leur historique y a été rattaché au compte gardé ; "
            "annulation non sûre",
            {"absorbed_elsewhere": absorbed},
        )
    taken = _ids_taken(live, copy)
    if taken:
        raise UnmergeError(
            "identifiants de la copie repris par d'autres lignes : "
            + ", ".join(f"{name} {n}" for name, n in sorted(taken.items())),
            {"ids_taken": taken},
        )


def _replace(live: dict, copy: dict, kept: dict) -> tuple[dict, dict]:
    """The live rows deleted (but `kept`), the copy's inserted with their ids: the counts."""
    deleted, inserted = {}, {}
    for model, ids in live.items():
        gone = ids - kept.get(model, set())
        for chunk in _chunks(gone):
            model._base_manager.filter(pk__in=chunk)._raw_delete(LIVE)
        if gone:
            deleted[model.__name__] = len(gone)
    for model, ids in copy.items():
        batch: list = []
        for obj in _rows(model, COPY, ids):
            batch.append(obj)
            if len(batch) >= _batch(model):
                _insert(model, batch)
                batch = []
        _insert(model, batch)
        if ids:
            inserted[model.__name__] = len(ids)
    # The foreign keys checked now rather than at commit: a row of another establishment
    # naming a row the copy lacks is a refusal here, under --dry-run too.
    try:
        with transaction.atomic(), connections[LIVE].cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError as exc:
        raise UnmergeError(
            f"des lignes hors de ces établissements renvoient à des lignes absentes de la copie : {exc}"
        ) from None
    return dict(sorted(deleted.items())), dict(sorted(inserted.items()))


def _check_counts(log: OperationLog, src: Establishment, dst: Establishment) -> dict:
    """The counts of the merge's report for before it, its logs aside: their operation logs
    are the copy's plus the merge's (DST) and the undo's (both)."""
    after = {"src": merging.counts(src), "dst": merging.counts(dst)}
    before = log.summary["before"]
    wanted = {
        "src": {**before["src"], "operations": before["src"]["operations"] + 1},
        "dst": {**before["dst"], "operations": before["dst"]["operations"] + 2},
    }
    wrong = [
        f"{side} {line}" for side in wanted for line in _differences(wanted[side], after[side])
    ]
    if wrong:
        raise UnmergeError("contrôle des comptes en échec : " + "; ".join(wrong))
    return after


def unmerge(log_id: int, dsn: str, by: str = "", dry_run: bool = False) -> dict:
    """Undo merge `log_id` from the copy at `dsn`: its report (nothing kept under dry_run).
    `by`: who asked (the operator), written in the undo's logs."""
    with source_database(dsn), transaction.atomic():
        lock_directory()  # no import or merge meanwhile
        log = _merge_log(log_id)
        src, dst = _locked(log)
        _check_schema()
        theirs = _check_copy_is_before(log, src, dst)
        _check_nothing_after(log, [src, dst])

        est_ids = [src.pk, dst.pk]
        members = set(
            Membership.objects.using(COPY)
            .filter(establishment_id__in=est_ids)
            .values_list("user_id", flat=True)
        )
        users = members | _users_of(_scope(COPY, est_ids, set()))
        elsewhere = _elsewhere(users, est_ids)
        copy = _scope(COPY, est_ids, users - elsewhere)
        live = _scope(LIVE, est_ids, users - elsewhere)
        _check_own_rows(src, dst, theirs, users - elsewhere)
        # What the merge itself made: its log (kept, as history) and SRC's alias.
        made = {
            OperationLog: {log.pk},
            EstablishmentAlias: set(
                EstablishmentAlias.objects.filter(uai=src.uai).values_list("pk", flat=True)
            ),
        }
        _check_writes(log, dst, live, copy, made)
        _check_accounts_and_ids(users, est_ids, live, copy)

        accounts = _restore_users(users, elsewhere)
        deleted, restored = _replace(live, copy, kept={OperationLog: {log.pk}})
        for est in (src, dst):
            Establishment._base_manager.filter(pk=est.pk).update(
                **{
                    f.attname: getattr(theirs[est.uai], f.attname)
                    for f in _own_fields(Establishment)
                }
            )
        summary = {
            "merge_log": log.pk,
            "src": src.uai,
            "dst": dst.uai,
            "merged_at": log.at,
            "by": by,
        }
        for est in (src, dst):
            OperationLog.objects.create(
                establishment=est,
                kind="unmerge",
                summary={**summary, "merged_at": log.at.isoformat()},
            )
        report = {
            "dry_run": dry_run,
            **summary,
            "accounts": accounts,
            "deleted": deleted,
            "restored": restored,
            "after": _check_counts(log, src, dst),
            "files": _files(copy),
        }
        if dry_run:
            transaction.set_rollback(True)
    return report


def _absorbed_elsewhere(users: set[int], est_ids: list[int]) -> list[str]:
    """Accounts the merge folded into their duplicate (inactive, merged_into set today, not in
    the copy) that the copy shows as members of a third establishment too."""
    absorbed = set(
        User.objects.filter(pk__in=users, merged_into__isnull=False).values_list("pk", flat=True)
    ) - set(
        User.objects.using(COPY)
        .filter(pk__in=users, merged_into__isnull=False)
        .values_list("pk", flat=True)
    )
    return sorted(
        Membership.objects.using(COPY)
        .filter(user_id__in=absorbed)
        .exclude(establishment_id__in=est_ids)
        .values_list("user__username", flat=True)
        .distinct()
    )


def _files(copy: dict) -> dict:
    """Files are rows here (ent.files: chunks in PostgreSQL, backed up by pgBackRest): they come
    back with the rest. Named: the copy's files whose chunks the copy lacks (their download
    would fail) — none when the copy is whole."""
    from preau.ent.models import FileChunk, StoredFile

    ids = copy.get(StoredFile, set())
    chunks = copy.get(FileChunk, set())
    have: dict[int, int] = {}
    for chunk in _chunks(ids):
        have.update(
            FileChunk._base_manager.using(COPY)
            .filter(file_id__in=chunk)
            .values_list("file_id")
            .annotate(n=Count("id"))
        )
    incomplete = [
        {"id": f.pk, "name": f.name, "chunks": have.get(f.pk, 0), "expected": f.chunks_count}
        for f in _rows(StoredFile, COPY, ids)
        if have.get(f.pk, 0) != f.chunks_count
    ]
    return {"restored": len(ids), "chunks": len(chunks), "incomplete": incomplete}
