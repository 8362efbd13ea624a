"""The phase of a migration read from its operations (core.migration_classify): operation
objects built here, a project state built in memory, no database."""

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.state import ProjectState

from preau.core import migration_phases
from preau.core.migration_classify import CONTRACT, EXPAND, Seen, classify


def state() -> ProjectState:
    """shop.Item as the previous release knows it."""
    before = ProjectState()
    migrations.CreateModel(
        "Item",
        fields=[
            ("id", models.BigAutoField(primary_key=True)),
            ("title", models.CharField(max_length=80)),
            ("kind", models.CharField(max_length=12, choices=[("a", "A")])),
            ("note", models.TextField(null=True)),
            ("count", models.IntegerField()),
        ],
    ).state_forwards("shop", before)
    return before


def migration(*operations, name="0002_change", **attributes):
    made = migrations.Migration(name, "shop")
    made.operations = list(operations)
    for key, value in attributes.items():
        setattr(made, key, value)
    return made


def verdict(*operations, **attributes):
    return classify(migration(*operations, **attributes), state())


INDEX = models.Index(fields=["title"], name="shop_item_title")
NEW_TABLE = migrations.CreateModel("Tag", fields=[("id", models.BigAutoField(primary_key=True))])

EXPAND_CASES = [
    (NEW_TABLE, "CreateModel shop.Tag : nouvelle table"),
    (
        migrations.AddField("item", "colour", models.CharField(max_length=9, null=True)),
        "AddField shop.item.colour : colonne NULL",
    ),
    (
        migrations.AddField("item", "colour", models.CharField(max_length=9, db_default="")),
        "db_default",
    ),
    (
        AddIndexConcurrently("item", INDEX),
        "AddIndexConcurrently shop.item : index construit CONCURRENTLY",
    ),
    (
        migrations.RunSQL("UPDATE shop_item SET note = ''", hints={"phase": "expand"}),
        'RunSQL shop : marquée hints={"phase": "expand"}',
    ),
    (
        migrations.RunPython(migrations.RunPython.noop, hints={"phase": "expand"}),
        "RunPython shop : marquée",
    ),
    (
        migrations.AlterField(
            "item", "kind", models.CharField(max_length=12, choices=[("a", "A"), ("b", "B")])
        ),
        "AlterField shop.item.kind : sans effet sur les lignes",
    ),
    (
        migrations.AlterField("item", "count", models.IntegerField(null=True)),
        "NULL permis",
    ),
    (
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel("Item")]),
        "état de Django seulement",
    ),
    (migrations.RemoveIndex("item", "shop_item_old"), "index retiré"),
]

CONTRACT_CASES = [
    (migrations.RemoveField("item", "note"), "RemoveField shop.item.note : supprime une colonne"),
    (migrations.DeleteModel("Item"), "DeleteModel shop.Item : supprime une table"),
    (migrations.RenameField("item", "title", "name"), "RenameField shop.item.title : renomme"),
    (migrations.RenameModel("Item", "Article"), "RenameModel shop.Item : renomme une table"),
    (
        migrations.AlterField("item", "count", models.BigIntegerField()),
        "type de colonne changé (IntegerField → BigIntegerField)",
    ),
    (
        migrations.AlterField("item", "title", models.CharField(max_length=40)),
        "type de colonne changé (max_length)",
    ),
    (
        migrations.AlterField("item", "note", models.TextField()),
        "AlterField shop.item.note : la colonne devient NOT NULL",
    ),
    (
        migrations.AddField("item", "rank", models.IntegerField(default=0)),
        "colonne NOT NULL sans défaut en base",
    ),
    (
        migrations.AddField("item", "rank", models.IntegerField()),
        "colonne NOT NULL sans défaut en base",
    ),
    (
        migrations.AddIndex("item", INDEX),
        "AddIndex shop.item : index ou contrainte construit sans CONCURRENTLY",
    ),
    (
        migrations.AddField("item", "code", models.CharField(max_length=9, null=True, unique=True)),
        "index construit sans CONCURRENTLY",
    ),
    (migrations.RunSQL("ALTER TABLE shop_item DROP COLUMN note"), "RunSQL shop : effet inconnu"),
    (migrations.RunPython(migrations.RunPython.noop), "RunPython shop : effet inconnu"),
    (
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RemoveField("item", "note")]
        ),
        "RemoveField shop.item.note",
    ),
]


@pytest.mark.parametrize(("operation", "why"), EXPAND_CASES)
def test_operations_the_previous_release_survives_are_expand(operation, why):
    result = verdict(operation)
    assert result.phase == EXPAND
    assert why in result.why


@pytest.mark.parametrize(("operation", "why"), CONTRACT_CASES)
def test_operations_that_break_the_previous_release_or_block_writes_are_contract(operation, why):
    result = verdict(operation)
    assert result.phase == CONTRACT
    assert why in result.why


def test_one_contract_operation_makes_the_migration_contract_and_is_named():
    result = verdict(
        migrations.AddField("item", "colour", models.CharField(max_length=9, null=True)),
        migrations.RemoveField("item", "note"),
    )
    assert result.phase == CONTRACT
    assert "RemoveField shop.item.note" in result.why and "colour" not in result.why


