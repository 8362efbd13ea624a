"""Recipient search (issue #19 item 4): accents and case ignored, through PostgreSQL's unaccent
and a trigram index (migration core.0007); homonyms told apart; the communication rules kept."""

import importlib
import re

import psycopg
import pytest
from django.db import connection

from preau.core.models import ClassMembership, Membership, User
from tests.school import url

NAME_SEARCH = importlib.import_module("preau.core.migrations.0007_user_name_search")


def _found(client, s, query) -> list[str]:
    """The recipients' labels the compose page offers for this search."""
    page = client.get(url(s, "message_new"), {"q": query}).content.decode()
    return re.findall(r'name="recipients" value="\d+"[^>]*>\s*<label[^>]*>([^<]+)</label>', page)


@pytest.mark.parametrize("query", ["helene", "HELENE", "Hél", "castex hel", "CASTEX Hélène"])
def test_accents_and_case_do_not_matter(client, school, query):
    client.force_login(school["teacher"])
    assert _found(client, school, query) == ["CASTEX Hélène (Direction)"]


def test_every_word_narrows_and_no_match_says_so(client, school):
    client.force_login(school["teacher"])
    assert _found(client, school, "soulie") == ["SOULIÉ Claire (Enseignant)"]
    page = client.get(url(school, "message_new"), {"q": "hélène soulié"}).content.decode()
    assert "Personne à qui vous pouvez écrire ne correspond à « hélène soulié »" in page


def test_homonyms_are_told_apart(client, school):
    s = school
    twin = User.objects.create_user("martinlea2", first_name="Léa", last_name="MARTIN")
    Membership.objects.create(user=twin, establishment=s["est"], profile="ELV")
    ClassMembership.objects.create(class_group=s["other_class"], user=twin)
    client.force_login(s["teacher"])
    assert sorted(_found(client, s, "martin")) == [
        "MARTIN Léa (Élève, 4A)",
        "MARTIN Léa (Élève, 5A)",
        "MARTIN Sophie (Responsable de Léa)",
    ]


def test_the_search_only_narrows_the_communication_rules(client, school):
    """A pupil may not write to the direction: searching for its name does not offer it."""
    s = school
    client.force_login(s["student"])
    assert _found(client, s, "helene") == []
    assert _found(client, s, "fabre") == ["FABRE Julien (Enseignant)"]


def test_search_page_has_bounded_queries(client, school, django_assert_max_num_queries):
    client.force_login(school["teacher"])
    with django_assert_max_num_queries(10):
        assert client.get(url(school, "message_new"), {"q": "hel"}).status_code == 200


@pytest.mark.django_db
def test_the_search_reads_the_trigram_index():
    from preau.core.accounts import name_search

    query = User.objects.filter(*name_search("helene")).values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "core_user_name_trgm" in plan


@pytest.mark.django_db
def test_the_database_owner_creates_the_extensions_without_superuser():
    """What the postgresql role sets up: the migrations account owns the database and is no
    superuser. unaccent and pg_trgm being trusted extensions, it runs migration core.0007's
    SQL itself, in a fresh database, and the index is built."""
    server = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("creating a role needs the suite's own server (or a superuser)")
    where = {"host": server["HOST"], "port": server["PORT"], "autocommit": True}
    admin = psycopg.connect(dbname="postgres", user=server["USER"], **where)
    try:
        admin.execute("CREATE ROLE preau_test_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        admin.execute("CREATE DATABASE preau_test_owned OWNER preau_test_owner")
        with psycopg.connect(dbname="preau_test_owned", user="preau_test_owner", **where) as own:
            own.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
            own.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            own.execute(NAME_SEARCH.FUNCTIONS)
            own.execute("CREATE TABLE core_user (last_name text, first_name text)")
            own.execute(NAME_SEARCH.INDEX)
            folded = own.execute("SELECT preau_search_name('SOULIÉ', 'Hélène Œdipe')").fetchone()
            assert folded == ("soulie helene oedipe",)
    finally:
        admin.execute("DROP DATABASE IF EXISTS preau_test_owned")
        admin.execute("DROP ROLE IF EXISTS preau_test_owner")
        admin.close()


def test_the_directory_search_ignores_accents_too(client, school):
    """The local admin's directory searches names the same way (core.accounts.search_users),
    and still finds a login."""
    client.force_login(school["admin"])
    page = client.get(url(school, "directory"), {"q": "soulie"}).content.decode()
    assert "SOULIÉ" in page and "FABRE" not in page
    page = client.get(url(school, "directory"), {"q": "otherteacher"}).content.decode()
    assert "SOULIÉ" in page and "FABRE" not in page
