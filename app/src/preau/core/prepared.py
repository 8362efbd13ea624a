"""Querysets compiled to SQL once, then run with new values, always within one establishment.

For a simple query, the ORM's compilation (joins, select list, converters) costs about ten times
what running it does (≈ 1 ms of CPU against ≈ 0.1 ms for the two queries every page makes: the
session with its user, the membership with its establishment). A PreparedQuery builds the
queryset once per thread with sentinel values, keeps the SQL and the compiler's description of
the columns, and for each call only swaps the values, executes, and turns each row into model
instances with Django's own parts: the compiler's converters, Model.from_db (the public hook
Django's ModelIterable uses, so custom from_db, init signals and deferred fields behave as with
the ORM) and Django's related populators for select_related objects, annotations set as
ModelIterable sets them. One difference: rows of one result share the instance of a related row
they have in common (_populate). The SQL is the ORM's own, so the query means exactly what the
queryset says.
Lists of ids go through the `any` lookup (one array parameter) rather than `in`, and an array
column's overlap through `overlaps_any`.

Tenancy: every PreparedQuery takes the establishment, `est` (its id, or its UAI where the page
has not resolved it yet), as a required keyword of `rows()` and `first()`, and its compilation
refuses a queryset that does not filter on it (an `establishment` foreign key, or the
establishment's own id or UAI, compared with `est` in the query's top-level conditions). The
one query a page makes before it knows any establishment, its session, is an UnscopedQuery
that says why (tests/test_prepared.py lists them).

PostgreSQL, too, handles each of these SQL texts once per connection: they run as prepared
statements (server-side binding), so it parses and plans them once instead of on every page.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
    CursorDebugWrapper,
    ServerBindingCursor,
)
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, ForeignObject, Lookup, Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.models.sql.where import AND, WhereNode

# By label: this module is below the models (core.sessions uses it, core.models uses that).
ESTABLISHMENT = "core.Establishment"


def sentinel(kind, n: int):
    """The n-th value of a type that cannot occur in real parameters: its position in the
    compiled parameters is where the real value goes."""
    # Small positive integers: Django turns a value out of a field's range (negative for a
    # PositiveIntegerField, > 32767 for a small one) into "no rows" before any SQL is written.
    return {
        int: 30011 + n,
        str: f"preau-prepared-sentinel-{n}",
        list: [30011 + n],
        dt.date: dt.date(1901, 2, 3) + dt.timedelta(days=n),
        dt.time: dt.time(4, 5, 6, 30011 + n),
        dt.datetime: dt.datetime(1901, 2, 3, 4, 5, 6, tzinfo=dt.UTC) + dt.timedelta(seconds=n),
    }[kind]


class AnyOf(Lookup):
    """`field__any=[...]`: `field = ANY(%s)` with the list as one array parameter, where `__in`
    writes one placeholder per value (so its SQL changes with the list's length and cannot be
    prepared). For lists of ids."""

    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # foreign keys have their own set of lookups


class OverlapsAny(AnyOf):
    """`array_field__overlaps_any=[...]`: `field && %s::type[]`, the list as one array
    parameter, where ArrayField's own `overlap` writes one placeholder per value."""

    lookup_name = "overlaps_any"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        array_type = self.lhs.output_field.db_type(connection)
        return f"{lhs} && {rhs}::{array_type}", [*lhs_params, *rhs_params]


ArrayField.register_lookup(OverlapsAny)


class _PreparingCursor(ServerBindingCursor):
    """Values bound by the server, and each SQL text a prepared statement of the connection."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _statement_cursor(connection):
    """A cursor like connection.cursor() (health check, errors, execute wrappers, query log) whose
    statements PostgreSQL parses and plans once per connection: planning these joins costs it
    several times what running them does (0.1-1 ms against 0.01-0.2 ms). The connection's other
    queries keep Django's client-side binding. psycopg keeps up to `prepared_max` (100)
    statements per connection; with PgBouncer, transaction pooling needs version 1.21 or later
    (max_prepared_statements)."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _PreparingCursor(connection.connection)
    connection.validate_thread_sharing()
    return (
        _LoggedCursor(cursor, connection)
        if connection.queries_logged
        else connection.make_cursor(cursor)
    )


