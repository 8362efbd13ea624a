"""Django's PostgreSQL backend, with a cheaper connection health check under load.

CONN_HEALTH_CHECKS makes Django run `SELECT 1` before the first query of every request, so
that a connection PostgreSQL dropped (a restart, a failover) is replaced before a user sees an
error. Under load that round trip is one in five of a page's (the app host and PostgreSQL each
spend ≈ 0.1 ms of CPU on it over TLS), and it tells nothing new about a connection that served
a request a moment ago. Here a connection is checked only when its last check or use is
older than RECHECK_AFTER_SECONDS: a quiet worker checks as before; a busy one does not. A
connection that broke within that second fails one request with the database page (503, as
any database error does), is closed at the end of it, and the next request reconnects.
"""

import time

from django.db.backends.postgresql import base

RECHECK_AFTER_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_at = float("-inf")

    def close_if_health_check_failed(self):
        if self.connection is not None and self.health_check_enabled and not self.health_check_done:
            now = time.monotonic()
            if now - self._checked_at < RECHECK_AFTER_SECONDS:
                self.health_check_done = True
            self._checked_at = now
        super().close_if_health_check_failed()

    def connect(self):
        super().connect()
        self._checked_at = time.monotonic()  # a new connection has just been proved usable
