"""Expand / contract migrations around a rolling release.

Each pending migration is classified from its operations (core.migration_classify; a class may
still say `contract = True` or `phase = "expand"`). A *contract* migration removes or changes
what the previous release still uses, or blocks writes on an existing table. The release applies
the *expand* phase — every pending migration before the first contract one — while the old code
still serves, switches the app hosts, then applies the *contract* phase (the rest) once no old
code runs. On a database where nothing is applied yet no previous release runs: all is expand.

`rollback_check` tells whether the code of an earlier release (the migrations it knows) still
works on the schema as it is: not when a migration it does not know has contracted it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

from preau.core.migration_classify import CONTRACT, EXPAND, Seen, Verdict, classify


def split(plan: list, before=None, fresh: bool = False) -> tuple[list, list]:
    """(expand, contract) of a forward migration plan [(migration, backwards), ...]: the
    prefix before the first contract migration, and everything from it on."""
    return cut(plan, classify_plan(plan, before, fresh))


def cut(plan: list, verdicts: list[Verdict]) -> tuple[list, list]:
    for index, verdict in enumerate(verdicts):
        if verdict.phase == CONTRACT:
            return plan[:index], plan[index:]
    return plan, []


def classify_plan(plan: list, before=None, fresh: bool = False) -> list[Verdict]:
    """The verdict of each migration of the plan, in order; `before` is the project state of
    the applied migrations (None: unknown), `fresh` a database with nothing applied."""
    seen, state, verdicts = Seen(), before, []
    for migration, _ in plan:
        verdict = classify(migration, state, seen)
        if fresh and verdict.phase == CONTRACT:
            verdict = Verdict(
                EXPAND, f"base vide : aucune version précédente ne la lit (sinon : {verdict.why})"
            )
        verdicts.append(verdict)
        mutate = getattr(migration, "mutate_state", None)
        state = None if state is None or mutate is None else mutate(state, preserve=True)
    return verdicts


def classified(using: str = "default") -> tuple[list, list[Verdict]]:
    """The pending forward plan of the database and the verdict of each of its migrations."""
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        return [], []
    loader = executor.loader
    applied = [key for key in loader.applied_migrations if key in loader.graph.nodes]
    before = loader.project_state(applied) if applied else ProjectState()
    return plan, classify_plan(plan, before, fresh=not applied)


def pending(using: str = "default") -> tuple[list, list]:
    """The pending migrations of the database, split into (expand, contract)."""
    plan, verdicts = classified(using)
    return cut(plan, verdicts)


def label(migration) -> str:
    return f"{migration.app_label}.{migration.name}"


def labels(plan: list) -> list[str]:
    return [label(migration) for migration, _ in plan]


def details(plan: list, verdicts: list[Verdict]) -> list[dict]:
    """The plan JSON's `migrations`: each pending migration, its phase and why."""
    return [
        {"migration": label(migration), "phase": verdict.phase, "why": verdict.why}
        for (migration, _), verdict in zip(plan, verdicts, strict=True)
    ]


def targets(plan: list) -> list[tuple[str, str]]:
    """Per app, the last migration of the plan: `migrate APP NAME` for each reaches it."""
    last: dict[str, str] = {}
    for migration, _ in plan:
        last[migration.app_label] = migration.name
    return list(last.items())


def known(using: str = "default") -> list[str]:
    """Every migration this code has (what `rollback-check --known` takes from a release)."""
    return sorted(f"{app}.{name}" for app, name in loader(using).graph.nodes)


def loader(using: str = "default") -> MigrationLoader:
    return MigrationLoader(connections[using], ignore_no_migrations=True)


def rollback_check(target_known: set[str], using: str = "default") -> dict:
    """The applied migrations an earlier release does not know (`target_known`, its labels),
    each with its phase, why and when it was applied; `contract` those that make its code
    fail (their labels), `restore_to` a time just before the earliest of them."""
    graph_loader = loader(using)
    seen, unknown = Seen(), list[dict[str, Any]]()
    for app, name, applied in _applied(using):
        if f"{app}.{name}" in target_known:
            continue
        verdict = _verdict_of_applied(graph_loader, (app, name), seen)
        unknown.append(
            {
                "migration": f"{app}.{name}",
                "phase": verdict.phase,
                "why": verdict.why,
                "applied_at": applied,
            }
        )
    contract = [row for row in unknown if row["phase"] == CONTRACT]
    first = min((row["applied_at"] for row in contract if row["applied_at"]), default=None)
    for row in unknown:
        row["applied_at"] = _iso(row["applied_at"])
    return {
        "unknown": unknown,
        "contract": [row["migration"] for row in contract],
        "restore_to": None if first is None else _iso(first - timedelta(seconds=1)),
    }


def _iso(when) -> str | None:
    return None if when is None else when.replace(microsecond=0).isoformat()


def parse_known(text: str) -> set[str]:
    """Migration labels from `migrate_phase known --json` (or its bare list), from
    `preau-manage showmigrations --plan` of a release without `known`, or a list of labels."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = data.get("known")
    if isinstance(data, list):
        return {str(item) for item in data}
    return set(re.findall(r"[A-Za-z_]\w*\.\w+", text))


def _applied(using: str) -> list[tuple[str, str, object]]:
    recorder = MigrationRecorder(connections[using])
    if not recorder.has_table():
        return []
    return list(
        recorder.migration_qs.order_by("applied", "id").values_list("app", "name", "applied")
    )


def applied_labels(using: str = "default") -> set[str]:
    return {f"{app}.{name}" for app, name, _ in _applied(using)}


def _verdict_of_applied(graph_loader: MigrationLoader, key: tuple[str, str], seen: Seen) -> Verdict:
    migration = graph_loader.graph.nodes.get(key)
    if migration is None:
        return Verdict(CONTRACT, "appliquée mais absente du code actuel : effet inconnu")
    return classify(migration, graph_loader.project_state(key, at_end=False), seen)
