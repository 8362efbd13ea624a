"""Expand: the name search (messaging's recipients, the directory) ignores accents and case,
through a trigram index (issue #19 item 4).

- The extensions unaccent and pg_trgm: both are *trusted* (PostgreSQL 13+), so the migrations
  account creates them as the database's owner (the postgresql role makes it the owner), with
  no superuser (`tests/messaging/test_recipient_search.py` runs this SQL as such an owner).
- `preau_fold(text)`: lower case, without accents. unaccent() is only STABLE (its dictionary
  could change), and an index needs an IMMUTABLE expression: this wrapper is the usual way,
  with the dictionary and the function named by schema so that it does not depend on the
  search_path of whoever evaluates it (autovacuum, a restore).
- `preau_search_name(last, first)`: the folded "last first" name.
- `core_user_name_trgm`: GIN trigram index of it, built CONCURRENTLY (the previous release
  keeps writing users meanwhile). `LIKE '%…%'` on it reads the index, whatever the word's
  position in the name.

New objects only: the previous release ignores them.
"""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION public.preau_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;

CREATE OR REPLACE FUNCTION public.preau_search_name(last_name text, first_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT public.preau_fold(coalesce(last_name, '') || ' ' || coalesce(first_name, '')) $$;
"""

# Written in SQL: Django's index state cannot hold an operator class on an expression without
# django.contrib.postgres installed (models.search_name builds the same expression).
INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS core_user_name_trgm ON core_user
USING gin (preau_search_name(last_name, first_name) gin_trgm_ops)
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS public.preau_search_name(text, text);
DROP FUNCTION IF EXISTS public.preau_fold(text);
"""


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("core", "0006_audit_views"),
    ]

    operations = [
        UnaccentExtension(),
        TrigramExtension(),
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS, hints={"phase": "expand"}),
        migrations.RunSQL(
            INDEX,
            "DROP INDEX CONCURRENTLY IF EXISTS core_user_name_trgm",
            hints={"phase": "expand"},
        ),
    ]
