"""Expand / contract migrations around a rolling release.

A migration class may set `contract = True`: it removes what the previous release still uses
(drop a column, add NOT NULL after a backfill). The release applies the *expand* phase — every
pending migration before the first contract one — while the old code still serves, switches
the app hosts, then applies the *contract* phase (the rest) once no old code runs.
"""

from __future__ import annotations

from django.db import connections
from django.db.migrations.executor import MigrationExecutor


def split(plan: list) -> tuple[list, list]:
    """(expand, contract) of a forward migration plan [(migration, backwards), ...]: the
    prefix before the first contract migration, and everything from it on."""
    for index, (migration, _) in enumerate(plan):
        if getattr(migration, "contract", False):
            return plan[:index], plan[index:]
    return plan, []


def pending(using: str = "default") -> tuple[list, list]:
    """The pending migrations of the database, split into (expand, contract)."""
    executor = MigrationExecutor(connections[using])
    return split(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def labels(plan: list) -> list[str]:
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def targets(plan: list) -> list[tuple[str, str]]:
    """Per app, the last migration of the plan: `migrate APP NAME` for each reaches it."""
    last: dict[str, str] = {}
    for migration, _ in plan:
        last[migration.app_label] = migration.name
    return list(last.items())