def test_the_migration_class_overrides_with_its_reason_shown():
    forced = verdict(migrations.RunSQL("SELECT 1"), phase="expand")
    assert forced.phase == EXPAND
    assert forced.why.startswith('déclarée par la migration (phase = "expand")')
    assert "RunSQL shop : effet inconnu" in forced.why  # what the operations alone say
    marked = verdict(NEW_TABLE, contract=True)
    assert marked.phase == CONTRACT
    assert "contract = True" in marked.why and "nouvelle table" in marked.why


def test_changes_to_a_table_created_by_the_same_release_are_expand():
    seen = Seen()
    first = classify(migration(NEW_TABLE, name="0002_tag"), state(), seen)
    later = classify(
        migration(
            migrations.AddField("tag", "label", models.CharField(max_length=9, default="x")),
            migrations.AddIndex("tag", models.Index(fields=["label"], name="shop_tag_label")),
            migrations.AlterField("tag", "label", models.CharField(max_length=4)),
            name="0003_tag_label",
        ),
        state(),
        seen,
    )
    assert (first.phase, later.phase) == (EXPAND, EXPAND)
    assert "table créée par cette même version" in later.why


def test_an_alter_field_whose_old_definition_is_unknown_is_contract():
    result = classify(migration(migrations.AlterField("item", "kind", models.TextField())), None)
    assert result.phase == CONTRACT and "ancienne définition du champ inconnue" in result.why


def test_the_plan_is_cut_at_the_first_contract_migration_and_nothing_is_contract_on_an_empty_base():
    plan = [
        (
            migration(migrations.AddField("item", "c", models.TextField(null=True)), name="0002_c"),
            False,
        ),
        (migration(migrations.RemoveField("item", "note"), name="0003_drop_note"), False),
        (migration(NEW_TABLE, name="0004_tag"), False),
    ]
    expand, contract = migration_phases.split(plan, state())
    assert migration_phases.labels(expand) == ["shop.0002_c"]
    assert migration_phases.labels(contract) == ["shop.0003_drop_note", "shop.0004_tag"]
    verdicts = migration_phases.classify_plan(plan, state())
    assert [d["phase"] for d in migration_phases.details(plan, verdicts)] == [
        EXPAND,
        CONTRACT,
        EXPAND,
    ]
    assert migration_phases.split(plan, state(), fresh=True) == (plan, [])
    assert "base vide" in migration_phases.classify_plan(plan, state(), fresh=True)[1].why


def test_labels_of_a_target_release_are_read_from_known_showmigrations_or_a_list():
    assert migration_phases.parse_known('{"ok": true, "known": ["core.0001_initial"]}') == {
        "core.0001_initial"
    }
    assert migration_phases.parse_known('["a.0001_x", "b.0002_y"]') == {"a.0001_x", "b.0002_y"}
    showmigrations = "[X]  core.0001_initial\n[ ]  ent.0003_notification_topic\n"
    assert migration_phases.parse_known(showmigrations) == {
        "core.0001_initial",
        "ent.0003_notification_topic",
    }
    assert migration_phases.parse_known("core.0001_initial, ent.0002_x") == {
        "core.0001_initial",
        "ent.0002_x",
    }


def test_each_migration_is_judged_on_the_state_the_earlier_ones_leave():
    plan = [
        (
            migration(
                migrations.AlterField("item", "count", models.IntegerField(null=True)),
                name="0002_a",
            ),
            False,
        ),
        (
            migration(migrations.AlterField("item", "count", models.IntegerField()), name="0003_b"),
            False,
        ),
    ]
    verdicts = migration_phases.classify_plan(plan, state())
    assert [v.phase for v in verdicts] == [EXPAND, CONTRACT]
    assert "devient NOT NULL" in verdicts[1].why


def queue_migration(sql_name: str):
    from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL

    made = migrations.Migration("00xx", "procrastinate")
    made.operations = [RunProcrastinateSQL(name=sql_name)]
    return made


def test_the_job_queues_pre_migrations_are_expand_its_post_ones_contract():
    """procrastinate ships each schema change as a `pre` SQL migration the code before it works
    with and a `post` one for after every worker runs the new code."""
    pre = classify(queue_migration("03.04.00_01_pre_add_retry_failed_job_procedure.sql"))
    post = classify(queue_migration("03.04.00_50_post_add_retry_failed_job_procedure.sql"))
    assert (pre.phase, post.phase) == (EXPAND, CONTRACT)
    assert "file de tâches" in pre.why and "file de tâches" in post.why


def test_the_job_queues_schema_created_by_the_same_release_is_expand_throughout():
    seen = Seen()
    first = classify(queue_migration("00.00.00_01_initial.sql"), seen=seen)
    post = classify(
        queue_migration("03.04.00_50_post_add_retry_failed_job_procedure.sql"), seen=seen
    )
    assert (first.phase, post.phase) == (EXPAND, EXPAND)
