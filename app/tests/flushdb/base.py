"""The tests' database backend: preau.core.db's, except for the flush that empties the
database after each test of a transactional database (pytest-django's transactional_db and
live_server: Django's TransactionTestCase). Django's PostgreSQL flush is one TRUNCATE of every
table, which makes new files for each of the ~50 tables, their indexes and TOAST tables: ~0.35 s
a flush here, while a test leaves a few rows (a test school) that DELETEs remove in ~0.03 s.
The result is the same: every table empty, the sequences left as they are (Django's default
for TransactionTestCase; its reset_sequences and available_apps still get the TRUNCATE). The
foreign keys Django makes are DEFERRABLE INITIALLY DEFERRED: checked when the flush's
transaction commits, all tables empty by then, so the order of the DELETEs does not matter.
tests/test_flush.py checks it."""

from preau.core.db import base


class DatabaseOperations(base.DatabaseWrapper.ops_class):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade or not tables:
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        delete = f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')}"
        return [
            "SET CONSTRAINTS ALL DEFERRED",
            *(f"{delete} {style.SQL_FIELD(self.quote_name(table))};" for table in tables),
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
