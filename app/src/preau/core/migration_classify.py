"""Which phase of a rolling release a migration belongs to, read from its operations.

*Expand*: the previous release's code keeps working on the schema afterwards, and nothing in it
blocks writes on a table that exists (a new table, a nullable column or one the database fills,
an index built concurrently, a backfill marked as such). *Contract*: everything else (a drop, a
rename, a type change, a NOT NULL the old code's INSERTs do not fill, an index built while
writes wait, SQL or Python whose effect is unknown).

Pure: operations and the project state before the migration in, a `Verdict` out. A migration
class may decide itself: `contract = True`, or `phase = "expand"` / `"contract"`; a RunSQL or
RunPython says it is an expand step with `hints={"phase": "expand"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.migrations import operations as ops
from django.db.models import NOT_PROVIDED

EXPAND, CONTRACT = "expand", "contract"
PHASES = (EXPAND, CONTRACT)
# Field attributes whose change alters the column's type.
TYPE_ATTRIBUTES = ("max_length", "max_digits", "decimal_places", "db_collation")
NOT_CONCURRENT = (
    "index construit sans CONCURRENTLY : bloque les écritures "
    "(db_index=False ici, puis AddIndexConcurrently)"
)


# (app label, operation, state before, Seen) -> (phase, why)
Rule = Callable[..., tuple[str, str]]


@dataclass(frozen=True)
class Verdict:
    phase: str
    why: str


@dataclass
class Seen:
    """What earlier operations of the same release created: the old code cannot use it, so
    changing it cannot break the old code nor block its writes."""

    models: set[tuple[str, str]] = field(default_factory=set)
    fields: set[tuple[str, str, str]] = field(default_factory=set)


def classify(migration, before=None, seen: Seen | None = None) -> Verdict:
    """The phase of `migration` and why; `before` is the ProjectState before it (None: unknown),
    `seen` what earlier pending migrations created (updated with what this one creates)."""
    seen = Seen() if seen is None else seen
    app = getattr(migration, "app_label", "")
    verdicts = [_operation(app, op, before, seen) for op in getattr(migration, "operations", [])]
    contract = [v.why for v in verdicts if v.phase == CONTRACT]
    if contract:
        read = Verdict(CONTRACT, " ; ".join(contract))
    else:
        read = Verdict(EXPAND, " ; ".join(v.why for v in verdicts) or "aucune opération")
    override = _declared(migration)
    if override is None:
        return read
    return Verdict(override.phase, f"{override.why} ; ses opérations : {read.phase}, {read.why}")


def _declared(migration) -> Verdict | None:
    if getattr(migration, "contract", False) is True:
        return Verdict(CONTRACT, "déclarée par la migration (contract = True)")
    phase = getattr(migration, "phase", None)
    if phase in PHASES:
        return Verdict(phase, f'déclarée par la migration (phase = "{phase}")')
    return None


def _operation(app: str, op, before, seen: Seen) -> Verdict:
    """One operation (subclasses first: AddIndexConcurrently is an AddIndex)."""
    name = type(op).__name__
    for kind, rule in RULES:
        if isinstance(op, kind):
            phase, why = rule(app, op, before, seen)
            return Verdict(phase, f"{name} {_target(app, op)} : {why}")
    return Verdict(CONTRACT, f"{name} {_target(app, op)} : opération inconnue de la classification")


def _target(app: str, op) -> str:
    model = getattr(op, "model_name", None) or getattr(op, "name", None) or ""
    field_name = getattr(op, "name", "") if getattr(op, "model_name", None) else ""
    label = f"{app}.{model}" if model else app
    return f"{label}.{field_name}" if field_name else label


def _is_new(app: str, op, seen: Seen) -> bool:
    model = getattr(op, "model_name_lower", None) or getattr(op, "name_lower", "")
    return (app, model) in seen.models


def _create_model(app, op, before, seen):
    seen.models.add((app, op.name_lower))
    return EXPAND, "nouvelle table"


def _add_field(app, op, before, seen):
    seen.fields.add((app, op.model_name_lower, op.name_lower))
    column = op.field
    if _is_new(app, op, seen):
        return EXPAND, "table créée par cette même version"
    if column.many_to_many:
        return EXPAND, "nouvelle table de liaison"
    if column.db_index or column.unique:
        return CONTRACT, NOT_CONCURRENT
    if column.null:
        return EXPAND, "colonne NULL"
    if column.db_default is not NOT_PROVIDED:
        return EXPAND, "colonne NOT NULL remplie par un défaut en base (db_default)"
    return CONTRACT, (
        "colonne NOT NULL sans défaut en base : les INSERT de l'ancien code échoueraient "
        "(donner un db_default, ou NULL puis NOT NULL en contract)"
    )


def _alter_field(app, op, before, seen):
    new = op.field
    if _is_new(app, op, seen) or (app, op.model_name_lower, op.name_lower) in seen.fields:
        return EXPAND, "colonne créée par cette même version"
    old = _old_field(app, op, before)
    if old is None:
        return CONTRACT, "ancienne définition du champ inconnue"
    return _column_change(old, new)


def _column_change(old, new) -> tuple[str, str]:
    old_type, new_type = old.get_internal_type(), new.get_internal_type()
    changed = [a for a in TYPE_ATTRIBUTES if getattr(old, a, None) != getattr(new, a, None)]
    if old_type != new_type or changed:
        detail = f"{old_type} → {new_type}" if old_type != new_type else ", ".join(changed)
        return CONTRACT, f"type de colonne changé ({detail})"
    if old.null and not new.null:
        return CONTRACT, "la colonne devient NOT NULL"
    if old.db_default is not NOT_PROVIDED and new.db_default is NOT_PROVIDED and not new.null:
        return CONTRACT, "défaut en base retiré d'une colonne NOT NULL"
    if (new.db_index and not old.db_index) or (new.unique and not old.unique):
        return CONTRACT, NOT_CONCURRENT
    return EXPAND, "sans effet sur les lignes (choix, défaut Python, libellés, NULL permis)"


def _old_field(app: str, op, before):
    if before is None:
        return None
    model = before.models.get((app, op.model_name_lower))
    return None if model is None else model.fields.get(op.name)


def _index(app, op, before, seen):
    if _is_new(app, op, seen):
        return EXPAND, "index d'une table créée par cette même version"
    return CONTRACT, (
        "index ou contrainte construit sans CONCURRENTLY sur une table existante : "
        "bloque les écritures"
    )


def _marked(app, op, before, seen):
    phase = (getattr(op, "hints", None) or {}).get("phase")
    if phase in PHASES:
        return phase, f'marquée hints={{"phase": "{phase}"}}'
    return CONTRACT, 'effet inconnu (à marquer hints={"phase": "expand"} si sans danger)'


def _separate(app, op, before, seen):
    inner = [_operation(app, o, before, seen) for o in op.database_operations]
    contract = [v.why for v in inner if v.phase == CONTRACT]
    if contract:
        return CONTRACT, " ; ".join(contract)
    return EXPAND, "état de Django seulement" if not inner else " ; ".join(v.why for v in inner)


QUEUE_SCHEMA = ("procrastinate", "<schéma>")


def _queue_schema(app, op, before, seen):
    """The job queue's own migrations (procrastinate ships its schema as SQL): since 3.0 each
    change comes as a `pre` migration, which the code before it still works with, and a `post`
    one, after every worker runs the new code. All of them are expand when the schema is
    created by this same release (no code before it uses the queue)."""
    if op.name.startswith("00.00.00_01_initial"):
        seen.models.add(QUEUE_SCHEMA)
        return EXPAND, "schéma de la file de tâches (nouvelles tables)"
    if QUEUE_SCHEMA in seen.models:
        return EXPAND, "schéma de la file créé par cette même version"
    if "_post_" in op.name:
        return CONTRACT, "post-migration de la file de tâches : après le passage de tous les hôtes"
    return EXPAND, "pré-migration de la file de tâches : l'ancien code fonctionne avec"


def _expand(why: str) -> Rule:
    return lambda app, op, before, seen: (EXPAND, why)


def _contract(why: str) -> Rule:
    return lambda app, op, before, seen: (CONTRACT, why)


def _rules() -> list[tuple[type, Rule]]:
    from django.contrib.postgres import operations as pg
    from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL

    return [
        (RunProcrastinateSQL, _queue_schema),
        (pg.AddIndexConcurrently, _expand("index construit CONCURRENTLY")),
        (pg.RemoveIndexConcurrently, _expand("index retiré CONCURRENTLY")),
        (pg.CreateExtension, _expand("extension PostgreSQL")),
        (pg.ValidateConstraint, _expand("validation sans bloquer les écritures")),
        (pg.AddConstraintNotValid, _contract("les écritures de l'ancien code peuvent la violer")),
        (ops.CreateModel, _create_model),
        (ops.DeleteModel, _contract("supprime une table que l'ancien code lit")),
        (ops.RenameModel, _contract("renomme une table que l'ancien code lit")),
        (ops.AlterModelTable, _contract("renomme une table que l'ancien code lit")),
        (ops.AddField, _add_field),
        (ops.RemoveField, _contract("supprime une colonne que l'ancien code lit")),
        (ops.RenameField, _contract("renomme une colonne que l'ancien code lit")),
        (ops.AlterField, _alter_field),
        (ops.AddIndex, _index),
        (ops.AddConstraint, _index),
        (ops.RemoveIndex, _expand("index retiré (l'ancien code n'en dépend pas)")),
        (ops.RenameIndex, _expand("index renommé (l'ancien code n'en dépend pas)")),
        (ops.RemoveConstraint, _expand("contrainte retirée")),
        (ops.AlterModelOptions, _expand("état de Django seulement")),
        (ops.AlterModelManagers, _expand("état de Django seulement")),
        (ops.AlterModelTableComment, _expand("commentaire")),
        (ops.AlterUniqueTogether, _index),
        (ops.AlterIndexTogether, _index),
        (ops.RunSQL, _marked),
        (ops.RunPython, _marked),
        (ops.SeparateDatabaseAndState, _separate),
    ]


RULES = _rules()
