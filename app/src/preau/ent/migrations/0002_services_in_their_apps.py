"""The services' models leave preau.ent for one app per service (app README, "One app per
service"). Nothing changes in the database but the content types: the tables keep their
`ent_*` names (each model's Meta.db_table), each new app's 0001 takes its models into its state,
this migration drops them from ent's state, then moves their rows of django_content_type to
their new app, so that permissions and any reference to a content type follow (same ids).

Expand-safe (no `contract`): the old code reads the same tables; it does not use these content
types. When a release applies the migrations app by app (migrate_phase expand), Django's
post_migrate may already have created the new app's content types (and their permissions) after
that app's 0001: those fresh rows give way to the old ones, which keep their ids."""

from django.db import migrations

# model name -> its app since this migration
MOVED = {
    "timetableslot": "timetable",
    "absence": "attendance",
    "assessment": "grades",
    "grade": "grades",
    "logbookentry": "logbook",
    "homework": "logbook",
    "submission": "logbook",
    "document": "documents",
    "conversation": "messaging",
    "participant": "messaging",
    "message": "messaging",
    "newsitem": "news",
    "resourcelink": "news",
    "spacepost": "spaces",
}


def _move(apps, source_of, target_of):
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    for model, app in MOVED.items():
        old = content_type.objects.filter(app_label=source_of(app), model=model).first()
        if old is None:  # a new database: post_migrate creates the content types later
            continue
        fresh = content_type.objects.filter(app_label=target_of(app), model=model)
        permission.objects.filter(content_type__in=fresh).delete()
        fresh.delete()
        old.app_label = target_of(app)
        old.save(update_fields=["app_label"])


def forwards(apps, schema_editor):
    _move(apps, lambda app: "ent", lambda app: app)


def backwards(apps, schema_editor):
    _move(apps, lambda app: app, lambda app: "ent")


class Migration(migrations.Migration):
    dependencies = [
        ("ent", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("timetable", "0001_initial"),
        ("attendance", "0001_initial"),
        ("grades", "0001_initial"),
        ("logbook", "0001_initial"),
        ("documents", "0001_initial"),
        ("messaging", "0001_initial"),
        ("news", "0001_initial"),
        ("spaces", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Children before their parents (the state checks nothing, but stays coherent).
                migrations.DeleteModel(name="Grade"),
                migrations.DeleteModel(name="Assessment"),
                migrations.DeleteModel(name="Submission"),
                migrations.DeleteModel(name="Homework"),
                migrations.DeleteModel(name="LogbookEntry"),
                migrations.DeleteModel(name="Participant"),
                migrations.DeleteModel(name="Message"),
                migrations.DeleteModel(name="Conversation"),
                migrations.DeleteModel(name="TimetableSlot"),
                migrations.DeleteModel(name="Absence"),
                migrations.DeleteModel(name="Document"),
                migrations.DeleteModel(name="NewsItem"),
                migrations.DeleteModel(name="ResourceLink"),
                migrations.DeleteModel(name="SpacePost"),
            ]
        ),
        # Rows of django_content_type only, which the old code does not use (core.migration_classify).
        migrations.RunPython(forwards, backwards, hints={"phase": "expand"}),
    ]