class _LoggedCursor(CursorDebugWrapper):
    """The query log (DEBUG, tests) gets the SQL with its values, as Django writes it for
    server-side binding (psycopg does not keep it for a prepared statement)."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)


def _populate(populator, row, from_obj, shared: dict) -> None:
    """Django's RelatedPopulator.populate, except that the rows of one result share one instance
    per related row (the class, subject and teacher of 30 logbook entries are a handful): model
    instances are most of what a list costs once compiled. Sharing is safe for forward foreign
    keys, whose reverse side caches nothing (remote_setter does nothing unless the key is unique)."""
    if populator.reorder_for_init:
        data = populator.reorder_for_init(row)
    else:
        data = row[populator.cols_start : populator.cols_end]
    pk = data[populator.pk_idx]
    obj = None
    if pk is not None:
        key = (id(populator), pk)
        obj = shared.get(key)
        if obj is None:
            obj = shared[key] = populator.model_cls.from_db(populator.db, populator.init_list, data)
            for related in populator.related_populators:
                _populate(related, row, obj, shared)
    populator.local_setter(from_obj, obj)
    if obj is not None:
        populator.remote_setter(obj, from_obj)


def _is_establishment(field: Any, kind: type) -> bool:
    """Whether `field` holds an establishment's identity of this kind: its UAI (str), or its
    id (int): the establishment's primary key or a foreign key to it."""
    if kind is str:
        return field.model._meta.label == ESTABLISHMENT and field.name == "uai"
    if field.model._meta.label == ESTABLISHMENT and field.primary_key:
        return True
    related = getattr(field, "related_model", None)
    return bool(field.many_to_one) and related is not None and related._meta.label == ESTABLISHMENT


def _conditions(where: WhereNode) -> Iterator[Any]:
    """The lookups a row must all satisfy: the top-level AND of the query (not under OR/NOT)."""
    if where.connector != AND or where.negated:
        return
    for child in where.children:
        if isinstance(child, WhereNode):
            yield from _conditions(child)
        else:
            yield child


def _scoped(queryset: QuerySet[Any], value: object, kind: type) -> bool:
    """Whether every row of `queryset` belongs to the establishment `value` (the sentinel):
    an equality on an establishment column against it among the query's conditions."""
    return any(
        isinstance(lookup, Lookup)
        and lookup.lookup_name == "exact"
        and type(lookup.rhs) is type(value)
        and lookup.rhs == value
        and _is_establishment(getattr(lookup.lhs, "target", None) or object(), kind)
        for lookup in _conditions(queryset.query.where)
    )


