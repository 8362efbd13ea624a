"""Sessions in PostgreSQL (shared by every app server), read together with their user.

Django reads the session row, then the user row: two queries on every page. Here the session
row also carries the user's id (`django_session.user_id`, a nullable column added by
core.0002; it is written whenever the session is saved), so one query with a join returns
both (compiled once: preau.core.prepared). preau.core.authentication then uses that user when
the session verifies exactly as django.contrib.auth.get_user would.

This module owns the session table's model (UserSession, registered with core's models by
preau.core.models) and its store, which refer to each other: Django's own sessions app has
them in two modules that import each other.

Rolling releases: the previous release ignores the column; the sessions it creates have
user_id NULL and simply take Django's two-query path.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import SuspiciousOperation
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from preau.core.prepared import UnscopedQuery


class UserSession(AbstractBaseSession):
    """Django's session table (django_session, created by the sessions app) seen with the
    `user_id` column that core.0002 adds, so that a page reads its session and user in one
    query. No foreign key constraint: deleting an account leaves its sessions orphaned, and
    they no longer authenticate anyone."""

    user = models.ForeignKey(
        "core.User", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )

    class Meta:
        app_label = "core"
        managed = False
        db_table = "django_session"

    @classmethod
    def get_session_store_class(cls) -> type[SessionStore]:
        return SessionStore


def _session_with_user(key: str, now: dt.datetime) -> QuerySet[UserSession]:
    return UserSession.objects.select_related("user").filter(session_key=key, expire_date__gt=now)[
        :1
    ]


# Every page: compiled once (preau.core.prepared).
SESSION_WITH_USER = UnscopedQuery(
    _session_with_user,
    reason="a page reads its session before it knows its establishment (the user may have several)",
    key=str,
    now=dt.datetime,
)


class SessionStore(DbSessionStore):
    preloaded_user: Any = None

    @classmethod
    def get_model_class(cls) -> type[UserSession]:
        return UserSession

    def _get_session_from_db(self) -> UserSession | None:
        self.preloaded_user = None
        try:
            row = SESSION_WITH_USER.first(key=self.session_key, now=timezone.now())
        except SuspiciousOperation as exc:  # as Django's own store does
            logging.getLogger(f"django.security.{exc.__class__.__name__}").warning(str(exc))
            row = None
        if row is None:
            self._session_key = None
            return None
        self.preloaded_user = row.user if row.user_id is not None else None
        return row  # type: ignore[no-any-return]

    @property
    def loaded(self) -> bool:
        """Whether the session's data has been read (or set) in this request."""
        return hasattr(self, "_session_cache")

    def load_from(self, session_data: str, user: Any) -> None:
        """The session's row as another query brought it (preau.core.tenancy reads it with the
        membership): its data, and its user, who authenticates only as get_user() decides."""
        self._session_cache = self.decode(session_data)
        self.preloaded_user = user

    def create_model_instance(self, data: dict[str, Any]) -> UserSession:
        instance = cast(UserSession, super().create_model_instance(data))
        user_id = data.get(SESSION_KEY)
        instance.user_id = int(user_id) if user_id and str(user_id).isdigit() else None
        return instance


def end_sessions_of(user_id: int, keep: str | None = None) -> int:
    """Remove the account's sessions but `keep` (a session key); the number removed.

    A new password already ends them: their auth hash no longer verifies (get_user() logs them
    out on their next request). Removing the rows makes it immediate and visible, and leaves no
    session of the old password in the table. Sessions of the previous release (user_id NULL)
    are not found here and are ended by the hash alone."""
    sessions = UserSession.objects.filter(user_id=user_id)
    if keep:
        sessions = sessions.exclude(session_key=keep)
    deleted, _ = sessions.delete()
    return deleted
