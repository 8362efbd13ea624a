"""The flush that empties the database after each transactional test (tests/flushdb/base.py):
DELETEs of every table in one transaction, which leave nothing behind."""

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from tests.helpers import SecondFactorClient
from tests.school import make_school


@pytest.mark.django_db(transaction=True)
def test_the_flush_between_tests_deletes_every_row_of_every_table():
    school = make_school()  # a row of every service model, files included
    SecondFactorClient().force_login(school["admin"])  # a session and a second factor device
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    statements = connection.ops.sql_flush(no_style(), tables)
    assert statements[0] == "SET CONSTRAINTS ALL DEFERRED"
    assert all(sql.startswith("DELETE FROM ") for sql in statements[1:])
    assert len(statements) == len(tables) + 1

    call_command("flush", verbosity=0, interactive=False, inhibit_post_migrate=True)
    with connection.cursor() as cursor:
        left = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            left[table] = cursor.fetchone()[0]
    assert sum(left.values()) == 0, {table: n for table, n in left.items() if n}