class _Statement:
    """A queryset compiled once per thread, run with new values (see the module's docstring)."""

    def __init__(self, build: Callable[..., QuerySet[Any]], **kinds: type) -> None:
        """build(**values) returns the queryset; kinds maps each value's name to its type."""
        self.build = build
        self.kinds = kinds
        self._local = threading.local()

    def _compiled(self) -> dict[str, Any]:
        state = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = self._compile()
        return state

    def _check(self, queryset: QuerySet[Any], values: dict[str, Any]) -> None:
        """Refuse a queryset the statement may not run (none here)."""

    def _compile(self) -> dict[str, Any]:
        values = {name: sentinel(kind, n) for n, (name, kind) in enumerate(self.kinds.items())}
        queryset = self.build(**values)
        if queryset._iterable_class not in (ModelIterable, ValuesListIterable):
            raise ImproperlyConfigured("PreparedQuery: model rows or values_list() tuples only")
        self._check(queryset, values)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        positions = {}
        for name, value in values.items():
            # isinstance: Django may wrap an integer in psycopg's Int4 (kept for the real value).
            found = [
                i
                for i, p in enumerate(params)
                if isinstance(p, type(value)) and not isinstance(p, bool) and p == value
            ]
            if not found:
                raise ImproperlyConfigured(f"PreparedQuery: parameter {name!r} found 0 times")
            positions[name] = [
                (i, type(params[i]) if isinstance(value, int) else None) for i in found
            ]
        select, klass_info = compiler.select, compiler.klass_info
        state = {
            "sql": sql,
            "params": list(params),
            "positions": positions,
            "db": queryset.db,
            "compiler": compiler,
            "model": None,
            "converters": compiler.get_converters([s[0] for s in select[: compiler.col_count]]),
        }
        if queryset._iterable_class is ModelIterable:  # else values_list(): tuples
            start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            init_list = [f[0].target.attname for f in select[start:end]]
            populators = get_related_populators(klass_info, select, queryset.db)
            state.update(
                model=klass_info["model"],
                start=start,
                end=end,
                init_list=init_list,
                populators=populators,
                annotations=dict(compiler.annotation_col_map),
            )
        return state

    def _rows(self, values: dict[str, Any]) -> list[Any]:
        state = self._compiled()
        params = list(state["params"])
        for name, value in values.items():
            for position, wrap in state["positions"][name]:
                params[position] = wrap(value) if wrap is not None else value
        with _statement_cursor(connections[state["db"]]) as cursor:
            cursor.execute(state["sql"], params)
            rows = cursor.fetchall()
        if state["converters"]:
            rows = list(state["compiler"].apply_converters(rows, state["converters"]))
        if state["model"] is None:
            return [tuple(row) for row in rows]
        model, db, init_list = state["model"], state["db"], state["init_list"]
        start, end = state["start"], state["end"]
        objects: list[Any] = []
        shared: dict[tuple[int, Any], Model] = {}
        for row in rows:
            obj = model.from_db(db, init_list, row[start:end])
            for populator in state["populators"]:
                _populate(populator, row, obj, shared)
            for name, position in state["annotations"].items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


class PreparedQuery(_Statement):
    """A query of one establishment's rows: build(est, **values), `est` the establishment's id
    (kind int, the default) or its UAI (kind str); rows() and first() require it."""

    def __init__(
        self, build: Callable[..., QuerySet[Any]], *, est: type = int, **kinds: type
    ) -> None:
        if est not in (int, str):
            raise ImproperlyConfigured(
                "PreparedQuery: est is the establishment's id (int) or UAI (str)"
            )
        super().__init__(build, est=est, **kinds)

    def _check(self, queryset: QuerySet[Any], values: dict[str, Any]) -> None:
        if not _scoped(queryset, values["est"], self.kinds["est"]):
            raise ImproperlyConfigured(
                "PreparedQuery: the queryset does not filter on the establishment `est` "
                "(establishment_id=est, or a path to it such as file__establishment_id=est)"
            )

    def rows(self, *, est: int | str, **values: Any) -> list[Any]:
        """Every row of the establishment `est`: model instances (with their select_related
        objects and annotations), or tuples for a values_list() queryset."""
        return self._rows({"est": est, **values})

    def first(self, *, est: int | str, **values: Any) -> Any:
        """The first row, or None (the queryset itself should be sliced [:1])."""
        rows = self.rows(est=est, **values)
        return rows[0] if rows else None


class UnscopedQuery(_Statement):
    """A prepared query that no establishment scopes, with the reason: only what a page reads
    before it knows its establishment (its session). tests/test_prepared.py lists them all."""

    def __init__(self, build: Callable[..., QuerySet[Any]], *, reason: str, **kinds: type) -> None:
        super().__init__(build, **kinds)
        self.reason = reason

    def first(self, **values: Any) -> Any:
        rows = self._rows(values)
        return rows[0] if rows else None
